"""What a run trains on: each example tokenized and labelled by the run's strategy, and the batches of an epoch."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field

from lab.common import IGNORE_INDEX
from lab.data.examples import Example
from lab.errors import LabError
from lab.labels.strategies import completion_flags, label_all
from lab.labels.token_labels import LabelSettings
from lab.labels.tokens import tokenize_example
from lab.train.config import RunConfig
from lab.train.loss import TrainItem


@dataclass(frozen=True)
class TrainingSet:
    """The items a run trains on, and what was left out or cut, in words."""

    items: list[TrainItem]
    notes: list[str] = field(default_factory=list)


def training_items(examples: list[Example], tokenizer, config: RunConfig) -> TrainingSet:
    """Tokenize and label the examples with the run's strategy: the exact labels Tokens & labels shows."""
    settings = LabelSettings(prompt_weight=config.prompt_weight)
    tokenized, notes, unrenderable = [], [], []
    for i, example in enumerate(examples):
        try:
            tokenized.append((i, tokenize_example(example, tokenizer, config.format)))
        except LabError as e:
            notes.append(f"example {i} left out: {e}")
            unrenderable.append(str(e))
    if not tokenized and unrenderable:  # blame what failed (a template that raises), not the empty result
        raise LabError(f"no example can be rendered in the {config.format} format: {unrenderable[0]}")
    labelled = label_all([t for _, t in tokenized], tokenizer, (config.strategy,), settings)
    items = []
    for (i, item), by_strategy in zip(tokenized, labelled):
        labels = by_strategy[config.strategy]
        if not labels.available:
            raise LabError(f"{config.strategy} cannot label example {i}: {labels.notes[0].text}")
        completion = completion_flags(item, tokenizer)
        n = min(len(item.encoded), config.max_length)
        if n < len(item.encoded):
            notes.append(f"example {i} cut from {len(item.encoded)} to max_length {config.max_length} tokens")
        train = TrainItem(item.encoded.ids[:n], labels.labels[:n], labels.weights[:n], tuple(completion[:n]))
        if not any(w > 0 and label != IGNORE_INDEX for w, label in zip(train.weights[1:], train.labels[1:])):
            notes.append(f"example {i} left out: {config.strategy} learns none of its tokens")
            continue
        items.append(train)
    if not items:
        raise LabError(f"no example has a token to learn under {config.strategy}: nothing to train")
    return TrainingSet(items, notes)


def batches_for_epoch(
    items: list[TrainItem], batch_size: int, seed: int, epoch: int, batch_tokens: int | None = None
) -> list[list[int]]:
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
        for k in sorted(order[start : start + group], key=lambda k: len(items[k])):
            full = len(batch) == batch_size or (batch_tokens and (len(batch) + 1) * len(items[k]) > batch_tokens)
            if batch and full:
                batches.append(batch)
                batch = []
            batch.append(k)
        if batch:
            batches.append(batch)
    rng.shuffle(batches)
    return batches


def run_batches(items: list[TrainItem], config: RunConfig, epoch: int) -> list[list[int]]:
    """The batches of one epoch of a run (its batch size, seed and token budget)."""
    return batches_for_epoch(items, config.batch_size, config.seed, epoch, config.batch_tokens)


def steps_per_epoch(items: list[TrainItem], config: RunConfig) -> list[int]:
    """Optimizer steps in each epoch of the lab engine (a window of grad_accum batches is one step).

    When `batch_size` of the longest example fit the token budget, every epoch has ceil(n / batch_size)
    batches (batches are cut by count alone) and nothing is shuffled to count them; otherwise the epochs'
    batches are laid out one by one, which `RunConfig.validate`'s cap on epochs keeps to seconds."""
    if config.batch_size * max(len(item) for item in items) <= config.batch_tokens:
        return [math.ceil(math.ceil(len(items) / config.batch_size) / config.grad_accum)] * config.epochs
    return [math.ceil(len(run_batches(items, config, epoch)) / config.grad_accum) for epoch in range(config.epochs)]
