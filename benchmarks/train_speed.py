"""Training speed: the lab engine against TRL's SFTTrainer at its best here and against seed 000's HF `Trainer`,
same model, data, labels and epochs, one process.

    .venv/bin/python benchmarks/train_speed.py [--model smollm2-135m-instruct] [--tasks spanish reading]
                                               [--epochs 15] [--rounds 2] [--device cpu|cuda]
                                               [--method full|lora|qlora4|qlora8]

Baselines: TRL 1.16's `SFTTrainer` with completion-only loss on the same tokens (pre-tokenized rows with their
`completion_mask`; its lm_head runs only at labelled positions), the lab's batch size and learning rate, bf16
autocast where the lab's probe says it pays; and seed 000's way, `transformers.Trainer`, batch 1, fp32, lr 5e-5,
logits and cross-entropy at every position. Lab engine: RunConfig defaults (batch 5 of at most 512 tokens, lr
2e-4, length buckets, lm_head only where the weight is > 0, fused AdamW, bf16 autocast only where it measures
faster). All run with glibc keeping freed memory (hardware.keep_freed_memory), on seed 000's classic rendering
and special-mask labels; "final loss" is the weighted loss of the trained model over the whole training set,
computed the same way for each. tokens/s counts the tokens of every example in every epoch. The engines' order
rotates each round and the mean is shown: whichever runs first in the process pays for fresh memory pages.
"share of ceiling": training FLOP/s (6 x parameters x tokens for the decoder, 6 x lm_head x trained positions,
12 x layers x hidden x length^2 per sequence for attention) over the FLOP/s of a matrix product at the model's
own MLP shape, in the dtype the lab engine trains in, measured in the same process.
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


def final_loss(model, items, pad_id, device: str = "cpu") -> float:
    """Weighted loss over the whole set with the trained model (eval mode, no gradient)."""
    import torch

    from lab.train.loss import collate, weighted_loss

    model.eval()
    with torch.no_grad():
        total = weight = 0.0
        for item in items:
            batch = collate([item], pad_id)
            total += float(weighted_loss(model, batch.to(device), measure=False).weighted_sum)
            weight += batch.total_weight
    return total / weight


def seed_trainer(model, items, epochs: int, device: str) -> float:
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
            use_cpu=device == "cpu",
        )
        trainer = Trainer(model=model, args=args, train_dataset=Dataset.from_list(rows))
        start = time.perf_counter()
        trainer.train()
        return time.perf_counter() - start


def trl_sft(model, items, config, tokenizer, bf16: bool, device: str) -> float:
    """TRL's SFTTrainer at its best here; returns seconds spent in train()."""
    from datasets import Dataset
    from trl import SFTConfig, SFTTrainer

    rows = [{"input_ids": list(i.ids), "completion_mask": [int(w > 0) for w in i.weights]} for i in items]
    with tempfile.TemporaryDirectory() as out:
        args = SFTConfig(
            output_dir=out,
            num_train_epochs=config.epochs,
            per_device_train_batch_size=config.batch_size,
            learning_rate=config.lr,
            completion_only_loss=True,
            bf16=bf16,
            use_cpu=device == "cpu",
            max_length=None,
            seed=1,
            report_to=[],
            save_strategy="no",
            disable_tqdm=True,
            logging_steps=10_000,
            dataset_num_proc=None,
        )
        trainer = SFTTrainer(model=model, args=args, train_dataset=Dataset.from_list(rows), processing_class=tokenizer)
        start = time.perf_counter()
        trainer.train()
        return time.perf_counter() - start


def training_flops(model, items, epochs: int) -> float:
    """FLOPs of training on `items` for `epochs`: decoder 6 x params x tokens, lm_head 6 x its params x trained
    positions (both engines skip the rest), attention 12 x layers x hidden x length^2 per sequence."""
    config = model.config.get_text_config()
    head = model.get_output_embeddings().weight.numel()
    decoder = sum(p.numel() for p in model.parameters()) - head  # a tied embedding counted once, as lm_head
    tokens = sum(len(i) for i in items)
    trained = sum(sum(1 for w in i.weights if w > 0) for i in items)
    attention = sum(12 * config.num_hidden_layers * config.hidden_size * len(i) ** 2 for i in items)
    return epochs * (6 * decoder * tokens + 6 * head * trained + attention)


def ceiling(shape, dtype, device: str) -> float:
    """FLOP/s of the model's MLP-shaped matrix product in `dtype` on this machine (median of 7)."""
    import statistics

    import torch

    from lab.train.hardware import time_matmul

    m, k, n = shape
    if device == "cpu":
        times = [time_matmul(dtype, 5, shape) / 5 for _ in range(7)]
    else:  # a GPU runs products asynchronously: time 50 of them between two synchronizations
        a, b = torch.randn(m, k, dtype=dtype, device=device), torch.randn(k, n, dtype=dtype, device=device)
        times = []
        for _ in range(7):
            torch.cuda.synchronize()
            start = time.perf_counter()
            for _ in range(50):
                a @ b
            torch.cuda.synchronize()
            times.append((time.perf_counter() - start) / 50)
    return 2 * m * k * n / statistics.median(times)


