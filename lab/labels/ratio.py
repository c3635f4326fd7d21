"""The generation ratio of a dataset (seed 002): Rg = completion tokens / prompt tokens per example.

Under a format, an example's completion tokens are those its completion-only mask trains on (`classic` and
text rows: the special-mask strategy, i.e. each answer and its closing eos; a prompt-completion string row as
written: its completion and eos; a conversation through the chat template: the assistant turns after the
generation prompt, end-of-turn token included); every other token is a prompt token.
Multi-turn examples sum over their turns. An example with no completion or no prompt tokens is skipped,
counted and named, never silently dropped.

Texts are tokenized in batches by the fast tokenizer; the completion is found from ids (special-mask) or
from character offsets (chat-template), with the same result as `labels.completion_flags` per example.
"""

from __future__ import annotations

import math
import statistics
from array import array
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

import numpy as np

from lab.data.examples import Example
from lab.errors import FormatError
from lab.labels.formats import FORMATS, apply_chat_template, render
from lab.labels.strategies import bos_opens_text, special_mask_flags

BATCH = 2048


@dataclass(frozen=True)
class ExampleRatio:
    """Token counts of one example; `skipped` says why it is left out of the statistics."""

    index: int
    prompt_tokens: int
    completion_tokens: int
    skipped: str | None = None

    @property
    def ratio(self) -> float | None:
        return None if self.skipped else self.completion_tokens / self.prompt_tokens


@dataclass(frozen=True)
class RatioStats:
    """Rg statistics of a dataset, and the totals that decide the prompt's share of the loss.

    Per example it keeps two counts in compact arrays (16 bytes a row) and the reasons of the skipped ones, so a
    million rows cost megabytes; `per_example` builds the ExampleRatio objects when asked."""

    prompt_counts: np.ndarray  # per example, in order
    completion_counts: np.ndarray
    skipped_reasons: dict[int, str]  # example index -> why it is not counted
    count: int
    arithmetic_mean: float | None
    geometric_mean: float | None
    median: float | None
    share_above_1: float | None
    prompt_tokens: int  # P, summed over the counted examples
    completion_tokens: int  # C

    @property
    def per_example(self) -> tuple[ExampleRatio, ...]:
        return tuple(
            ExampleRatio(i, int(p), int(c), self.skipped_reasons.get(i))
            for i, (p, c) in enumerate(zip(self.prompt_counts, self.completion_counts))
        )

    @property
    def skipped(self) -> tuple[ExampleRatio, ...]:
        return tuple(
            ExampleRatio(i, int(self.prompt_counts[i]), int(self.completion_counts[i]), why)
            for i, why in sorted(self.skipped_reasons.items())
        )

    @property
    def examples(self) -> int:
        return len(self.prompt_counts)

    def why_nothing_counted(self) -> str:
        """Why no example was counted, in one sentence: a template or format that renders none of them is
        named as the cause, not the token counts it left at zero."""
        reasons = set(self.skipped_reasons.values())
        if self.skipped_reasons and len(self.skipped_reasons) == self.examples and len(reasons) == 1:
            return f"no example could be counted: every one {reasons.pop()}"
        return "no example has both prompt and completion tokens"

    def ratios(self) -> list[float]:
        return self._ratios().tolist()

    def _ratios(self) -> np.ndarray:
        counted = self._counted()
        return self.completion_counts[counted] / self.prompt_counts[counted]

    def _counted(self) -> np.ndarray:
        mask = np.ones(self.examples, dtype=bool)
        mask[list(self.skipped_reasons)] = False
        return mask

    def loss_share(self, prompt_weight: float) -> float | None:
        """The prompt tokens' share of the loss under weight w: w*P / (w*P + C) (seed 002's weighted loss)."""
        return prompt_loss_share(self.prompt_tokens, self.completion_tokens, prompt_weight)

    def effective_tokens(self, prompt_weight: float) -> float:
        """The effective number of trained tokens, w*P + C."""
        return prompt_weight * self.prompt_tokens + self.completion_tokens

    def to_json(self) -> dict:
        """The `python -m lab ratio --json` object."""
        return {
            "count": self.count,
            "skipped": len(self.skipped_reasons),
            "arithmetic_mean": self.arithmetic_mean,
            "geometric_mean": self.geometric_mean,
            "median": self.median,
            "share_above_1": self.share_above_1,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "per_example": [e.ratio for e in self.per_example],
            "skipped_examples": [{"example": e.index, "reason": e.skipped} for e in self.skipped],
        }


