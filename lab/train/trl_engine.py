"""The `trl` engine: TRL's own `SFTTrainer` (completion-only or assistant-only loss) on the run's examples.

The lab only hands it the rows TRL expects (the same rows the trl-completion / trl-assistant strategies show)
and listens: a TrainerCallback writes every logged step to the store, stops when asked, and measures the
prompt and completion loss on the run's own items (no gradient) so the curves match the lab engine's.
"""

from __future__ import annotations

import math
import tempfile
import time

import torch

from lab.common import pad_id
from lab.errors import LabError, TrainingFailed
from lab.labels.tokens import tokenize_example
from lab.labels.trl_labels import one_shape
from lab.train.config import RunConfig
from lab.train.loss import collate, weighted_loss
from lab.train.progress import StepReport
from lab.train.weights import model_for_training, save_weights

MEASURE_ITEMS = 16  # prompt/completion losses are measured on up to this many examples per logged step


def _rows(store, run_id: str, config: RunConfig, tokenizer) -> list[dict]:
    rows = []
    for i, example in enumerate(store.examples(run_id)):
        rendered = tokenize_example(example, tokenizer, config.format).rendered
        row = rendered.trl_messages_row if config.strategy == "trl-assistant" else rendered.trl_completion_row
        if row is None:
            raise LabError(f"example {i} has no form TRL can train on with {config.strategy}")
        rows.append(row)
    one_shape(rows)
    return rows


def train_trl(store, run_id: str, config: RunConfig, tokenizer, items, device: str, on_step=None) -> str:
    """Train with `trl.SFTTrainer`; returns "done" or "stopped"."""
    # heavy: TRL and datasets load only for runs on this engine
    import datasets
    from transformers import TrainerCallback
    from trl import SFTConfig, SFTTrainer

    model = model_for_training(config, device)
    sample = collate(items[:MEASURE_ITEMS], pad_id(tokenizer))
    state = {"stopped": False, "start": time.perf_counter(), "tokens": 0}

    def measure() -> tuple[float | None, float | None]:
        was_training = model.training
        model.eval()
        with torch.no_grad():
            parts = weighted_loss(model, sample.to(device), measure=True)
        model.train(was_training)
        return (
            parts.prompt_loss_sum / parts.prompt_count if parts.prompt_count else None,
            parts.completion_loss_sum / parts.completion_count if parts.completion_count else None,
        )

    class Listen(TrainerCallback):
        def on_log(self, args, trainer_state, control, logs=None, **kwargs):
            loss = (logs or {}).get("loss")
            if loss is None:
                return
            if not math.isfinite(loss):
                raise TrainingFailed(
                    f"the loss became {loss} at step {trainer_state.global_step}: lower the learning rate"
                )
            elapsed = time.perf_counter() - state["start"]
            prompt_loss, completion_loss = measure()
            report = StepReport(
                trainer_state.global_step,
                trainer_state.max_steps,
                trainer_state.epoch or 0.0,
                float(loss),
                prompt_loss,
                completion_loss,
                float(logs.get("learning_rate", 0.0)),
                trainer_state.num_input_tokens_seen / elapsed if elapsed else 0.0,
                elapsed,
            )
            store.add_metrics(run_id, report)
            if on_step:
                on_step(report)

        def on_step_end(self, args, trainer_state, control, **kwargs):
            if store.stop_requested(run_id):
                state["stopped"] = True
                control.should_training_stop = True

    with tempfile.TemporaryDirectory() as out:
        args = SFTConfig(
            output_dir=out,
            num_train_epochs=config.epochs,
            learning_rate=config.lr,
            per_device_train_batch_size=config.batch_size,
            gradient_accumulation_steps=config.grad_accum,
            max_length=config.max_length,
            seed=config.seed,
            logging_steps=config.logging_steps,
            completion_only_loss=config.strategy == "trl-completion",
            assistant_only_loss=config.strategy == "trl-assistant",
            report_to=[],
            save_strategy="no",
            disable_tqdm=True,
            use_cpu=device == "cpu",
            bf16=device.startswith("cuda"),
            include_num_input_tokens_seen="all",
            dataset_num_proc=None,
        )
        datasets.disable_progress_bars()
        trainer = SFTTrainer(
            model=model,
            args=args,
            processing_class=tokenizer,
            train_dataset=datasets.Dataset.from_list(_rows(store, run_id, config, tokenizer)),
            callbacks=[Listen()],
        )
        trainer.train()
    save_weights(model, store.run_folder(run_id) / "final")
    tokenizer.save_pretrained(store.run_folder(run_id) / "final")
    return "stopped" if state["stopped"] else "done"
