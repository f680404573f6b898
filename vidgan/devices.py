"""Choosing the compute device: --device auto|cpu|cuda[:N]."""

from __future__ import annotations

import torch

from vidgan.errors import UsageError


def resolve_device(name: str = "auto") -> torch.device:
    """auto = the first CUDA GPU when there is one, else the CPU."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cpu":
        return torch.device("cpu")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise UsageError("--device cuda was asked for, but no CUDA GPU is available (use --device cpu or auto)")
        return torch.device(name)
    raise UsageError(f"--device must be auto, cpu or cuda, got {name!r}")
