"""The planner's estimate against the peak memory a real training step takes on this machine.

    .venv/bin/python benchmarks/plan_vs_peak.py [--model smollm2-135m-instruct] [--batch-size 2] [--seq-len 512]
                                                [--methods full lora qlora4 qlora8] [--checkpointing]

Each method trains in a fresh process of its own: the model is built as a lab run builds it
(`weights.model_for_training`, fp32), and three steps of transformers' plain training step run on random tokens
(forward with labels: the full logits, as the plan counts them; backward; AdamW; gradients set to None).

On CUDA the peak is `torch.cuda.max_memory_allocated`. A CPU has no such counter; two are printed:
  in use     what the program holds: glibc's bytes in use (mallinfo2, every arena, sampled every half
             millisecond by a thread) less the same before the model loads, plus the model's tensors that still
             live in their safetensors file's mapping (a frozen base is read from there, not copied)
  resident   the process's resident high-water mark (VmHWM, reset once the model is loaded) less its resident
             memory before the model loads: what `top` shows, allocator overhead included (glibc's per-thread
             arenas, and the freed memory a lab run keeps for speed: `hardware.keep_freed_memory`)
"""

from __future__ import annotations

import argparse
import ctypes
import os
import platform
import subprocess
import sys
import threading
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
warnings.filterwarnings("ignore")


def _status(field: str) -> int:
    """A VmRSS/VmHWM line of /proc/self/status, in bytes."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no {field} in /proc/self/status")


class _MallInfo2(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_size_t)
        for name in "arena ordblks smblks hblks hblkhd usmblks fsmblks uordblks fordblks keepcost".split()
    ]


_mallinfo2 = ctypes.CDLL("libc.so.6").mallinfo2  # sampled every half millisecond: looked up once
_mallinfo2.restype = _MallInfo2


def _in_use() -> int:
    """glibc's bytes in use: heap and mmapped chunks, every arena."""
    info = _mallinfo2()
    return info.uordblks + info.hblkhd


def _mapped_tensor_bytes(model) -> int:
    """Bytes of the model's tensors whose storage lies in a mapping of a .safetensors file."""
    ranges = []
    for line in Path("/proc/self/maps").read_text().splitlines():
        fields = line.split()
        if len(fields) >= 6 and fields[5].endswith(".safetensors"):
            start, end = (int(x, 16) for x in fields[0].split("-"))
            ranges.append((start, end))
    storages = {}
    for t in list(model.parameters()) + list(model.buffers()):
        storage = t.untyped_storage()
        storages[storage.data_ptr()] = storage.nbytes()
    return sum(n for ptr, n in storages.items() if any(a <= ptr < b for a, b in ranges))


def measure(
    model_ref: str, method: str, batch_size: int, seq_len: int, checkpointing: bool, device: str
) -> tuple[int, int]:
    """Peak bytes (in use, resident; on CUDA both allocated) of three training steps in this process."""
    import torch

    from lab.train.config import RunConfig
    from lab.train.hardware import keep_freed_memory
    from lab.train.weights import model_for_training

    keep_freed_memory()  # as a lab run does
    quantization = {"qlora4": "4bit", "qlora8": "8bit"}.get(method, "none")
    config = RunConfig(
        model=model_ref, method="full" if method == "full" else "lora", quantization=quantization, dtype="fp32"
    )
    ids = torch.randint(0, 1000, (batch_size, seq_len), device=device)
    if device == "cpu":
        before, before_in_use = _status("VmRSS"), _in_use()
    model = model_for_training(config, device)
    if checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    model.train()
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-5)
    if device != "cpu":
        torch.cuda.reset_peak_memory_stats()
    Path("/proc/self/clear_refs").write_text("5")  # the high-water mark starts again from here
    peak, done = [0], threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], _in_use())
            time.sleep(0.0005)

    sampler = threading.Thread(target=sample)
    sampler.start()
    for _ in range(3):
        model(input_ids=ids, labels=ids).loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    done.set()
    sampler.join()
    if device == "cpu":
        return peak[0] - before_in_use + _mapped_tensor_bytes(model), _status("VmHWM") - before
    return torch.cuda.max_memory_allocated(), torch.cuda.max_memory_allocated()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2-135m-instruct")
    parser.add_argument("--batch-size", type=int, default=2)
    parser.add_argument("--seq-len", type=int, default=512)
    parser.add_argument("--methods", nargs="+", default=["full", "lora", "qlora4", "qlora8"])
    parser.add_argument("--checkpointing", action="store_true")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--child", help=argparse.SUPPRESS)  # a child process's own method
    args = parser.parse_args()
    if args.child:
        in_use, resident = measure(
            args.model, args.child, args.batch_size, args.seq_len, args.checkpointing, args.device
        )
        print(in_use, resident)
        return

    import torch

    from lab.models.plan import plan
    from lab.models.references import model_config

    print(
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}; "
        f"{args.model}, fp32, batch {args.batch_size} x {args.seq_len} tokens"
        + (", gradient checkpointing" if args.checkpointing else "")
        + f", on {args.device}"
    )
    print(
        f"{'method':<8} {'planned':>10} {'in use':>10} {'planned/in use':>15} {'resident':>10} {'planned/resident':>17}"
    )
    for method in args.methods:
        estimate = plan(
            model_config(args.model), method, "fp32", args.batch_size, args.seq_len, args.checkpointing
        ).bytes["total"]
        child = [sys.executable, __file__, "--child", method, "--model", args.model, "--device", args.device]
        child += ["--batch-size", str(args.batch_size), "--seq-len", str(args.seq_len)]
        child += ["--checkpointing"] if args.checkpointing else []
        out = subprocess.run(child, capture_output=True, text=True, check=True)
        in_use, resident = map(int, out.stdout.strip().splitlines()[-1].split())
        print(
            f"{method:<8} {estimate / 2**20:6.0f} MiB {in_use / 2**20:6.0f} MiB {estimate / in_use:14.2f}x "
            f"{resident / 2**20:6.0f} MiB {estimate / resident:16.2f}x"
        )


if __name__ == "__main__":
    main()
