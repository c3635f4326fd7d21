"""The `lab` engine: a lean training loop on torch and transformers pieces.

Length-bucketed batches within a token budget (batches.py), bf16 autocast only where it measures faster
(hardware.py), fused AdamW, lm_head only at trained positions (loss.py), a linear learning-rate decay like
`Trainer`'s default, and a checkpoint after the first step `checkpoint_seconds` after the last one. It never
packs examples: on CPU with sdpa, position_ids alone would let attention leak across packed examples.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import torch

from lab.errors import TrainingFailed
from lab.train.batches import run_batches, steps_per_epoch
from lab.train.config import RunConfig
from lab.train.hardware import autocast_dtype, keep_freed_memory, model_shape
from lab.train.loss import Batch, TrainItem, collate, weighted_loss
from lab.train.progress import Reporter, StepReport

Checkpoint = Callable[[int, dict], None]  # (step, optimizer/scheduler/position state) -> saved


def train_lab(
    model,
    items: list[TrainItem],
    config: RunConfig,
    device: str,
    report: Reporter,
    pad_id: int,
    checkpoint: Checkpoint | None = None,
    resume: dict | None = None,
    stop_requested: Callable[[], bool] | None = None,
) -> str:
    """Train with the lab engine; returns "done" or "stopped". Raises TrainingFailed on NaN/inf or OOM.

    `report` is called at logging steps and returns whether to go on; `stop_requested` is asked after every
    other step, so a stop ends the run within one optimizer step whatever `logging_steps` is.

    `checkpoint(step, state)` is called after any step (in any epoch, the last included) once
    `checkpoint_seconds` have passed since the run started or last saved, and always when a stop ends the
    run; `resume` is such a state, and training goes on from the batch after it with the same data order, so
    a stopped and resumed run takes the same steps as one that never stopped. Reported `elapsed` counts the
    training time of every step so far, across resumes.
    """
    torch.manual_seed(config.seed)
    keep_freed_memory()
    model.train()
    embedding = model.get_input_embeddings()
    was_sparse = embedding.sparse
    embedding.sparse = _tied_and_trained(model)
    try:
        return _Loop(model, items, config, device, pad_id).run(report, checkpoint, resume, stop_requested)
    finally:
        embedding.sparse = was_sparse


def _tied_and_trained(model) -> bool:
    """Whether the input embedding shares its weight with lm_head and trains. Then its lookup's gradient is
    made sparse (the few rows of the batch's tokens) and added to lm_head's dense one, instead of a dense
    vocabulary x hidden zero tensor being filled and added every step (benchmarks/train_levers.py)."""
    inputs, outputs = model.get_input_embeddings(), model.get_output_embeddings()
    return outputs is not None and inputs.weight is outputs.weight and inputs.weight.requires_grad


class _Loop:
    """One run's optimizer, schedule and place in the data: epochs of windows of grad_accum batches."""

    def __init__(self, model, items: list[TrainItem], config: RunConfig, device: str, pad_id: int):
        self.model, self.items, self.config, self.device, self.pad_id = model, items, config, device, pad_id
        self.trainable = [p for p in model.parameters() if p.requires_grad]
        self.optimizer = torch.optim.AdamW(self.trainable, lr=config.lr, weight_decay=0.0, fused=True)
        self.total = sum(steps_per_epoch(items, config))
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, lambda s: max(0.0, 1 - s / self.total))
        self.dtype = autocast_dtype(config.dtype, device, model_shape(model.config))
        self.step = 0
        self.elapsed_before = 0.0  # training time of the steps a resumed run had already taken
        self.start = time.perf_counter()

    def elapsed(self) -> float:
        return self.elapsed_before + time.perf_counter() - self.start

    def state(self, epoch: int, batch: int) -> dict:
        """What a checkpoint keeps besides the weights: where the next step starts."""
        return {
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "step": self.step,
            "epoch": epoch,
            "batch": batch,
            "elapsed": self.elapsed(),
        }

    def run(self, report: Reporter, checkpoint: Checkpoint | None, resume: dict | None, stop_requested) -> str:
        config, position = self.config, (0, 0)
        if resume:
            self.optimizer.load_state_dict(resume["optimizer"])
            self.scheduler.load_state_dict(resume["scheduler"])
            self.step, position = resume["step"], (resume["epoch"], resume.get("batch", 0))
            self.elapsed_before = resume.get("elapsed", 0.0)
        self.start = last_save = time.perf_counter()
        tokens = 0
        for epoch in range(position[0], config.epochs):
            batches = run_batches(self.items, config, epoch)
            for first in range(position[1] if epoch == position[0] else 0, len(batches), config.grad_accum):
                window = [
                    collate([self.items[k] for k in b], self.pad_id) for b in batches[first : first + config.grad_accum]
                ]
                logging = (self.step + 1) % config.logging_steps == 0 or self.step + 1 == self.total
                losses = _optimizer_step(
                    self.model, window, self.optimizer, self.dtype, self.device, self.trainable, self.step + 1, logging
                )
                self.scheduler.step()
                self.step += 1
                tokens += sum(b.tokens for b in window)
                session = time.perf_counter() - self.start
                done = epoch + (first + len(window)) / len(batches)
                lr = self.scheduler.get_last_lr()[0]
                speed = tokens / session if session else 0.0
                step = StepReport(self.step, self.total, done, *losses, lr, speed, self.elapsed())
                after = first + config.grad_accum
                next_batch = (epoch, after) if after < len(batches) else (epoch + 1, 0)
                stop = not report(step) if logging else bool(stop_requested and stop_requested())
                due = time.perf_counter() - last_save >= config.checkpoint_seconds
                if checkpoint and self.step < self.total and (stop or due):
                    checkpoint(self.step, self.state(*next_batch))
                    last_save = time.perf_counter()
                if stop:
                    return "stopped"
        return "done"


