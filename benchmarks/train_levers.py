"""What each speed lever of the lab engine is worth: every lever turned off in turn, on the shipped model.

    .venv/bin/python benchmarks/train_levers.py [--task spanish] [--steps 10] [--rounds 2]

Each variant trains the seed task (special-mask, RunConfig defaults) for `--steps` optimizer steps in a fresh
process of its own, because one lever (glibc keeping freed memory) cannot be undone inside a process; the
variants run in turn, the order reversed each round, and the parent prints each one's first step and median
later step against the variant with every lever on, measured in the same invocation:
  all levers           the engine as it ships
  no kept memory       glibc returns freed memory to the OS (hardware.keep_freed_memory off)
  no owned weights     weights left on the safetensors mmap (hardware.own_memory off)
  dense embedding      the tied embedding's gradient dense, not sparse (engine._tied_and_trained off)
  always clip          torch's clip_grad_norm_, with its multiply pass even when the norm is within bounds
It also prints the bf16 probe: fp32 time / bf16 time of the same matrix products on this CPU.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
warnings.filterwarnings("ignore")

VARIANTS = ("all levers", "no kept memory", "no owned weights", "dense embedding", "always clip")


def run_variant(variant: str, task: str, steps: int) -> list[float]:
    """Train in this process with one lever off; the seconds of each optimizer step."""
    import torch

    from lab.data.sources import load_sample
    from lab.models import load_tokenizer
    from lab.train import engine, weights
    from lab.train.batches import training_items
    from lab.train.config import RunConfig

    if variant == "no kept memory":
        engine.keep_freed_memory = lambda: False
    if variant == "no owned weights":
        weights.own_memory = lambda model: None
    if variant == "dense embedding":
        engine._tied_and_trained = lambda model: False
    if variant == "always clip":
        engine.clip_gradients = lambda params, max_norm, device: torch.nn.utils.clip_grad_norm_(params, max_norm)
    tokenizer = load_tokenizer()
    config = RunConfig(format="classic", strategy="special-mask", epochs=1000, dtype="fp32")
    items = training_items(load_sample(task), tokenizer, config).items
    model = weights.model_for_training(config, "cpu")
    elapsed: list[float] = []

    def report(step) -> bool:
        elapsed.append(step.elapsed)
        return step.step < steps

    engine.train_lab(model, items, config, "cpu", report, tokenizer.pad_token_id)
    return [b - a for a, b in zip([0.0] + elapsed, elapsed)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="spanish")
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--variant", choices=VARIANTS, help=argparse.SUPPRESS)  # a child process's own variant
    args = parser.parse_args()
    if args.variant:
        print(json.dumps(run_variant(args.variant, args.task, args.steps)))
        return

    import torch

    from lab.train.hardware import bf16_probe

    print(
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads; bf16 probe: {bf16_probe().sentence()}"
    )
    steps: dict[str, list[list[float]]] = {v: [] for v in VARIANTS}
    for round_ in range(args.rounds):
        for variant in VARIANTS if round_ % 2 == 0 else VARIANTS[::-1]:
            out = subprocess.run(
                [sys.executable, __file__, "--variant", variant, "--task", args.task, "--steps", str(args.steps)],
                capture_output=True,
                text=True,
                check=True,
            )
            steps[variant].append(json.loads(out.stdout.strip().splitlines()[-1]))
    first = {v: statistics.mean(r[0] for r in runs) for v, runs in steps.items()}
    later = {v: statistics.median(t for r in runs for t in r[2:]) for v, runs in steps.items()}
    base_first, base_later = first["all levers"], later["all levers"]
    print(f"{args.task}, {args.steps} steps, {args.rounds} rounds (first step: mean; later steps: median of 3rd on)")
    print(f"{'variant':<18} {'first step':>11} {'x all':>7} {'later step':>11} {'x all':>7}")
    for v in VARIANTS:
        print(
            f"{v:<18} {first[v]:10.2f}s {first[v] / base_first:6.2f}x {later[v]:10.3f}s {later[v] / base_later:6.2f}x"
        )


if __name__ == "__main__":
    main()