def prompt_loss_share(prompt_tokens: int, completion_tokens: int, prompt_weight: float) -> float | None:
    """w*P / (w*P + C); None when nothing is weighted at all."""
    total = prompt_weight * prompt_tokens + completion_tokens
    return None if total == 0 else prompt_weight * prompt_tokens / total


def statistics_of(per_example: list[ExampleRatio]) -> RatioStats:
    """Count, arithmetic and geometric mean (mean of the logs, back-transformed), median and share above 1."""
    prompts = np.array([e.prompt_tokens for e in per_example], dtype=np.int64)
    completions = np.array([e.completion_tokens for e in per_example], dtype=np.int64)
    return _statistics(prompts, completions, {e.index: e.skipped for e in per_example if e.skipped})


def _statistics(prompts: np.ndarray, completions: np.ndarray, skipped: dict[int, str]) -> RatioStats:
    mask = np.ones(len(prompts), dtype=bool)
    mask[list(skipped)] = False
    ratios = completions[mask] / np.maximum(prompts[mask], 1)
    if not len(ratios):
        return RatioStats(prompts, completions, skipped, 0, None, None, None, None, 0, 0)
    return RatioStats(
        prompt_counts=prompts,
        completion_counts=completions,
        skipped_reasons=skipped,
        count=len(ratios),
        arithmetic_mean=float(math.fsum(ratios.tolist()) / len(ratios)),
        geometric_mean=float(math.exp(math.fsum(np.log(ratios).tolist()) / len(ratios))),
        median=float(statistics.median(ratios.tolist())),
        share_above_1=float(np.count_nonzero(ratios > 1) / len(ratios)),
        prompt_tokens=int(prompts[mask].sum()),
        completion_tokens=int(completions[mask].sum()),
    )


def _special_mask_count(ids: list[int], bos: int | None, eos: int | None, opens_text: bool) -> int:
    """Tokens special-mask keeps (labels.special_mask, counted)."""
    return sum(special_mask_flags(ids, bos, eos, opens_text))


def _span_count(text: str, spans, offsets: list[tuple[int, int]]) -> int:
    """Tokens whose characters lie wholly inside the completion spans (tokens.encode_ids' completion flag)."""
    if not spans or not offsets:
        return 0
    inside = np.zeros(len(text) + 1, dtype=np.int64)
    for start, end in spans:
        inside[start + 1 : end + 1] = 1
    cumulative = np.cumsum(inside)
    spans = np.asarray(offsets, dtype=np.int64)
    starts, ends = spans[:, 0], spans[:, 1]
    return int(np.count_nonzero((ends > starts) & (cumulative[ends] - cumulative[starts] == ends - starts)))


def count_tokens(examples: Iterable[Example], tokenizer, fmt: str = "as-written") -> list[ExampleRatio]:
    """Prompt and completion token counts of every example, tokenized in batches."""
    return [e for batch in _batches(examples, tokenizer, fmt) for e in batch]


def _batches(examples: Iterable[Example], tokenizer, fmt: str) -> Iterator[list[ExampleRatio]]:
    if fmt not in FORMATS:
        raise FormatError(f"unknown format '{fmt}'; use one of {', '.join(FORMATS)}")
    batch, first = [], 0
    for example in examples:
        batch.append(example)
        if len(batch) == BATCH:
            yield _count_batch(batch, first, tokenizer, fmt)
            first, batch = first + len(batch), []
    if batch:
        yield _count_batch(batch, first, tokenizer, fmt)