def _optimizer_step(model, window: list[Batch], optimizer, dtype, device, trainable, step: int, measure: bool):
    """One optimizer step over a window of micro-batches: loss normalised by the window's total weight.

    On logging steps the prompt and completion losses are measured too (lm_head, no gradient, at the rest),
    summed over every micro-batch of the window."""
    total_weight = sum(b.total_weight for b in window)
    loss_sum = prompt_sum = completion_sum = 0.0
    prompt_n = completion_n = 0
    try:
        for batch in window:
            parts = weighted_loss(model, batch.to(device), measure=measure, autocast_dtype=dtype)
            loss = parts.weighted_sum / total_weight
            if not torch.isfinite(loss):
                raise TrainingFailed(f"the loss became {float(loss)} at step {step}: lower the learning rate")
            loss.backward()
            loss_sum += float(loss.detach())
            prompt_sum += parts.prompt_loss_sum
            prompt_n += parts.prompt_count
            completion_sum += parts.completion_loss_sum
            completion_n += parts.completion_count
        for p in trainable:  # only a micro-batch with no trained position leaves an embedding gradient sparse
            if p.grad is not None and p.grad.is_sparse:
                p.grad = p.grad.to_dense()
        clip_gradients(trainable, 1.0, device)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    except torch.OutOfMemoryError:
        raise TrainingFailed(f"out of memory at step {step}: lower batch_size or max_length, or use LoRA") from None
    return (
        loss_sum,
        prompt_sum / prompt_n if prompt_n else None,
        completion_sum / completion_n if completion_n else None,
    )


def clip_gradients(params, max_norm: float, device: str) -> None:
    """`clip_grad_norm_` (as Trainer does), without its multiply-by-1 pass over every gradient when the norm is
    already within bounds; on CPU reading the norm costs no device sync."""
    grads = [p.grad for p in params if p.grad is not None]
    total = torch.nn.utils.get_total_norm(grads)
    if not device.startswith("cpu") or float(total) + 1e-6 > max_norm:
        torch.nn.utils.clip_grads_with_norm_(params, max_norm, total)
