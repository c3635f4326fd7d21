"""Where a model runs: the devices this machine has, the one `auto` picks, and whether two copies fit."""

from __future__ import annotations

import os

import torch

from lab.errors import ModelError


def available_devices() -> list[str]:
    """Devices this machine can run on, `auto` first (it picks cuda when present)."""
    devices = ["auto", "cpu"]
    if torch.cuda.is_available():
        devices += [f"cuda:{i}" if torch.cuda.device_count() > 1 else "cuda" for i in range(torch.cuda.device_count())]
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        devices.append("mps")
    return devices


def pick_device(requested: str | None = None) -> str:
    """`cuda` when available (or asked for), else `cpu`."""
    if requested and requested != "auto":
        if requested.startswith("cuda") and not torch.cuda.is_available():
            raise ModelError("device 'cuda' was asked for but no CUDA GPU is available here")
        return requested
    return "cuda" if torch.cuda.is_available() else "cpu"


def memory_note(model, copies: int = 2) -> str | None:
    """A sentence when `copies` of this model would not fit in the memory still free (Linux), else None."""
    size = sum(p.numel() * p.element_size() for p in model.parameters())
    try:
        free = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None
    if (copies - 1) * size > free:
        return (
            f"{copies} copies of this model need {copies * size / 2**30:.1f} GiB and only {free / 2**30:.1f} GiB "
            "is free: comparing base and fine-tuned may swap or fail; close other runs or use a smaller model"
        )
    return None
