"""Seed 002's weighted cross-entropy, computed only where it counts.

Position i's logits predict token i+1, so a token's label and weight move one position left. The loss of an
optimizer step is  L = sum_i w_i * CE_i / sum_i w_i  over every counted position of every micro-batch in it,
so batch 1 x accumulation 4 gives the same update as batch 4 x accumulation 1.

The fast path runs the decoder once, then the vocabulary projection (lm_head) and the cross-entropy only at
positions whose weight is > 0; prompt and completion losses for the log are measured at the other positions
without gradients. The cross-entropy is always computed in fp32.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from lab.common import IGNORE_INDEX


@dataclass(frozen=True)
class TrainItem:
    """One tokenized example with its labels, loss weights and completion flags, one entry per token."""

    ids: tuple[int, ...]
    labels: tuple[int, ...]
    weights: tuple[float, ...]
    completion: tuple[bool, ...]

    def __len__(self) -> int:
        return len(self.ids)


@dataclass
class Batch:
    """Right-padded tensors, already shifted: position i holds the target, weight and kind of token i+1."""

    input_ids: torch.Tensor  # (B, T) long
    attention_mask: torch.Tensor  # (B, T) long
    targets: torch.Tensor  # (B, T) long: token i+1, or IGNORE_INDEX past the end
    weights: torch.Tensor  # (B, T) float: the training weight of predicting token i+1 (0: not trained)
    completion: torch.Tensor  # (B, T) bool: token i+1 is a completion token
    real: torch.Tensor  # (B, T) bool: position i predicts a real token (for the measured losses)

    def to(self, device) -> Batch:
        return Batch(
            *(
                t.to(device)
                for t in (self.input_ids, self.attention_mask, self.targets, self.weights, self.completion, self.real)
            )
        )

    @property
    def total_weight(self) -> float:
        return float(self.weights.sum())

    @property
    def tokens(self) -> int:
        return int(self.attention_mask.sum())


def collate(items: list[TrainItem], pad_id: int) -> Batch:
    """Pad to the longest item and shift labels, weights and completion flags by one position."""
    length = max(len(item) for item in items)
    shape = (len(items), length)
    input_ids = torch.full(shape, pad_id, dtype=torch.long)
    attention = torch.zeros(shape, dtype=torch.long)
    targets = torch.full(shape, IGNORE_INDEX, dtype=torch.long)
    weights = torch.zeros(shape, dtype=torch.float32)
    completion = torch.zeros(shape, dtype=torch.bool)
    real = torch.zeros(shape, dtype=torch.bool)
    for row, item in enumerate(items):
        n = len(item)
        input_ids[row, :n] = torch.tensor(item.ids)
        attention[row, :n] = 1
        if n < 2:
            continue
        next_ids = torch.tensor(item.ids[1:])
        labelled = torch.tensor([label != IGNORE_INDEX for label in item.labels[1:]])
        targets[row, : n - 1] = next_ids
        weights[row, : n - 1] = torch.tensor(item.weights[1:], dtype=torch.float32) * labelled
        completion[row, : n - 1] = torch.tensor(item.completion[1:])
        real[row, : n - 1] = True
    return Batch(input_ids, attention, targets, weights, completion, real)


@dataclass
class LossParts:
    """What one micro-batch contributes: the weighted loss sum (with gradient) and the measured losses."""

    weighted_sum: torch.Tensor  # sum_i w_i CE_i, with gradient
    prompt_loss_sum: float  # sum of CE over real prompt positions (no weights), for the log
    prompt_count: int
    completion_loss_sum: float
    completion_count: int


def _decoder_and_head(model):
    decoder = model.get_decoder()
    head = model.get_output_embeddings()
    if decoder is None or head is None:
        raise ValueError(f"{type(model).__name__} exposes no decoder/lm_head pair for the fast path; use engine trl")
    return decoder, head


def weighted_loss(model, batch: Batch, measure: bool = True, autocast_dtype: torch.dtype | None = None) -> LossParts:
    """The micro-batch's weighted CE sum, with lm_head only at trained positions; measured losses if asked."""
    decoder, head = _decoder_and_head(model)
    device_type = batch.input_ids.device.type
    with torch.autocast(device_type, dtype=autocast_dtype or torch.bfloat16, enabled=autocast_dtype is not None):
        hidden = decoder(input_ids=batch.input_ids, attention_mask=batch.attention_mask).last_hidden_state
        trained = batch.weights > 0
        logits = head(hidden[trained.to(hidden.device)])  # a device map may end the decoder on another device
    out = logits.device
    ce = F.cross_entropy(logits.float(), batch.targets[trained].to(out), reduction="none")
    weighted_sum = (ce * batch.weights[trained].to(out)).sum()
    parts = LossParts(weighted_sum, 0.0, 0, 0.0, 0)
    if not measure:
        return parts
    with torch.no_grad():
        measured = torch.zeros_like(batch.weights)
        measured[trained] = ce.detach().to(measured.device)
        rest = batch.real & ~trained
        if rest.any():
            with torch.autocast(
                device_type, dtype=autocast_dtype or torch.bfloat16, enabled=autocast_dtype is not None
            ):
                rest_logits = head(hidden[rest.to(hidden.device)].detach())
            measured[rest] = F.cross_entropy(
                rest_logits.float(), batch.targets[rest].to(rest_logits.device), reduction="none"
            ).to(measured.device)
        prompt = batch.real & ~batch.completion
        done = batch.real & batch.completion
        parts.prompt_loss_sum, parts.prompt_count = float(measured[prompt].sum()), int(prompt.sum())
        parts.completion_loss_sum, parts.completion_count = float(measured[done].sum()), int(done.sum())
    return parts


def reference_loss(logits: torch.Tensor, batch: Batch) -> torch.Tensor:
    """Seed 002's formula on full logits, in float64: sum_i w_i CE_i / sum_i w_i (for tests)."""
    logp = torch.log_softmax(logits.double(), dim=-1)
    trained = batch.weights > 0
    ce = -logp[trained].gather(-1, batch.targets[trained][:, None]).squeeze(-1)
    w = batch.weights[trained].double()
    return (w * ce).sum() / w.sum()