def _chat_spans(example: Example, tokenizer) -> tuple[str, tuple[tuple[int, int], ...]]:
    """Text and completion spans under the chat template, from fewer renders than `formats.render` makes.

    Counting needs no segments, so each answer costs two renders: the conversation up to it with the generation
    prompt (where the completion starts) and with the answer (where it ends). When the template is not
    prefix-consistent, the full render decides, so the result always equals `formats.render`'s spans.
    """
    messages = example.conversation.messages()
    arguments = example.template_arguments()
    spans, known = [], ""
    for i, message in enumerate(messages):
        if message["role"] != "assistant":
            continue
        with_prompt = apply_chat_template(tokenizer, messages[:i], generation_prompt=True, arguments=arguments)
        full = apply_chat_template(tokenizer, messages[: i + 1], arguments=arguments)
        if not (with_prompt.startswith(known) and full.startswith(with_prompt)):
            rendered = render(example, tokenizer, "chat-template")
            return rendered.text, rendered.completion_spans
        spans.append((len(with_prompt), len(full)))
        known = full
    ends_with_answer = bool(messages) and messages[-1]["role"] == "assistant"
    text = known if ends_with_answer else apply_chat_template(tokenizer, messages, arguments=arguments)
    if not text.startswith(known):
        rendered = render(example, tokenizer, "chat-template")
        return rendered.text, rendered.completion_spans
    return text, tuple(spans)


def _count_batch(batch: list[Example], first: int, tokenizer, fmt: str) -> list[ExampleRatio]:
    # Per example: its text, its completion spans (None: special-mask counts), and whether the tokenizer adds
    # its own special tokens (not after a chat template), as `tokens.encode` tokenizes it.
    rendered: list[tuple[str, tuple | None, bool] | None] = []
    problems: dict[int, str] = {}
    for k, example in enumerate(batch):
        try:
            if fmt != "classic" and example.conversation is not None and not _as_strings(example, fmt):
                text, spans = _chat_spans(example, tokenizer)
                rendered.append((text, spans, False))
            else:
                r = render(example, tokenizer, fmt)
                spans = r.completion_spans if r.format == "prompt-completion" else None
                rendered.append((r.text, spans, r.add_special_tokens))
        except FormatError as e:
            rendered.append(None)
            problems[k] = f"cannot be rendered: {e}"
    encoded: dict[int, tuple[list[int], list | None]] = {}
    for add_special in (True, False):
        ks = [k for k, r in enumerate(rendered) if r is not None and r[2] == add_special]
        if not ks:
            continue
        by_spans = any(rendered[k][1] is not None for k in ks)
        out = tokenizer([rendered[k][0] for k in ks], add_special_tokens=add_special, return_offsets_mapping=by_spans)
        for j, k in enumerate(ks):
            encoded[k] = (out["input_ids"][j], out["offset_mapping"][j] if by_spans else None)
    bos, eos = tokenizer.bos_token_id, tokenizer.eos_token_id
    out = []
    for k, (example, r) in enumerate(zip(batch, rendered)):
        if r is None:
            out.append(ExampleRatio(first + k, 0, 0, problems[k]))
            continue
        ids, offsets = encoded[k]
        if r[1] is not None:
            completion = _span_count(r[0], r[1], offsets)
        else:
            completion = _special_mask_count(ids, bos, eos, bos_opens_text(tokenizer))
        prompt = len(ids) - completion
        reason = None
        if example.conversation is not None and not example.conversation.has_assistant:
            reason = "no assistant turn: no completion tokens"
        elif completion == 0:
            reason = "no completion tokens" + ("" if example.conversation else " (plain text with no bos)")
        elif prompt == 0:
            reason = "no prompt tokens"
        out.append(ExampleRatio(first + k, prompt, completion, reason))
    return out


def _as_strings(example: Example, fmt: str) -> bool:
    """Whether a conversation is rendered from its strings (a prompt-completion string row, as written)."""
    return fmt == "as-written" and example.shape == "prompt-completion"


def generation_ratio(
    examples: Iterable[Example], tokenizer, fmt: str = "as-written", progress: Callable[[int], None] | None = None
) -> RatioStats:
    """Rg of every example and the dataset's statistics under a format. Examples are read lazily, a batch at a
    time, so a stream of a million rows is counted in bounded memory; `progress(n)` hears of each batch's n."""
    prompts, completions, skipped = array("q"), array("q"), {}
    for batch in _batches(examples, tokenizer, fmt):
        for e in batch:
            prompts.append(e.prompt_tokens)
            completions.append(e.completion_tokens)
            if e.skipped:
                skipped[e.index] = e.skipped
        if progress:
            progress(len(batch))
    return _statistics(np.frombuffer(prompts, dtype=np.int64), np.frombuffer(completions, dtype=np.int64), skipped)
