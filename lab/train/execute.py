"""Carry out one run from the store: load, train, checkpoint, save, and record every step and the outcome.

Used by the background runner (the app) and by `python -m lab train` / `runs resume` in the foreground alike.
Whatever goes wrong ends the run `failed` with one sentence and its last checkpoint kept; while it trains,
the process renews the run's lease (leases.py), so a run whose process died is seen as interrupted.
"""

from __future__ import annotations

import errno
import os
import time
from collections.abc import Callable
from contextlib import suppress

import torch

from lab.common import first_line, pad_id
from lab.errors import LabError, TrainingFailed
from lab.models.devices import input_device, pick_device, placement_sentence
from lab.train.batches import TrainingSet, training_items
from lab.train.config import RunConfig, run_tokenizer
from lab.train.engine import train_lab
from lab.train.hardware import autocast_dtype, model_shape, precision_sentence
from lab.train.leases import Lease
from lab.train.progress import StepReport
from lab.train.run import what_resume_does
from lab.train.run_files import write_precision
from lab.train.store import RunStore, StoreError
from lab.train.trl_engine import train_trl
from lab.train.weights import load_checkpoint, model_for_training, save_weights


def execute(store: RunStore, run_id: str, on_step: Callable[[StepReport], None] | None = None) -> str:
    """Train a queued run; returns its final status (done, stopped, failed)."""
    with Lease(store, lambda: [run_id]):
        try:
            return _execute(store, run_id, on_step)
        except Exception as e:  # anything: the run ends failed in a sentence, never "running" for ever
            with suppress(StoreError):  # the store cannot be written either: its lease lapses, it reads interrupted
                run = store.get(run_id)
                saved = run.checkpoint_step if run.config.engine == "lab" else None
                resume = f". {what_resume_does(run.step, saved)}" if run.step else ""
                store.set_status(run_id, "failed", why_it_failed(e) + resume, finished=time.time())
            return "failed"


def why_it_failed(error: Exception) -> str:
    """One sentence for what stopped a run, with what to do about it."""
    text = str(error)
    if isinstance(error, (TrainingFailed, LabError)):
        return text
    if isinstance(error, torch.OutOfMemoryError):
        return "out of memory on the GPU: lower batch_size, batch_tokens or max_length, or use LoRA"
    if (isinstance(error, OSError) and error.errno == errno.ENOSPC) or "No space left" in text:
        return "the disk is full (no space left on device): free some space, then resume"
    if isinstance(error, MemoryError) or "can't allocate memory" in text or "Cannot allocate memory" in text:
        return "the machine ran out of memory: lower batch_size, batch_tokens or max_length, or use LoRA"
    return f"{type(error).__name__}: {first_line(error)}"


def _execute(store: RunStore, run_id: str, on_step) -> str:
    run = store.get(run_id)
    config = run.config
    store.set_status(run_id, "running", "loading the model", started=run.started or time.time(), pid=os.getpid())
    tokenizer = run_tokenizer(config)
    training = training_items(store.examples(run_id), tokenizer, config)
    device = pick_device(config.device)
    if config.engine == "trl":
        store.drop_metrics_after(run_id, 0)  # TRL's trainer keeps no lab checkpoint: a resume starts over
        status = train_trl(store, run_id, config, tokenizer, training.items, device, on_step)
    else:
        status = _train_with_lab(store, run_id, config, tokenizer, training, device, on_step)
    message = "; ".join(training.notes[:3])
    if status == "stopped":
        resumes = "Resume goes on from that step" if config.engine == "lab" else "Resume starts it over"
        message = f"stopped by request; its weights are saved and {resumes}" + (f"; {message}" if message else "")
    store.set_status(run_id, status, message, finished=time.time())
    return status


def _train_with_lab(
    store: RunStore, run_id: str, config: RunConfig, tokenizer, training: TrainingSet, device: str, on_step
) -> str:
    folder = store.run_folder(run_id)
    model = model_for_training(config, device)
    placed = placement_sentence(model) if config.max_memory else None
    if placed:  # batches go where the model takes its inputs: the device of its input embeddings
        device = str(input_device(model))
    shape = model_shape(model.config)
    chosen = autocast_dtype(config.dtype, device, shape)
    write_precision(folder, "bf16" if chosen else None, precision_sentence(config.dtype, device, shape), placed)
    checkpoint_dir = folder / "checkpoint"
    resume = load_checkpoint(model, config, checkpoint_dir)
    if resume and "elapsed" not in resume:  # a checkpoint saved before it kept its time: the metrics did
        resume["elapsed"] = (store.metric_at(run_id, resume["step"]) or {}).get("elapsed") or 0.0
    store.drop_metrics_after(run_id, resume["step"] if resume else 0)
    store.set_status(run_id, "running", f"resumed from step {resume['step']}" if resume else "")

    def report(step: StepReport) -> bool:
        store.add_metrics(run_id, step)
        if on_step:
            on_step(step)
        return not store.stop_requested(run_id)

    def checkpoint(step: int, state: dict) -> None:
        save_weights(model, checkpoint_dir, state)
        store.set_checkpoint(run_id, step)

    def stop_requested() -> bool:
        return store.stop_requested(run_id)

    status = train_lab(
        model, training.items, config, device, report, pad_id(tokenizer), checkpoint, resume, stop_requested
    )
    save_weights(model, folder / "final")
    tokenizer.save_pretrained(folder / "final")
    return status
