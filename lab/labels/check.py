"""Dataset check: one finding per problem, each one sentence naming the example (`python -m lab check`)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from lab.data.examples import Example
from lab.errors import FormatError
from lab.labels.audit import AUDIT_CODES, STRUCTURAL_CODES, audit_strategies
from lab.labels.strategies import STRATEGIES, completion_flags, label_all
from lab.labels.token_labels import LabelSettings
from lab.labels.tokens import Tokenized, tokenize_example
from lab.labels.trl_labels import assistant_only_trainable

CODES = (
    "template-not-found",
    "fully-masked",
    "eos-masked",
    "no-generation-tags",
    "truncated",
    "empty-turn",
    "id-out-of-range",
    "unrenderable",
    "prompt-trained",
    *AUDIT_CODES,
)
TRL_DEFAULT_MAX_LENGTH = 1024  # SFTConfig's default max_length: longer examples are cut there


@dataclass(frozen=True)
class Finding:
    """One problem: the example's index (None for the whole set), a stable code and a sentence."""

    example: int | None
    code: str
    message: str
    strategy: str | None = None

    def to_json(self) -> dict:
        return {"example": self.example, "code": self.code, "message": self.message, "strategy": self.strategy}


@dataclass(frozen=True)
class FindingGroup:
    """Every finding of one code: which examples it hits, under which strategies, and one of its sentences."""

    code: str
    examples: tuple[int, ...]  # empty for a finding about the whole set
    strategies: tuple[str, ...]
    message: str

    def sentence(self, shown: int = 12) -> str:
        """One line, e.g. "`eos-masked` in 5 examples (#0, #1, #2, #3, #4), e.g. example 0: ..."."""
        if not self.examples:
            return f"`{self.code}`: {self.message}"
        picks = ", ".join(f"#{k}" for k in self.examples[:shown]) + (", …" if len(self.examples) > shown else "")
        noun = "example" if len(self.examples) == 1 else "examples"
        return f"`{self.code}` in {len(self.examples)} {noun} ({picks}), e.g. {self.message}"


def group_findings(findings: list[Finding]) -> list[FindingGroup]:
    """The findings of a set grouped by code (in CODES order), so that ten alike read as one line."""
    by_code: dict[str, list[Finding]] = {}
    for f in findings:
        by_code.setdefault(f.code, []).append(f)
    return [
        FindingGroup(
            code,
            tuple(dict.fromkeys(f.example for f in found if f.example is not None)),
            tuple(dict.fromkeys(f.strategy for f in found if f.strategy)),
            found[0].message,
        )
        for code in sorted(by_code, key=lambda c: CODES.index(c) if c in CODES else len(CODES))
        for found in [by_code[code]]
    ]


CHUNK = 64  # examples labelled together: TRL's preparation runs once per chunk, memory stays bounded


def check(examples: Iterable[Example], tokenizer, *args, **kwargs) -> list[Finding]:
    """Every problem of a dataset, in example order: `check_stream`'s findings as a list (same arguments)."""
    return list(check_stream(examples, tokenizer, *args, **kwargs))


def check_stream(
    examples: Iterable[Example],
    tokenizer,
    fmt: str = "as-written",
    strategies=STRATEGIES,
    settings: LabelSettings = LabelSettings(),
    max_length: int | None = TRL_DEFAULT_MAX_LENGTH,
    vocab_size: int | None = None,
    stop_ids: set[int] | None = None,
    progress: Callable[[int], None] | None = None,
) -> Iterator[Finding]:
    """Every problem of a dataset under a format and the chosen strategies, in example order (the template
    audit included: `stop_ids` are the ids generation stops on besides the tokenizer's eos), lazily: examples
    are read and labelled a chunk at a time and the findings yielded as found, so a stream of any length is
    checked in bounded memory. `progress(n)` hears of each chunk's n examples."""
    if "trl-assistant" in strategies and fmt == "chat-template" and not assistant_only_trainable(tokenizer):
        yield Finding(
            None,
            "no-generation-tags",
            (
                "the chat template has no {% generation %} markers and TRL has no training version of it: "
                "SFTTrainer(assistant_only_loss=True) would stop with an error"
            ),
            "trl-assistant",
        )
    chunk: list[Example] = []
    first = 0
    for example in examples:
        chunk.append(example)
        if len(chunk) == CHUNK:
            yield from _check_chunk(
                chunk, first, tokenizer, fmt, strategies, settings, max_length, vocab_size, stop_ids
            )
            first += len(chunk)
            if progress:
                progress(len(chunk))
            chunk = []
    if chunk:
        yield from _check_chunk(chunk, first, tokenizer, fmt, strategies, settings, max_length, vocab_size, stop_ids)
        if progress:
            progress(len(chunk))


