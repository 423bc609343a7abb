"""Run-time device choice: the same code path on CPU and CUDA."""

from __future__ import annotations

import torch


def device_resolve(name: str = "auto") -> torch.device:
    """Return ``cuda`` when asked for ``auto`` and a GPU is present, else the named device.

    Raises ``ValueError`` for a device torch does not know, so a bad config fails at start-up.
    """
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError as exc:
        raise ValueError(f"unknown device {name!r}: use 'auto', 'cpu', 'cuda' or 'cuda:N'") from exc
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {name!r} requested but CUDA is not available on this host")
    return device
