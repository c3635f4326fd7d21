"""What makes training fast on the machine at hand: bf16 autocast only where it pays, and memory the
process owns and keeps, so that a step does not wait on fresh pages (slow to fault in on a VM).

Each lever is measured in benchmarks/train_levers.py; the README carries the figures."""

from __future__ import annotations

import contextlib
import ctypes
import functools
import json
import platform
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from lab.common import atomic_write_text, lab_home

BF16_WORTH_IT = 1.3  # autocast only pays for its casts where bf16 products are clearly faster than fp32
PROBE_SHAPE = (512, 768, 768)  # (tokens, in, out) of the probe's products when no model is named
PROBE_ROUNDS = 7  # rounds of fp32 and bf16 timings, interleaved; the verdict is their median ratio


@dataclass(frozen=True)
class Bf16Probe:
    """bf16 against fp32 matrix products on this CPU, at one shape: the median ratio of interleaved rounds."""

    speedup: float  # fp32 time / bf16 time
    fp32_ms: float  # median time of one round of products
    bf16_ms: float
    shape: tuple[int, int, int]
    machine: str

    @property
    def worth_it(self) -> bool:
        return self.speedup >= BF16_WORTH_IT

    def sentence(self) -> str:
        """In words, for the Train page and `runs show`."""
        m, k, n = self.shape
        pace = f"{self.speedup:.1f}x faster than" if self.speedup >= 1 else f"at {self.speedup:.2f}x the speed of"
        verdict = "bf16 autocast" if self.worth_it else f"fp32 (bf16 pays from {BF16_WORTH_IT}x)"
        return (
            f"bf16 matrix products run {pace} fp32 on this CPU ({m}x{k} by {k}x{n}, median of {PROBE_ROUNDS} "
            f"rounds): dtype auto trains in {verdict}"
        )


def autocast_dtype(setting: str, device: str, shape: tuple[int, int, int] | None = None) -> torch.dtype | None:
    """The autocast dtype for a run's `dtype` setting: bf16 when asked for; with `auto`, on a GPU with bf16,
    and on a CPU only where a bf16 matrix product measures faster than fp32 (at `shape`, the model's own). A
    CPU flag is not enough: some CPUs that advertise avx512_bf16 but have no AMX run bf16 products at half the
    fp32 speed."""
    if setting == "fp32":
        return None
    if setting == "bf16":
        return torch.bfloat16
    if device.startswith("cuda"):
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else None
    return torch.bfloat16 if bf16_probe(shape).worth_it else None


def precision_sentence(setting: str, device: str, shape: tuple[int, int, int] | None = None) -> str:
    """What precision a lab-engine run with this `dtype` setting trains in here, and why, in words."""
    if setting == "fp32":
        return "fp32, as asked (dtype fp32)"
    if setting == "bf16":
        return "bf16 autocast, as asked (dtype bf16)"
    if device.startswith("cuda"):
        has = torch.cuda.is_bf16_supported()
        return f"{'bf16 autocast' if has else 'fp32'}: this GPU {'supports' if has else 'lacks'} bf16 (dtype auto)"
    return bf16_probe(shape).sentence()


def model_shape(config) -> tuple[int, int, int]:
    """The shape of a decoder's largest products (its MLP), from its transformers config: (tokens, hidden,
    intermediate)."""
    config = config.get_text_config() if hasattr(config, "get_text_config") else config
    hidden = getattr(config, "hidden_size", None)
    inner = getattr(config, "intermediate_size", None) or (4 * hidden if hidden else None)
    return (PROBE_SHAPE[0], int(hidden), int(inner)) if hidden else PROBE_SHAPE


def time_matmul(dtype: torch.dtype, repeats: int = 5, shape: tuple[int, int, int] = PROBE_SHAPE) -> float:
    """Seconds for `repeats` products of an m x k by a k x n matrix in `dtype`, after one warm-up."""
    m, k, n = shape
    a, b = torch.randn(m, k, dtype=dtype), torch.randn(k, n, dtype=dtype)
    a @ b
    start = time.perf_counter()
    for _ in range(repeats):
        a @ b
    return time.perf_counter() - start


def measure_bf16(shape: tuple[int, int, int] = PROBE_SHAPE, rounds: int = PROBE_ROUNDS) -> Bf16Probe:
    """Time fp32 and bf16 products in interleaved rounds (a busy moment hits both dtypes alike) and keep the
    median of the rounds' ratios: one slow round does not flip the verdict."""
    fp32, bf16 = [], []
    for _ in range(rounds):
        fp32.append(time_matmul(torch.float32, shape=shape))
        bf16.append(time_matmul(torch.bfloat16, shape=shape))
    ratio = statistics.median(f / b for f, b in zip(fp32, bf16))
    ms = 1000 / 5  # one round is 5 products
    return Bf16Probe(ratio, statistics.median(fp32) * ms, statistics.median(bf16) * ms, tuple(shape), machine_key())


def machine_key() -> str:
    """What the verdict depends on: the CPU model, the threads torch uses, torch's version."""
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return f"{cpu} | {torch.get_num_threads()} threads | torch {torch.__version__}"


@functools.lru_cache(maxsize=8)
def bf16_probe(shape: tuple[int, int, int] | None = None) -> Bf16Probe:
    """The bf16 verdict for this machine at `shape`: measured once, then kept in `$SFT_LAB_HOME/hardware.json`
    (per machine and shape), so every later run decides the same way; delete the file to measure again."""
    shape = tuple(shape or PROBE_SHAPE)
    path = lab_home() / "hardware.json"
    key = f"{machine_key()} | bf16 {shape[0]}x{shape[1]}x{shape[2]}"
    with contextlib.suppress(OSError, ValueError, KeyError, TypeError, AttributeError):  # none yet, or unreadable
        cached = json.loads(path.read_text()).get(key)
        if cached:
            return Bf16Probe(cached["speedup"], cached["fp32_ms"], cached["bf16_ms"], shape, machine_key())
    probe = measure_bf16(shape)
    with contextlib.suppress(OSError, ValueError, AttributeError):  # a read-only home: the verdict stays in memory
        known = json.loads(path.read_text()) if path.is_file() else {}
        known[key] = {"speedup": probe.speedup, "fp32_ms": probe.fp32_ms, "bf16_ms": probe.bf16_ms}
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(path, json.dumps(known, indent=1))
    return probe


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
