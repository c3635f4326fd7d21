"""What a labelling strategy returns: a label and a loss weight per token, and notes in words.

A label is the token's id where the token is learned and IGNORE_INDEX (-100) where it is not; a weight is the
token's share in the loss (seed 002's prompt-loss-weight). Position 0 is never predicted (position i's logits
predict token i+1), so it never counts.
"""

from __future__ import annotations

from dataclasses import dataclass

from lab.common import IGNORE_INDEX


@dataclass(frozen=True)
class Note:
    """A sentence about an example's labels; `code` is set when it is a problem `check` reports."""

    text: str
    code: str = ""


@dataclass(frozen=True)
class Labels:
    """Labels and loss weights aligned with input_ids, plus notes in words."""

    labels: tuple[int, ...]
    weights: tuple[float, ...]
    notes: tuple[Note, ...] = ()
    available: bool = True  # False when the strategy cannot label this example; the notes say why

    def trained(self, position: int) -> bool:
        """Whether the token at `position` contributes to the loss (position 0 never does)."""
        return position > 0 and self.labels[position] != IGNORE_INDEX and self.weights[position] > 0

    @property
    def counted(self) -> int:
        """Number of tokens that contribute to the loss."""
        return sum(1 for i in range(len(self.labels)) if self.trained(i))

    def with_notes(self, *notes: Note) -> Labels:
        return Labels(self.labels, self.weights, self.notes + tuple(notes), self.available)


DEFAULT_PROMPT_WEIGHT = 0.1  # seed 002's w: every page, the CLI and RunConfig start from it


def prompt_weight_problem(weight: float) -> str | None:
    """Why a prompt-loss weight cannot be used (it must lie in [0, 1]), or None when it can."""
    return None if 0.0 <= weight <= 1.0 else f"the prompt weight w must be in [0, 1], got {weight:g}"


@dataclass(frozen=True)
class LabelSettings:
    """What the strategies need beyond the tokens."""

    prompt_weight: float = DEFAULT_PROMPT_WEIGHT
    response_template: str | None = None  # None: the format's default (see formats.default_templates)
    instruction_template: str | None = None


def from_mask(ids, keep) -> Labels:
    """Labels that learn the tokens where `keep` is true, each at weight 1."""
    labels = tuple(i if k else IGNORE_INDEX for i, k in zip(ids, keep))
    return Labels(labels, tuple(1.0 if k else 0.0 for k in keep))


def unavailable(n: int, text: str) -> Labels:
    """A strategy that cannot label an example of n tokens; `text` says why."""
    return Labels((IGNORE_INDEX,) * n, (0.0,) * n, (Note(text),), available=False)


def token_name(tokenizer, token_id: int | None) -> str:
    """A token id as its token string in backticks, for sentences (`none` when there is no such token)."""
    return "none" if token_id is None else f"`{tokenizer.convert_ids_to_tokens(token_id)}`"
