"""Carry out one run from the store: load, train, checkpoint, save, and record every step and the outcome.

Used by the background runner (the app) and by `python -m lab train` in the foreground alike.
"""

from __future__ import annotations

import os
import time
from typing import Callable

import torch

from lab.errors import LabError
from lab.models import load_tokenizer, pick_device
from lab.runs import RunStore
from lab.training import (
    StepReport, TrainingFailed, model_for_training, save_weights, train_lab, training_items,
)


def execute(store: RunStore, run_id: str, on_step: Callable[[StepReport], None] | None = None) -> str:
    """Train a queued run; returns its final status (done, stopped, failed)."""
    run = store.get(run_id)
    config = run.config
    store.set_status(run_id, "running", "loading the model", started=run.started or time.time(), pid=os.getpid())
    try:
        tokenizer = load_tokenizer(config.model, config.trust_remote_code)
        prepared = training_items(store.examples(run_id), tokenizer, config)
        device = pick_device(config.device)
        if config.engine == "trl":
            from lab.trl_engine import train_trl

            store.drop_metrics_after(run_id, 0)  # TRL's trainer keeps no lab checkpoint: a resume starts over
            status = train_trl(store, run_id, config, tokenizer, prepared.items, device, on_step)
        else:
            status = _train_with_lab(store, run_id, config, tokenizer, prepared, device, on_step)
        message = "; ".join(prepared.notes[:3])
        if status == "stopped":
            resumes = "Resume goes on from that step" if config.engine == "lab" else "Resume starts it over"
            message = f"stopped by request; its weights are saved and {resumes}" + (f"; {message}" if message else "")
        store.set_status(run_id, status, message, finished=time.time())
        return status
    except (TrainingFailed, LabError) as e:
        store.set_status(run_id, "failed", str(e), finished=time.time())
        return "failed"
    except torch.OutOfMemoryError:
        store.set_status(run_id, "failed", "out of memory: lower batch_size or max_length, or use LoRA",
                         finished=time.time())
        return "failed"


def _train_with_lab(store: RunStore, run_id: str, config, tokenizer, prepared, device, on_step) -> str:
    folder = store.run_folder(run_id)
    model = model_for_training(config, device)
    checkpoint_dir = folder / "checkpoint"
    resume = None
    if (checkpoint_dir / "trainer_state.pt").is_file():
        from safetensors.torch import load_file

        weights = checkpoint_dir / ("adapter_model.safetensors" if config.method == "lora" else "model.safetensors")
        state = load_file(weights)
        if config.method == "lora":
            from peft import set_peft_model_state_dict

            set_peft_model_state_dict(model, state)
        else:
            model.load_state_dict(state, strict=False)
            model.tie_weights()
        resume = torch.load(checkpoint_dir / "trainer_state.pt", weights_only=True)
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

    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    status = train_lab(model, prepared.items, config, device, report, pad_id, checkpoint, resume)
    save_weights(model, folder / "final")
    tokenizer.save_pretrained(folder / "final")
    return status
