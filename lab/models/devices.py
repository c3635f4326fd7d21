"""Where a model runs: the devices this machine has, the one `auto` picks, whether two copies fit, and for a
model larger than one device, accelerate's device map over a `max_memory` and where each module landed."""

from __future__ import annotations

import os
import re

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


def parse_max_memory(text: str) -> tuple[dict, bool]:
    """`cuda:0=24GiB,cpu=2GiB,disk` -> accelerate's max_memory ({0: "24GiB", "cpu": "2GiB"}) and whether
    layers that fit nowhere may go to disk."""
    memory: dict = {}
    disk = False
    for part in (p.strip() for p in text.split(",") if p.strip()):
        if part == "disk":
            disk = True
            continue
        name, _, size = part.partition("=")
        if not size or not re.fullmatch(r"\d+(\.\d+)?\s*([KMGT]i?B)", size.strip()):
            raise ModelError(f"max memory '{part}' is not DEVICE=SIZE (e.g. cpu=2GiB, cuda:0=24GiB) or disk")
        name = name.strip()
        if name.startswith("cuda"):
            index = name.partition(":")[2] or "0"
            if not index.isdigit():
                raise ModelError(f"max memory '{part}': a GPU is cuda or cuda:N")
            memory[int(index)] = size.strip()
        elif name in ("cpu", "mps"):
            memory[name] = size.strip()
        else:
            raise ModelError(f"max memory '{part}': the devices are cpu, cuda:N and disk")
    if not memory:
        raise ModelError("max memory names no device: give e.g. cpu=2GiB,disk")
    return memory, disk


def device_name(device) -> str:
    """A device as the lab writes it: accelerate names a GPU by its index (0 -> `cuda:0`)."""
    return f"cuda:{device}" if isinstance(device, int) else str(device)


def input_device(model) -> torch.device:
    """Where a model takes its inputs: for a model placed by a device map, the device accelerate runs its
    input embeddings on (offloaded weights sit on `meta` until their layer runs), else its weights' device."""
    hook = getattr(model.get_input_embeddings(), "_hf_hook", None)
    device = getattr(hook, "execution_device", None)
    if device is not None:
        return torch.device(device_name(device))
    return next(model.parameters()).device


def offloaded(model) -> list[str]:
    """The modules of a device map whose weights accelerate offloaded: kept off the device that runs them (on
    cpu beside a GPU, or on disk), their parameters on `meta` until their layer runs."""
    modules = dict(model.named_modules())
    return [
        name
        for name in getattr(model, "hf_device_map", None) or {}
        if any(p.device.type == "meta" for p in modules.get(name, model).parameters())
    ]


def placement(model) -> list[tuple[str, list[str], int]]:
    """Where a model loaded with a device map sits: for each device, its top modules and their bytes."""
    device_map = getattr(model, "hf_device_map", None) or {"": str(next(model.parameters()).device)}
    by_device: dict[str, tuple[list[str], int]] = {}
    modules = dict(model.named_modules())
    counted: set[int] = set()  # a tied lm_head is the embedding: its bytes count once
    for name, device in device_map.items():
        params = [p for p in modules.get(name, model).parameters() if id(p) not in counted]
        counted.update(id(p) for p in params)
        size = sum(p.numel() * p.element_size() for p in params)
        names, total = by_device.get(device_name(device), ([], 0))
        by_device[device_name(device)] = (names + [name or "(the whole model)"], total + size)
    return [(device, names, total) for device, (names, total) in by_device.items()]


def placement_sentence(model) -> str:
    """`cpu: 16 modules (model.embed_tokens ... model.layers.12), 309 MiB; disk: 19 modules (...), 204 MiB`."""
    parts = []
    for device, names, total in placement(model):
        shown = names[0] if len(names) == 1 else f"{names[0]} ... {names[-1]}"
        count = f"{len(names)} module{'s' if len(names) > 1 else ''}"
        parts.append(f"{device}: {count} ({shown}), {total / 2**20:,.0f} MiB")
    return "; ".join(parts)
