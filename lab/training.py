"""Fine-tuning: RunConfig, the training items a strategy makes, and the fast `lab` engine.

The lab engine is a lean loop on torch and transformers pieces: length-bucketed batches, bf16 autocast where
the CPU or GPU has bf16, fused AdamW, lm_head only at trained positions (loss.py), a linear learning-rate
decay like `Trainer`'s default, and a checkpoint at most every `checkpoint_seconds`. It never packs
examples: on CPU with sdpa, position_ids alone would let attention leak across packed examples.
"""

from __future__ import annotations

import json
import math
import random
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Callable

import torch

from lab.errors import LabError
from lab.examples import Example
from lab.formats import FORMATS
from lab.hardware import autocast_dtype, keep_freed_memory, own_memory
from lab.labels import STRATEGIES, LabelSettings, completion_flags, label_all, prepare
from lab.loss import Batch, TrainItem, collate, weighted_loss
from lab.models import DEFAULT_MODEL

METHODS = ("full", "lora")
ENGINES = ("lab", "trl")
DTYPES = ("auto", "bf16", "fp32")


@dataclass(frozen=True)
class RunConfig:
    """Every setting of a run, saved as config.json in its folder; the CLI flags are named after the fields.

    What to learn:  model, format, strategy, prompt_weight (w, for strategy prompt-weight)
    How:            method (full | lora) with lora_r / lora_alpha / lora_targets; engine (lab | trl)
    Schedule:       epochs, lr, batch_size (examples per batch, at most batch_tokens tokens with padding; the
                    lab engine's), grad_accum, max_length, seed
    Where:          device (auto | cpu | cuda), dtype (auto: bf16 autocast where supported | bf16 | fp32)
    Bookkeeping:    logging_steps, checkpoint_seconds, trust_remote_code
    """

    model: str = DEFAULT_MODEL
    format: str = "classic"
    strategy: str = "special-mask"
    prompt_weight: float = 0.1
    method: str = "full"
    lora_r: int = 8
    lora_alpha: int = 16
    lora_targets: tuple[str, ...] = ("q_proj", "k_proj", "v_proj", "o_proj")
    epochs: int = 15
    lr: float = 2e-4
    batch_size: int = 5
    batch_tokens: int = 512
    grad_accum: int = 1
    max_length: int = 512
    seed: int = 42
    device: str = "auto"
    dtype: str = "auto"
    engine: str = "lab"
    logging_steps: int = 1
    checkpoint_seconds: float = 60.0
    trust_remote_code: bool = False

    def validate(self) -> "RunConfig":
        """Raise LabError with one sentence naming the first setting that cannot work."""
        checks = [
            (self.format in FORMATS, f"format must be one of {', '.join(FORMATS)}"),
            (self.strategy in STRATEGIES, f"strategy must be one of {', '.join(STRATEGIES)}"),
            (self.method in METHODS, f"method must be one of {', '.join(METHODS)}"),
            (self.engine in ENGINES, f"engine must be one of {', '.join(ENGINES)}"),
            (self.dtype in DTYPES, f"dtype must be one of {', '.join(DTYPES)}"),
            (0.0 <= self.prompt_weight <= 1.0, f"prompt_weight must be in [0, 1], got {self.prompt_weight}"),
            (self.epochs >= 1, "epochs must be at least 1"),
            (self.lr > 0 and math.isfinite(self.lr), "lr must be a positive number"),
            (self.batch_size >= 1 and self.grad_accum >= 1, "batch_size and grad_accum must be at least 1"),
            (self.batch_tokens >= 1, "batch_tokens must be at least 1"),
            (self.max_length >= 2, "max_length must be at least 2"),
            (self.method != "lora" or (self.lora_r >= 1 and self.lora_targets), "LoRA needs r >= 1 and targets"),
            (self.engine != "trl" or self.strategy in ("trl-completion", "trl-assistant"),
             "engine trl trains with TRL's own labels: pick strategy trl-completion or trl-assistant"),
        ]
        for ok, sentence in checks:
            if not ok:
                raise LabError(sentence)
        return self

    def check_base(self) -> "RunConfig":
        """Refuse full fine-tuning of a quantized base before anything loads (its config says so)."""
        from lab.models import quantization_of

        try:
            quant = quantization_of(self.model, self.trust_remote_code)
        except LabError:  # no config to read: loading the model will say why, in the run
            return self
        if quant and self.method == "full":
            raise LabError(f"{self.model} is quantized ({quant}): its weights cannot be fully fine-tuned; "
                           "pick method lora to train an adapter on top of it")
        return self

    def to_json(self) -> dict:
        return asdict(self) | {"lora_targets": list(self.lora_targets)}

    @classmethod
    def from_json(cls, data: dict) -> "RunConfig":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise LabError(f"unknown run settings: {', '.join(unknown)}")
        if "lora_targets" in data:
            data = data | {"lora_targets": tuple(data["lora_targets"])}
        return cls(**data)


