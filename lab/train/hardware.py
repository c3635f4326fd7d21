"""What makes training fast on the machine at hand: bf16 autocast only where it pays, and memory the
process owns and keeps, so that a step does not wait on fresh pages (slow to fault in on a VM).

Each lever is measured in benchmarks/train_levers.py; the README carries the figures."""

from __future__ import annotations

import ctypes
import functools
import time

import torch

BF16_WORTH_IT = 1.3  # autocast only pays for its casts where bf16 products are clearly faster than fp32
PROBE_SIZE = 768  # the probe's matrices: the hidden size of a small model


def autocast_dtype(setting: str, device: str) -> torch.dtype | None:
    """The autocast dtype for a run's `dtype` setting: bf16 when asked for; with `auto`, on a GPU with bf16,
    and on a CPU only where a bf16 matrix product measures faster than fp32. A CPU flag is not enough: some
    CPUs that advertise avx512_bf16 but have no AMX run bf16 products at half the fp32 speed."""
    if setting == "fp32":
        return None
    if setting == "bf16":
        return torch.bfloat16
    if device.startswith("cuda"):
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else None
    return torch.bfloat16 if cpu_bf16_speedup() >= BF16_WORTH_IT else None


def time_matmul(dtype: torch.dtype, repeats: int = 5) -> float:
    """Seconds for `repeats` products of two PROBE_SIZE x PROBE_SIZE matrices in `dtype`, after one warm-up."""
    a, b = torch.randn(PROBE_SIZE, PROBE_SIZE, dtype=dtype), torch.randn(PROBE_SIZE, PROBE_SIZE, dtype=dtype)
    a @ b
    start = time.perf_counter()
    for _ in range(repeats):
        a @ b
    return time.perf_counter() - start


@functools.lru_cache(maxsize=1)
def cpu_bf16_speedup() -> float:
    """fp32 time / bf16 time of the same matrix products on this CPU (measured once per process)."""
    return time_matmul(torch.float32) / time_matmul(torch.bfloat16)


@functools.lru_cache(maxsize=1)
def keep_freed_memory() -> bool:
    """Ask glibc to keep freed memory for reuse instead of returning it to the OS at once.

    Each step frees and re-allocates the same large buffers (gradients, the lm_head gradient); returned to the
    OS, they come back as fresh pages whose first touch is slow in a VM. The cost: the process keeps its peak
    memory."""
    try:
        libc = ctypes.CDLL("libc.so.6")
        m_trim_threshold, m_mmap_threshold = -1, -3
        return bool(libc.mallopt(m_mmap_threshold, 1 << 30) and libc.mallopt(m_trim_threshold, (1 << 31) - 1))
    except (OSError, AttributeError):  # not glibc (macOS, Windows, musl): nothing to tune
        return False


def own_memory(model) -> None:
    """Copy the CPU weights that will be trained out of the safetensors file they are memory-mapped from.

    A loaded model's weights can still be pages of the file; the first optimizer step would then write to every
    one of them, one copy-on-write fault per 4 KiB page, which costs more than one copy up front. Tied weights
    stay tied (each parameter is copied once, in place)."""
    with torch.no_grad():
        for p in model.parameters():
            if p.requires_grad and p.device.type == "cpu":
                p.data = p.data.clone()
