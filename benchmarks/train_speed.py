"""Training speed: the seed-style HF `Trainer` against the lab engine, same model, data and epochs, one process.

    .venv/bin/python benchmarks/train_speed.py [--tasks spanish reading] [--epochs 15] [--rounds 2]

Baseline (seed 000's way): `transformers.Trainer`, batch 1, fp32, lr 5e-5, labels from the strategy (-100 on
the masked tokens), logits and cross-entropy at every position. Lab engine: RunConfig defaults (batch 5 of at
most 512 tokens, lr 2e-4, length buckets, lm_head only where the weight is > 0, fused AdamW, bf16 autocast
only where it measures faster). Both run with glibc keeping freed memory (hardware.keep_freed_memory). Both
train the shipped SmolLM2-135M on the same labels; "final loss" is the weighted loss of the trained model over the
whole training set, computed the same way for both. tokens/s counts the tokens of every example in every
epoch. Each task runs `--rounds` times with the engines' order swapped each round, and the mean is shown:
whichever engine runs first in the process pays for faulting in fresh memory pages. Goal (issue 6): >= 3x on
each task, at a loss at least as low.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
warnings.filterwarnings("ignore")


def final_loss(model, items, pad_id) -> float:
    """Weighted loss over the whole set with the trained model (eval mode, no gradient)."""
    import torch

    from lab.train.loss import collate, weighted_loss

    model.eval()
    with torch.no_grad():
        total = weight = 0.0
        for item in items:
            batch = collate([item], pad_id)
            total += float(weighted_loss(model, batch, measure=False).weighted_sum)
            weight += batch.total_weight
    return total / weight


def seed_trainer(model, items, epochs: int) -> float:
    """Seed 000's loop: HF Trainer, batch 1, fp32; returns seconds spent in train()."""
    from datasets import Dataset
    from transformers import Trainer, TrainingArguments

    rows = [
        {
            "input_ids": list(i.ids),
            "attention_mask": [1] * len(i),
            "labels": [lab if w > 0 else -100 for lab, w in zip(i.labels, i.weights)],
        }
        for i in items
    ]
    with tempfile.TemporaryDirectory() as out:
        args = TrainingArguments(
            output_dir=out,
            num_train_epochs=epochs,
            per_device_train_batch_size=1,
            seed=1,
            report_to=[],
            save_strategy="no",
            disable_tqdm=True,
            use_cpu=True,
        )
        trainer = Trainer(model=model, args=args, train_dataset=Dataset.from_list(rows))
        start = time.perf_counter()
        trainer.train()
        return time.perf_counter() - start


def lab_engine(model, items, config, pad_id) -> float:
    from lab.train.engine import train_lab

    start = time.perf_counter()
    train_lab(model, items, config, "cpu", lambda report: True, pad_id)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", nargs="+", default=["spanish", "reading"])
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--strategy", default="special-mask")
    parser.add_argument(
        "--rounds",
        type=int,
        default=2,
        help="rounds per task, the engines' order swapped each "
        "round (the first run in a process pays for fresh memory pages); seconds are the mean",
    )
    args = parser.parse_args()

    import torch

    from lab.data.sources import load_sample
    from lab.models import load_tokenizer
    from lab.train.batches import training_items
    from lab.train.config import RunConfig
    from lab.train.hardware import autocast_dtype, keep_freed_memory
    from lab.train.weights import model_for_training

    keep_freed_memory()  # the allocator setting the lab engine uses helps the Trainer too: both get it
    tokenizer = load_tokenizer()
    pad_id = tokenizer.pad_token_id
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads; lab engine autocast: "
        f"{autocast_dtype(RunConfig().dtype, 'cpu') or 'none (fp32)'}"
    )
    print(f"{'task':<9} {'engine':<14} {'tokens':>7} {'seconds':>8} {'tokens/s':>9} {'final loss':>11} {'speed-up':>9}")
    for task in args.tasks:
        config = RunConfig(format="classic", strategy=args.strategy, epochs=args.epochs)  # seed 000's rendering
        items = training_items(load_sample(task), tokenizer, config).items
        tokens = sum(len(i) for i in items) * args.epochs
        seconds: dict[str, list[float]] = {"seed Trainer": [], "lab engine": []}
        losses = {}
        for round_ in range(args.rounds):
            for engine in list(seconds) if round_ % 2 == 0 else list(seconds)[::-1]:
                torch.manual_seed(0)
                model = model_for_training(config, "cpu")
                seconds[engine].append(
                    seed_trainer(model, items, args.epochs)
                    if engine == "seed Trainer"
                    else lab_engine(model, items, config, pad_id)
                )
                losses[engine] = final_loss(model, items, pad_id)
                del model
        mean = {engine: sum(times) / len(times) for engine, times in seconds.items()}
        for engine, took in mean.items():
            each = "/".join(f"{t:.1f}" for t in seconds[engine])
            print(
                f"{task:<9} {engine:<14} {tokens:7d} {took:8.1f} {tokens / took:9.0f} {losses[engine]:11.1e} "
                f"{mean['seed Trainer'] / took:8.1f}x   (each round: {each} s)"
            )


if __name__ == "__main__":
    main()