def _check_chunk(examples, first, tokenizer, fmt, strategies, settings, max_length, vocab_size, stop_ids):
    items: list[Tokenized] = []
    indices: list[int] = []
    per_example: dict[int, list[Finding]] = {}
    for i, example in enumerate(examples, start=first):
        found = per_example.setdefault(i, [])
        for t in example.empty_turns():
            role = example.conversation.turns[t].role if example.conversation else "text"
            found.append(Finding(i, "empty-turn", f"example {i}: turn {t} ({role}) is empty"))
        if example.conversation is not None and not example.conversation.has_assistant:
            found.append(Finding(i, "fully-masked", f"example {i} has no assistant turn: nothing to learn"))
        try:
            items.append(tokenize_example(example, tokenizer, fmt))
            indices.append(i)
        except FormatError as e:
            found.append(Finding(i, "unrenderable", f"example {i}: {e}"))
    labelled = label_all(items, tokenizer, strategies, settings) if items else []
    for i, item, by_strategy in zip(indices, items, labelled):
        found = per_example[i]
        no_answer = item.example.conversation is not None and not item.example.conversation.has_assistant
        for name, labels in by_strategy.items():
            for note in labels.notes:
                if note.code and not (no_answer and note.code == "template-not-found"):
                    found.append(Finding(i, note.code, f"example {i}: {note.text}", name))
        for name, note in audit_strategies(item, by_strategy, tokenizer, stop_ids):
            strategy = None if note.code in STRUCTURAL_CODES else name  # one no strategy changes
            found.append(Finding(i, note.code, f"example {i}: {note.text}", strategy))
        found.extend(_range_findings(i, item, tokenizer, max_length, vocab_size))
    for i in range(first, first + len(examples)):
        yield from _merge(per_example.get(i, []))


def _range_findings(i: int, item: Tokenized, tokenizer, max_length: int | None, vocab_size: int | None):
    ids = item.encoded.ids
    if vocab_size is not None:
        bad = sorted({t for t in ids if t >= vocab_size or t < 0})
        if bad:
            shown = ", ".join(map(str, bad[:5]))
            yield Finding(
                i,
                "id-out-of-range",
                (
                    f"example {i}: token ids {shown} are outside the model's vocabulary of {vocab_size} "
                    '("piece id is out of range")'
                ),
            )
    if max_length is not None and len(ids) > max_length:
        completion = completion_flags(item, tokenizer)
        cut = sum(completion[max_length:])
        if cut:
            total = sum(completion)
            yield Finding(
                i,
                "truncated",
                (
                    f"example {i} has {len(ids)} tokens: max length {max_length} cuts off {cut} of its {total} "
                    "completion tokens"
                ),
            )


def _merge(found: list[Finding]) -> list[Finding]:
    """One finding per (example, code): the first sentence, naming the other strategies it also hits."""
    merged: dict[str, Finding] = {}
    also: dict[str, list[str]] = {}
    for f in found:
        if f.code not in merged:
            merged[f.code] = f
            also[f.code] = []
        elif f.strategy and merged[f.code].strategy and f.strategy != merged[f.code].strategy:
            also[f.code].append(f.strategy)
    out = []
    for code, f in merged.items():
        if also[code]:
            f = Finding(f.example, f.code, f"{f.message} (also under {', '.join(also[code])})", f.strategy)
        out.append(f)
    return out


# What a run would learn that the person most likely did not mean to: said on the Train page before Train.
BEFORE_TRAINING = (
    "prompt-trained",
    "fully-masked",
    "eos-masked",
    "tool-output-trained",
    "field-dropped",
    "weight-ignored",
    "unrenderable",
)


def before_training(
    examples: list[Example], tokenizer, fmt: str, strategy: str, settings: LabelSettings = LabelSettings()
) -> list[FindingGroup]:
    """The findings of one strategy on the examples a run would train, among those that change what it learns
    (`BEFORE_TRAINING`): e.g. special-mask training Gemma's or a chat template's prompt."""
    found = [
        f
        for f in check(examples, tokenizer, fmt, (strategy,), settings, max_length=None)
        if f.code in BEFORE_TRAINING and f.strategy in (None, strategy)
    ]
    return group_findings(found)