@dataclass(frozen=True)
class Prepared:
    """What a run trains on, and what was left out or cut, in words."""

    items: list[TrainItem]
    notes: list[str] = field(default_factory=list)


def training_items(examples: list[Example], tokenizer, config: RunConfig) -> Prepared:
    """Tokenize and label the examples with the run's strategy: the exact labels Tokens & labels shows."""
    settings = LabelSettings(prompt_weight=config.prompt_weight)
    prepared, notes = [], []
    for i, example in enumerate(examples):
        try:
            prepared.append((i, prepare(example, tokenizer, config.format)))
        except LabError as e:
            notes.append(f"example {i} left out: {e}")
    labelled = label_all([p for _, p in prepared], tokenizer, (config.strategy,), settings)
    items = []
    for (i, item), by_strategy in zip(prepared, labelled):
        labels = by_strategy[config.strategy]
        if not labels.available:
            raise LabError(f"{config.strategy} cannot label example {i}: {labels.notes[0].text}")
        completion = completion_flags(item, tokenizer)
        n = min(len(item.encoded), config.max_length)
        if n < len(item.encoded):
            notes.append(f"example {i} cut from {len(item.encoded)} to max_length {config.max_length} tokens")
        train = TrainItem(item.encoded.ids[:n], labels.labels[:n], labels.weights[:n], tuple(completion[:n]))
        if not any(w > 0 and lab != -100 for w, lab in zip(train.weights[1:], train.labels[1:])):
            notes.append(f"example {i} left out: {config.strategy} learns none of its tokens")
            continue
        items.append(train)
    if not items:
        raise LabError(f"no example has a token to learn under {config.strategy}: nothing to train")
    return Prepared(items, notes)


def batches_for_epoch(items: list[TrainItem], batch_size: int, seed: int, epoch: int,
                      batch_tokens: int | None = None) -> list[list[int]]:
    """Indices of each batch: shuffled, then sorted by length within groups of 50 batches so that little is
    padding, then the batches shuffled again (the same order for the same seed and epoch).

    A batch holds at most `batch_size` examples and, with `batch_tokens`, at most that many tokens counting
    padding (an example longer than that is a batch of its own): long examples then take more, smaller steps,
    as they would one by one, while short ones still share a step."""
    rng = random.Random(seed * 1000 + epoch)
    order = list(range(len(items)))
    rng.shuffle(order)
    group = batch_size * 50
    batches: list[list[int]] = []
    for start in range(0, len(order), group):
        batch: list[int] = []
        for k in sorted(order[start:start + group], key=lambda k: len(items[k])):
            full = len(batch) == batch_size or (batch_tokens and (len(batch) + 1) * len(items[k]) > batch_tokens)
            if batch and full:
                batches.append(batch)
                batch = []
            batch.append(k)
        if batch:
            batches.append(batch)
    rng.shuffle(batches)
    return batches


def steps_per_epoch(items: list[TrainItem], config: "RunConfig") -> list[int]:
    """Optimizer steps in each epoch of the lab engine (a window of grad_accum batches is one step)."""
    return [math.ceil(len(batches_for_epoch(items, config.batch_size, config.seed, epoch, config.batch_tokens))
                      / config.grad_accum) for epoch in range(config.epochs)]


class TrainingFailed(LabError):
    """A run that cannot go on (NaN loss, out of memory); the sentence says what to change."""


