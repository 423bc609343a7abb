"""Evaluation harness: ``python -m personalization.bench <hh|simulated|refit> ...`` (see ``__main__``)."""

from __future__ import annotations
