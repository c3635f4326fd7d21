"""Where labelling strategies disagree, token by token, and why, in words."""

from __future__ import annotations

from dataclasses import dataclass

from lab.labels.strategies import completion_flags
from lab.labels.token_labels import Labels
from lab.labels.tokens import Tokenized, visible


@dataclass(frozen=True)
class Disagreement:
    """A run of consecutive tokens that some strategies learn and others ignore, and why."""

    first: int
    last: int
    pieces: tuple[str, ...]
    learned_by: tuple[str, ...]
    ignored_by: tuple[str, ...]
    reason: str

    def sentence(self) -> str:
        """One sentence, e.g. "tokens 17-19 (`###`, `·Assistant`, `:`) count for copy and prompt-weight only: ..."."""
        span = f"token {self.first}" if self.first == self.last else f"tokens {self.first}-{self.last}"
        shown = ", ".join(f"`{visible(p)}`" for p in self.pieces[:4]) + (", …" if len(self.pieces) > 4 else "")
        if len(self.learned_by) <= len(self.ignored_by):
            who = f"count for {_join(self.learned_by)} only"
        else:
            who = f"count for all but {_join(self.ignored_by)}"
        return f"{span} ({shown}) {who}: {self.reason}"


def _join(names: tuple[str, ...]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def _reason(i: int, ignored: tuple[str, ...], item: Tokenized, tokenizer, first_content: dict[int, int]) -> str:
    enc = item.encoded
    token_id, role, kind = enc.ids[i], enc.roles[i], enc.kinds[i]
    conv = item.example.conversation
    if role == "system" and enc.turns[i] == -1:
        return "the default system prompt the chat template adds"
    if role in ("user", "system"):
        return f"{role} {'text' if kind == 'content' else 'template tokens'} (prompt)"
    if role == "assistant":
        last = conv.last_assistant_index() if conv else None
        if kind == "content" and enc.turns[i] != last and "trl-completion" in ignored:
            return "an earlier answer, and trl-completion learns only the last one"
        if kind == "content":
            return "answer text"
        if kind == "special":
            if (
                token_id == tokenizer.eos_token_id
                and "response-template" in ignored
                and tokenizer.pad_token_id == tokenizer.eos_token_id
            ):
                return "the eos that ends the answer, which the old collator masks as padding (pad == eos)"
            if token_id == tokenizer.eos_token_id:
                return "the eos that ends the answer"
            return "the special token that opens the answer"
        return (
            "template text after the answer"
            if enc.completion[i] or first_content.get(enc.turns[i], i) < i
            else "the assistant header (the response template)"
        )
    return f"{kind} tokens"


def compare(item: Tokenized, labelled: dict[str, Labels], tokenizer) -> list[Disagreement]:
    """Runs of tokens where the available strategies disagree on learning them, with the reason in words."""
    names = tuple(n for n, lab in labelled.items() if lab.available)
    enc = item.encoded
    first_content: dict[int, int] = {}  # each turn's first content token: template tokens after it close the turn
    for j, (kind, turn) in enumerate(zip(enc.kinds, enc.turns)):
        if kind == "content":
            first_content.setdefault(turn, j)
    runs: list[list] = []  # [first, last, pieces, learned, ignored, reason]: one pass, linear in the tokens
    for i in range(1, len(enc)):
        learned = tuple(n for n in names if labelled[n].trained(i))
        if not learned or len(learned) == len(names):
            continue
        ignored = tuple(n for n in names if n not in learned)
        reason = _reason(i, ignored, item, tokenizer, first_content)
        if runs and runs[-1][1] == i - 1 and runs[-1][3] == learned and runs[-1][5] == reason:
            runs[-1][1] = i
            runs[-1][2].append(enc.pieces[i])
        else:
            runs.append([i, i, [enc.pieces[i]], learned, ignored, reason])
    return [Disagreement(first, last, tuple(pieces), *rest) for first, last, pieces, *rest in runs]


@dataclass(frozen=True)
class StrategySummary:
    """How much one strategy learns from an example: tokens trained and where the loss weight sits."""

    name: str
    available: bool
    trained: int
    prompt_tokens: int  # trained tokens outside the completion
    completion_tokens: int
    prompt_share: float | None  # share of the total loss weight on prompt tokens; None when nothing counts

    @property
    def completion_share(self) -> float | None:
        return None if self.prompt_share is None else 1.0 - self.prompt_share


def summarise(item: Tokenized, labelled: dict[str, Labels], tokenizer) -> list[StrategySummary]:
    """Per strategy: tokens trained, and the prompt's vs the completion's share of the loss weight."""
    completion = completion_flags(item, tokenizer)
    out = []
    for name, labels in labelled.items():
        trained = [i for i in range(len(labels.labels)) if labels.trained(i)]
        prompt = [i for i in trained if not completion[i]]
        total = sum(labels.weights[i] for i in trained)
        share = sum(labels.weights[i] for i in prompt) / total if total > 0 else None
        out.append(
            StrategySummary(
                name,
                labels.available,
                len(trained),
                len(prompt),
                len(trained) - len(prompt),
                share if labels.available else None,
            )
        )
    return out
