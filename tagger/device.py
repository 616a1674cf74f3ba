"""Choosing the torch device from the --device option."""

from __future__ import annotations

import torch

from tagger.errors import TaggerError


def resolve_device(name: str) -> torch.device:
    """`auto` is CUDA when there is a GPU, else the CPU."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise TaggerError(f"--device {name}: no CUDA GPU is available here; use --device cpu")
    try:
        return torch.device(name)
    except RuntimeError:
        raise TaggerError(f"--device {name}: not a device; use auto, cpu or cuda") from None
