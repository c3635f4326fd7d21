"""Rendered text -> Encoded tokens: ids, the text each token covers, its role, kind and special flag.

Text is tokenized the way trainers do it: text rows, prompt-completion rows and classic text with the
tokenizer's own special tokens added, chat-template text without (the template already wrote them), as TRL
does. A `Tokenized` example (the example, its rendering and its tokens) is what every strategy labels.
"""

from __future__ import annotations

from dataclasses import dataclass

from lab.data.examples import Example
from lab.errors import FormatError
from lab.labels.formats import render
from lab.labels.rendered import Rendered

VISIBLE_WHITESPACE = {" ": "·", "\n": "↵", "\t": "→", "\r": "␍"}


@dataclass(frozen=True)
class Encoded:
    """Token-level view of a Rendered example; every tuple has one entry per token."""

    ids: tuple[int, ...]
    tokens: tuple[str, ...]  # the tokenizer's own token strings (e.g. "Ġperro")
    pieces: tuple[str, ...]  # the text each token stands for
    offsets: tuple[tuple[int, int], ...]
    roles: tuple[str, ...]  # system | user | assistant | text
    kinds: tuple[str, ...]  # template | content | special
    turns: tuple[int, ...]
    parts: tuple[str, ...]  # of content tokens: "" the message's text, "reasoning", "tool-call"
    special: tuple[bool, ...]
    completion: tuple[bool, ...]  # inside the format's completion (what completion-only training keeps)

    def __len__(self) -> int:
        return len(self.ids)


def visible(text: str) -> str:
    """Whitespace made visible: · for space, ↵ for newline, → for tab."""
    return "".join(VISIBLE_WHITESPACE.get(ch, ch) for ch in text)


def special_ids(tokenizer) -> set[int]:
    """Ids of the tokenizer's special tokens (bos, eos, pad, unk, added special tokens)."""
    ids = set(tokenizer.all_special_ids)
    for token_id, token in getattr(tokenizer, "added_tokens_decoder", {}).items():
        if getattr(token, "special", False):
            ids.add(token_id)
    return ids


def encode(rendered: Rendered, tokenizer) -> Encoded:
    """Tokenize a rendered example and attach each token's role, kind and completion flag."""
    out = tokenizer(rendered.text, add_special_tokens=rendered.add_special_tokens, return_offsets_mapping=True)
    ids = list(out["input_ids"])
    offsets = [tuple(o) for o in out["offset_mapping"]]
    return encode_ids(rendered, tokenizer, ids, offsets)


def encode_ids(rendered: Rendered, tokenizer, ids: list[int], offsets: list[tuple[int, int]]) -> Encoded:
    """Build an Encoded from ids and character offsets already computed (e.g. by a batched tokenizer call)."""
    text = rendered.text
    seg_at = [None] * len(text)  # character -> segment
    for seg in rendered.segments:
        for c in range(seg.start, seg.end):
            seg_at[c] = seg
    in_completion = bytearray(len(text))
    for start, end in rendered.completion_spans:
        in_completion[start:end] = b"\x01" * (end - start)
    specials = special_ids(tokenizer)
    tokens = tokenizer.convert_ids_to_tokens(ids)
    pieces, roles, kinds, turns, completion, parts = [], [], [], [], [], []
    prev_end = -1
    fallback = rendered.segments[0] if rendered.segments else None
    for token_id, (start, end) in zip(ids, offsets):
        covered = [s for s in seg_at[start:end] if s is not None]
        if start >= end or start < prev_end:
            # No span of its own (a tokenizer-added token, or one byte of a character split over tokens).
            pieces.append(tokenizer.decode([token_id]))
        else:
            pieces.append(text[start:end])
        first = covered[0] if covered else (seg_at[start] if start < len(text) else None) or fallback
        roles.append(first.role if first else "text")
        turns.append(first.turn if first else -1)
        content = [s for s in covered if s.kind == "content"]
        parts.append(content[0].part if content and token_id not in specials else "")
        if token_id in specials:
            kinds.append("special")
        elif content:
            kinds.append("content")
        else:
            kinds.append(first.kind if first and first.kind != "special" else "template")
        completion.append(end > start and all(in_completion[start:end]))
        prev_end = max(prev_end, end)
    return Encoded(
        ids=tuple(ids),
        tokens=tuple(tokens),
        pieces=tuple(pieces),
        offsets=tuple(offsets),
        roles=tuple(roles),
        kinds=tuple(kinds),
        turns=tuple(turns),
        parts=tuple(parts),
        special=tuple(i in specials for i in ids),
        completion=tuple(completion),
    )


@dataclass(frozen=True)
class Tokenized:
    """An example rendered and tokenized: what every strategy labels."""

    example: Example
    rendered: Rendered
    encoded: Encoded


# The most text of one example the lab tokenizes and labels. Measured on SmolLM2 (2-core x86_64): 1M characters
# took 5 s and 400 MiB above the process, 4M took 17 s and 1.35 GiB; a 50 MB turn passed 9 GiB and never drew.
MAX_TEXT_CHARS = 4_000_000
BYTES_PER_CHAR = 350  # what tokenizing and labelling one character of an example held, measured as above


def tokenize_example(example: Example, tokenizer, fmt: str) -> Tokenized:
    """Render one example under a format and tokenize it; an example over MAX_TEXT_CHARS is refused in a
    sentence (FormatError) before it is tokenized."""
    size = (
        len(example.text or "")
        if example.conversation is None
        else sum(len(t.content) for t in example.conversation.turns)
    )
    if size > MAX_TEXT_CHARS:
        raise FormatError(
            f"this example holds {size:,} characters, more than the {MAX_TEXT_CHARS:,} the lab tokenizes and labels "
            f"in one example (it would take about {size * BYTES_PER_CHAR / 2**30:.0f} GiB of memory): shorten or "
            "split it"
        )
    rendered = render(example, tokenizer, fmt)
    return Tokenized(example, rendered, encode(rendered, tokenizer))