def lab_engine(model, items, config, pad_id, device: str) -> float:
    from lab.train.engine import train_lab

    start = time.perf_counter()
    train_lab(model, items, config, device, lambda report: True, pad_id)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2-135m-instruct")
    parser.add_argument("--tasks", nargs="+", default=["spanish", "reading"])
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--strategy", default="special-mask")
    parser.add_argument("--engines", nargs="+", default=["TRL SFTTrainer", "seed Trainer", "lab engine"])
    parser.add_argument("--device", default="cpu", help="cpu | cuda: where every engine trains")
    parser.add_argument("--logging-steps", type=int, default=1, help="the lab engine's: it measures losses then")
    parser.add_argument("--batch-tokens", type=int, default=512, help="the lab engine's token budget per batch")
    parser.add_argument(
        "--method",
        default="full",
        choices=["full", "lora", "qlora4", "qlora8"],
        help="what every engine trains: the whole model, or a LoRA adapter on an fp32 or 4/8-bit base",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=2,
        help="rounds per task, the engines' order rotated each round (the first run in a process pays for fresh "
        "memory pages); seconds are the mean",
    )
    args = parser.parse_args()

    import platform

    import torch

    from lab.data.sources import load_sample
    from lab.models import load_tokenizer
    from lab.models.references import model_config
    from lab.train.batches import training_items
    from lab.train.config import RunConfig
    from lab.train.hardware import autocast_dtype, bf16_probe, keep_freed_memory, model_shape
    from lab.train.weights import model_for_training

    keep_freed_memory()  # the allocator setting the lab engine uses helps the others too: all get it
    tokenizer = load_tokenizer(args.model)
    pad_id = tokenizer.pad_token_id
    shape = model_shape(model_config(args.model))
    dtype = autocast_dtype("auto", args.device, shape)
    if args.device == "cpu":
        machine = f"{bf16_probe(shape).machine}; {platform.machine()}, {os.cpu_count()} cores"
        print(f"{machine}; model {args.model}, {args.method}")
        print(f"bf16 probe: {bf16_probe(shape).sentence()}")
    else:
        print(f"{torch.cuda.get_device_name()}, torch {torch.__version__}; model {args.model}, {args.method}")
    peak = ceiling(shape, dtype or torch.float32, args.device)
    print(f"ceiling: {peak / 1e9:.0f} GFLOP/s ({'bf16' if dtype else 'fp32'} products at {shape})")
    print(
        f"{'task':<9} {'engine':<15} {'tokens':>7} {'seconds':>8} {'tokens/s':>9} {'final loss':>11} "
        f"{'x TRL':>6} {'x seed':>7} {'ceiling':>8}"
    )
    for task in args.tasks:
        config = RunConfig(
            model=args.model,
            format="classic",
            strategy=args.strategy,
            epochs=args.epochs,
            method="full" if args.method == "full" else "lora",
            quantization={"qlora4": "4bit", "qlora8": "8bit"}.get(args.method, "none"),
            logging_steps=args.logging_steps,
            batch_tokens=args.batch_tokens,
        )
        items = training_items(load_sample(task), tokenizer, config).items
        tokens = sum(len(i) for i in items) * args.epochs
        seconds: dict[str, list[float]] = {engine: [] for engine in args.engines}
        losses, flops = {}, 0.0
        for round_ in range(args.rounds):
            order = args.engines[round_ % len(args.engines) :] + args.engines[: round_ % len(args.engines)]
            for engine in order:
                torch.manual_seed(0)
                model = model_for_training(config, args.device)
                # the count is a full fine-tune's: an adapter's backward skips the frozen weights' gradients
                flops = training_flops(model, items, args.epochs) if args.method == "full" else 0.0
                if engine == "seed Trainer":
                    took = seed_trainer(model, items, args.epochs, args.device)
                elif engine == "TRL SFTTrainer":
                    took = trl_sft(model, items, config, tokenizer, dtype is not None, args.device)
                else:
                    took = lab_engine(model, items, config, pad_id, args.device)
                seconds[engine].append(took)
                losses[engine] = final_loss(model, items, pad_id, args.device)
                del model
        mean = {engine: sum(times) / len(times) for engine, times in seconds.items()}
        for engine, took in mean.items():
            each = "/".join(f"{t:.1f}" for t in seconds[engine])
            vs = {b: f"{mean[b] / took:.2f}x" if b in mean else "-" for b in ("TRL SFTTrainer", "seed Trainer")}
            share = f"{flops / took / peak:.0%}" if flops else "-"
            print(
                f"{task:<9} {engine:<15} {tokens:7d} {took:8.1f} {tokens / took:9.0f} {losses[engine]:11.1e} "
                f"{vs['TRL SFTTrainer']:>6} {vs['seed Trainer']:>7} {share:>8}   (each: {each} s)"
            )


if __name__ == "__main__":
    main()
