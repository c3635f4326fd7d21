"""Where a lab-engine training step spends its time: torch's profiler over a few epochs of a task, the operators
grouped into matrix products, attention, the optimizer, the loss and the rest, as shares of the profiled time.

    .venv/bin/python benchmarks/train_profile.py [--model smollm2-135m-instruct] [--task reading] [--epochs 2]

The lab engine runs as `python -m lab train` would (RunConfig defaults, seed 000's classic rendering and
special-mask labels, bf16 autocast where the probe says it pays); the first epoch is profiled too (memory
faults included), as a run pays for it.
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
warnings.filterwarnings("ignore")

# Operator name fragments -> group; the first group whose fragment is in the name wins.
GROUPS = (
    ("attention", ("scaled_dot_product", "_flash_attention", "attention")),
    ("matrix products", ("aten::mm", "aten::addmm", "aten::bmm", "aten::matmul", "aten::linear")),
    ("optimizer", ("adamw", "_foreach", "optimizer")),
    ("loss and softmax", ("cross_entropy", "log_softmax", "nll_loss", "_softmax")),
    ("embedding", ("embedding",)),
    ("casts and copies", ("aten::to", "aten::_to_copy", "aten::copy_", "aten::clone")),
    ("elementwise", ("aten::mul", "aten::add", "aten::silu", "aten::pow", "aten::rsqrt", "aten::mean", "aten::neg")),
)


def group_of(name: str) -> str:
    low = name.lower()
    for group, fragments in GROUPS:
        if any(f.lower() in low for f in fragments):
            return group
    return "other"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2-135m-instruct")
    parser.add_argument("--task", default="reading")
    parser.add_argument("--epochs", type=int, default=2)
    args = parser.parse_args()

    from torch.profiler import ProfilerActivity, profile

    from lab.data.sources import load_sample
    from lab.models import load_tokenizer
    from lab.train.batches import training_items
    from lab.train.config import RunConfig
    from lab.train.engine import train_lab
    from lab.train.hardware import keep_freed_memory
    from lab.train.weights import model_for_training

    keep_freed_memory()
    tokenizer = load_tokenizer(args.model)
    config = RunConfig(model=args.model, format="classic", strategy="special-mask", epochs=args.epochs)
    items = training_items(load_sample(args.task), tokenizer, config).items
    model = model_for_training(config, "cpu")
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        train_lab(model, items, config, "cpu", lambda report: True, tokenizer.pad_token_id)
    # Self time per operator: a parent's time is not counted again in its children.
    totals: dict[str, float] = defaultdict(float)
    top = []
    for event in prof.key_averages():
        if event.key.startswith("ProfilerStep"):
            continue
        self_us = event.self_cpu_time_total
        totals[group_of(event.key)] += self_us
        top.append((self_us, event.key, event.count))
    whole = sum(totals.values())
    print(f"{args.model}, task {args.task}, {args.epochs} epochs: {whole / 1e6:.1f} s of operator self time")
    for group, us in sorted(totals.items(), key=lambda kv: -kv[1]):
        print(f"  {group:<18} {us / 1e6:7.1f} s  {us / whole:6.1%}")
    print("top operators by self time:")
    for us, name, count in sorted(top, reverse=True)[:12]:
        print(f"  {name:<45} {us / 1e6:7.2f} s  {us / whole:6.1%}  x{count}")


if __name__ == "__main__":
    main()
