"""What makes training fast on the machine at hand: bf16 autocast only where it pays, and memory the
process owns and keeps, so that a step does not wait on fresh pages (slow to fault in on a VM)."""

from __future__ import annotations

import functools
import time

import torch

BF16_WORTH_IT = 1.3  # autocast only pays for its casts where bf16 products are clearly faster than fp32


def autocast_dtype(setting: str, device: str) -> torch.dtype | None:
    """The autocast dtype for a run's `dtype` setting: bf16 when asked for; with `auto`, on a GPU with bf16,
    and on a CPU only where a bf16 matrix product measures faster than fp32 (a CPU flag is not enough: on this
    project's 2-core test machine, avx512_bf16 without AMX, bf16 products measured ~0.5x of fp32)."""
    if setting == "fp32":
        return None
    if setting == "bf16":
        return torch.bfloat16
    if device.startswith("cuda"):
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else None
    return torch.bfloat16 if cpu_bf16_speedup() >= BF16_WORTH_IT else None


@functools.lru_cache(maxsize=1)
def cpu_bf16_speedup() -> float:
    """fp32 time / bf16 time of a 768x768 matrix product on this CPU (measured once per process, ~50 ms)."""
    a, b = torch.randn(768, 768), torch.randn(768, 768)
    timings = []
    for x, y in ((a, b), (a.bfloat16(), b.bfloat16())):
        x @ y
        start = time.perf_counter()
        for _ in range(5):
            x @ y
        timings.append(time.perf_counter() - start)
    return timings[0] / timings[1]


@functools.lru_cache(maxsize=1)
def keep_freed_memory() -> bool:
    """Ask glibc to keep freed memory for reuse instead of returning it to the OS at once.

    Each step frees and re-allocates the same large buffers (gradients, the lm_head gradient); returned to the
    OS, they come back as fresh pages whose first touch is slow in a VM: steps on this machine took 0.8-1.5 s
    that way and a steady 0.68 s with it (SmolLM2-135M, batch 5). The cost: the process keeps its peak memory.
    """
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6")
        m_trim_threshold, m_mmap_threshold = -1, -3
        return bool(libc.mallopt(m_mmap_threshold, 1 << 30) and libc.mallopt(m_trim_threshold, (1 << 31) - 1))
    except (OSError, AttributeError):  # not glibc (macOS, Windows, musl): nothing to tune
        return False


def own_memory(model) -> None:
    """Copy the CPU weights that will be trained out of the safetensors file they are memory-mapped from.

    A loaded model's weights can still be pages of the file; the first optimizer step then writes to every one
    of them, one copy-on-write fault per 4 KiB page: 2.5 s for SmolLM2-135M on this VM, where copying them
    up front takes 0.2-1.5 s. Tied weights stay tied (each parameter is copied once, in place)."""
    with torch.no_grad():
        for p in model.parameters():
            if p.requires_grad and p.device.type == "cpu":
                p.data = p.data.clone()