@dataclass
class StepReport:
    """What the engine reports after each logged optimizer step."""

    step: int
    total_steps: int
    epoch: float
    loss: float
    prompt_loss: float | None
    completion_loss: float | None
    lr: float
    tokens_per_s: float
    elapsed: float


Reporter = Callable[[StepReport], bool]  # returns False to stop after this step


def train_lab(model, items: list[TrainItem], config: RunConfig, device: str, report: Reporter, pad_id: int,
              checkpoint: Callable[[int, dict], None] | None = None, resume: dict | None = None) -> str:
    """Train with the lab engine; returns "done" or "stopped". Raises TrainingFailed on NaN/inf or OOM.

    `checkpoint(step, state)` is called at the end of an epoch when `checkpoint_seconds` have passed since the
    last one, and always when a stop ends the run; `resume` is such a state, and training goes on from the
    batch after it with the same data order, so a stopped and resumed run takes the same steps as one that
    never stopped.
    """
    torch.manual_seed(config.seed)
    keep_freed_memory()
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=config.lr, weight_decay=0.0, fused=True)
    total = sum(steps_per_epoch(items, config))
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: max(0.0, 1 - s / total))
    step, position = 0, (0, 0)
    if resume:
        optimizer.load_state_dict(resume["optimizer"])
        scheduler.load_state_dict(resume["scheduler"])
        step, position = resume["step"], (resume["epoch"], resume.get("batch", 0))
    dtype = autocast_dtype(config.dtype, device)
    model.train()
    embedding = model.get_input_embeddings()
    was_sparse = embedding.sparse
    embedding.sparse = _tied_and_trained(model)
    try:
        return _epochs(model, items, config, device, report, pad_id, checkpoint, optimizer, scheduler, trainable,
                       dtype, step, position, total)
    finally:
        embedding.sparse = was_sparse


def _tied_and_trained(model) -> bool:
    """Whether the input embedding shares its weight with lm_head and trains. Then its lookup's gradient is
    made sparse (a few rows) and added to lm_head's dense one, instead of a dense 49k x 576 zero tensor filled
    and added every step: the first two steps of the seed task went from 4.3 s and 1.3 s to 3.0 s and 0.7 s."""
    inputs, outputs = model.get_input_embeddings(), model.get_output_embeddings()
    return outputs is not None and inputs.weight is outputs.weight and inputs.weight.requires_grad


def _epochs(model, items, config, device, report, pad_id, checkpoint, optimizer, scheduler, trainable, dtype,
            step, position, total) -> str:
    start, tokens, last_save = time.perf_counter(), 0, time.perf_counter()

    def state(epoch: int, batch: int) -> dict:
        return {"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(), "step": step,
                "epoch": epoch, "batch": batch}

    for epoch in range(position[0], config.epochs):
        batches = batches_for_epoch(items, config.batch_size, config.seed, epoch, config.batch_tokens)
        for first in range(position[1] if epoch == position[0] else 0, len(batches), config.grad_accum):
            window = [collate([items[k] for k in b], pad_id) for b in batches[first:first + config.grad_accum]]
            logging = (step + 1) % config.logging_steps == 0 or step + 1 == total
            measured = _optimizer_step(model, window, optimizer, dtype, device, trainable, step + 1, logging)
            scheduler.step()
            step += 1
            tokens += sum(b.tokens for b in window)
            elapsed = time.perf_counter() - start
            keep_going = True
            if logging:
                keep_going = report(StepReport(
                    step, total, epoch + (first + len(window)) / len(batches), *measured,
                    scheduler.get_last_lr()[0], tokens / elapsed if elapsed else 0.0, elapsed))
            if not keep_going:
                if checkpoint and step < total:
                    after = first + config.grad_accum
                    checkpoint(step, state(epoch, after) if after < len(batches) else state(epoch + 1, 0))
                return "stopped"
        if checkpoint and epoch + 1 < config.epochs and time.perf_counter() - last_save >= config.checkpoint_seconds:
            checkpoint(step, state(epoch + 1, 0))
            last_save = time.perf_counter()
    return "done"


