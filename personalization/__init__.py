"""Tailor's ML library: base rewards, user reward models, prototypes, summaries and generation.

Pure Python + torch. Nothing here imports Django, Celery or Channels (an import-linter contract in CI);
``device`` is always passed in, so CPU and CUDA run the same code path.
"""

from __future__ import annotations

__all__ = ["__version__"]
__version__ = "0.1.0"
