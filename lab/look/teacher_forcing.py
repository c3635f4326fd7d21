"""Inside the model: at every position, the teacher-forced prediction of the next token, base vs fine-tuned.

Token t is predicted by the logits at position t-1 (seed 002): its probability, its rank among the whole
vocabulary, the top-k candidates, and its loss -log p. Positions the run's strategy trained on are marked, so
"the masked run never learned the prompt" shows at a glance.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from lab.labels.token_labels import Labels
from lab.labels.tokens import Tokenized
from lab.models.devices import input_device


@dataclass(frozen=True)
class Candidate:
    """A token the model considers, as the text it stands for, with its probability."""

    token_id: int
    text: str
    prob: float


@dataclass(frozen=True)
class Prediction:
    """One model's view of one position: the actual token's probability, rank (1 = top) and loss."""

    prob: float
    rank: int
    loss: float
    top: tuple[Candidate, ...]

    def to_json(self) -> dict:
        return {
            "prob": self.prob,
            "rank": self.rank,
            "loss": self.loss,
            "top": [{"id": c.token_id, "token": c.text, "prob": c.prob} for c in self.top],
        }


@dataclass(frozen=True)
class Position:
    """Token `position` of the example, predicted from everything before it."""

    position: int
    token_id: int
    token: str
    trained: bool
    completion: bool
    base: Prediction
    tuned: Prediction | None = None
    role: str = ""  # whose token: system, user, assistant, tool, text
    part: str = ""  # of a message's content: "", "reasoning", "tool-call"

    def to_json(self) -> dict:
        return {
            "position": self.position,
            "token": self.token,
            "id": self.token_id,
            "trained": self.trained,
            "completion": self.completion,
            "base": self.base.to_json(),
            "tuned": self.tuned.to_json() if self.tuned else None,
        }


def log_probs(model, ids: list[int]) -> torch.Tensor:
    """Log-probabilities over the whole vocabulary at positions 0..n-2 (fp32), shape (n-1, vocab)."""
    device = input_device(model)
    with torch.no_grad():
        logits = model(input_ids=torch.tensor([ids], device=device)).logits[0, :-1]
    return torch.log_softmax(logits.float(), dim=-1).cpu()


def predictions(model, ids: list[int], tokenizer, top_k: int = 5) -> list[Prediction]:
    """The prediction of every token after the first, from one teacher-forced forward pass."""
    logp = log_probs(model, ids)
    targets = torch.tensor(ids[1:])
    actual = logp.gather(1, targets[:, None]).squeeze(1)
    ranks = (logp > actual[:, None]).sum(dim=1) + 1
    top_logp, top_ids = logp.topk(min(top_k, logp.shape[1]), dim=1)
    texts = tokenizer.batch_decode([[i] for i in top_ids.flatten().tolist()])  # the text, not "Ġper"
    out = []
    for t in range(len(targets)):
        top = tuple(
            Candidate(int(i), texts[t * top_ids.shape[1] + k], float(p.exp()))
            for k, (i, p) in enumerate(zip(top_ids[t], top_logp[t]))
        )
        out.append(Prediction(float(actual[t].exp()), int(ranks[t]), float(-actual[t]), top))
    return out


def inspect_example(
    item: Tokenized, labels: Labels, completion: list[bool], tokenizer, base_model, tuned_model=None, top_k: int = 5
) -> list[Position]:
    """Every position of a tokenized example under the base (and the fine-tuned) model."""
    ids = list(item.encoded.ids)
    base = predictions(base_model, ids, tokenizer, top_k)
    tuned = predictions(tuned_model, ids, tokenizer, top_k) if tuned_model is not None else [None] * len(base)
    enc = item.encoded
    return [
        Position(
            t, ids[t], enc.pieces[t], labels.trained(t), bool(completion[t]), base[t - 1], tuned[t - 1], enc.roles[t],
            enc.parts[t],
        )
        for t in range(1, len(ids))
    ]  # fmt: skip


def mean_losses(positions: list[Position]) -> dict[str, float | None]:
    """Mean loss over prompt and over completion tokens, before and after (None where there are none)."""

    def mean(values):
        return sum(values) / len(values) if values else None

    out = {}
    for part, wanted in (("prompt", False), ("completion", True)):
        chosen = [p for p in positions if p.completion == wanted]
        out[f"{part}_before"] = mean([p.base.loss for p in chosen])
        out[f"{part}_after"] = (
            mean([p.tuned.loss for p in chosen if p.tuned is not None])
            if chosen and chosen[0].tuned is not None
            else None
        )
    return out


def weighted_mean_loss(positions: list[Position], labels: Labels, which: str = "base") -> float | None:
    """Seed 002's loss of the example: sum w_i * loss_i / sum w_i over the positions the strategy counts."""
    total = weight = 0.0
    for p in positions:
        if p.trained:
            prediction = p.base if which == "base" else p.tuned
            total += labels.weights[p.position] * prediction.loss
            weight += labels.weights[p.position]
    return total / weight if weight else None