def _optimizer_step(model, window: list[Batch], optimizer, dtype, device, trainable, step: int, measure: bool):
    """One optimizer step over a window of micro-batches: loss normalised by the window's total weight.

    On logging steps the prompt and completion losses are measured too (lm_head, no gradient, at the rest)."""
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
        for p in trainable:  # only a micro-batch with no trained position leaves an embedding gradient sparse
            if p.grad is not None and p.grad.is_sparse:
                p.grad = p.grad.to_dense()
            prompt_sum += parts.prompt_loss_sum
            prompt_n += parts.prompt_count
            completion_sum += parts.completion_loss_sum
            completion_n += parts.completion_count
        _clip_gradients(trainable, 1.0, device)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    except torch.OutOfMemoryError:
        raise TrainingFailed(f"out of memory at step {step}: lower batch_size or max_length, or use LoRA") from None
    return (loss_sum, prompt_sum / prompt_n if prompt_n else None,
            completion_sum / completion_n if completion_n else None)


def _clip_gradients(params, max_norm: float, device: str) -> None:
    """`clip_grad_norm_` (as Trainer does), without its multiply-by-1 pass over every gradient when the norm is
    already within bounds: that pass is 0.035 s of a 0.65 s step on CPU, and on CPU the check costs no sync."""
    grads = [p.grad for p in params if p.grad is not None]
    total = torch.nn.utils.get_total_norm(grads)
    if not device.startswith("cpu") or float(total) + 1e-6 > max_norm:
        torch.nn.utils.clip_grads_with_norm_(params, max_norm, total)


def write_config(config: RunConfig, folder: Path) -> None:
    (folder / "config.json").write_text(json.dumps(config.to_json(), indent=2))


def read_config(folder: Path) -> RunConfig:
    saved = json.loads((folder / "config.json").read_text())
    saved.setdefault("batch_tokens", 1 << 30)  # saved before the budget existed: resume with the same batches
    return RunConfig.from_json(saved)


# -- models for training and for a finished run ---------------------------------------------------


def model_for_training(config: RunConfig, device: str):
    """The base model in fp32 master weights on `device`, wrapped with LoRA when the method asks for it."""
    from lab.models import load_model

    model = load_model(config.model, device, dtype=torch.float32, trust_remote_code=config.trust_remote_code)
    quantized = getattr(model, "is_quantized", False) or getattr(model, "hf_quantizer", None) is not None
    if quantized and config.method == "full":
        raise LabError("this model is quantized: its weights cannot be fully fine-tuned; pick method lora")
    if config.method == "lora":
        from peft import LoraConfig, get_peft_model

        present = {name.rsplit(".", 1)[-1] for name, _ in model.named_modules()}
        missing = [t for t in config.lora_targets if t not in present]
        if missing:
            raise LabError(f"the model has no modules named {', '.join(missing)} for LoRA")
        lora = LoraConfig(r=config.lora_r, lora_alpha=config.lora_alpha, target_modules=list(config.lora_targets),
                          lora_dropout=0.0, task_type="CAUSAL_LM")
        torch.manual_seed(config.seed)  # the adapter's random init: the same run gives the same adapter
        model = get_peft_model(model, lora)
    own_memory(model)
    model.config.use_cache = False
    return model


def save_weights(model, folder: Path, trainer_state: dict | None = None) -> None:
    """Full weights, or only the LoRA adapter, as safetensors, with the optimizer's state for a checkpoint;
    written to a tmp folder and then renamed, so a kill leaves the previous complete folder."""
    import shutil

    tmp = folder.with_name(folder.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp, safe_serialization=True)
    if trainer_state is not None:
        torch.save(trainer_state, tmp / "trainer_state.pt")
    shutil.rmtree(folder, ignore_errors=True)
    tmp.rename(folder)


def load_trained(config: RunConfig, weights: Path, device: str):
    """A run's fine-tuned model for inference: the full weights, or the adapter on its base."""
    from lab.models import load_model

    if config.method == "lora":
        from peft import PeftModel

        base = load_model(config.model, device, trust_remote_code=config.trust_remote_code)
        return PeftModel.from_pretrained(base, weights).eval()
    return load_model(str(weights), device, trust_remote_code=config.trust_remote_code)
