"""What a rendering is: the text, its segments (role, turn; template, content or special) and its completion
spans, with the rows TRL is given for it; and the builder every format appends its pieces with."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Segment:
    """Characters [start, end) of the text: which turn's role, and whether template, content or special."""

    start: int
    end: int
    role: str  # system | user | assistant | tool (or any role a row writes) | text
    kind: str  # template | content | special
    turn: int  # index of the turn (-1 for raw text)
    part: str = ""  # of a message's content: "" its text, "reasoning", "tool-call"


@dataclass(frozen=True)
class Rendered:
    """A rendered example: the text, its segments, its completion spans, and its TRL rows."""

    text: str
    segments: tuple[Segment, ...]
    format: str
    completion_spans: tuple[tuple[int, int], ...] = ()
    trl_completion_row: dict[str, Any] | None = None  # prompt-completion row, None when not expressible
    trl_messages_row: dict[str, Any] | None = None  # conversational row for assistant-only loss
    notes: tuple[str, ...] = field(default=())
    add_special_tokens: bool = True  # tokenized with the tokenizer's own special tokens (not after a template)


def special_token_strings(tokenizer) -> list[str]:
    """Special and added-special token strings, longest first (so matching prefers the longer one)."""
    return list(_special_strings(tokenizer))


@functools.lru_cache(maxsize=32)
def _special_strings(tokenizer) -> tuple[str, ...]:
    strings = set(tokenizer.all_special_tokens)
    for token in getattr(tokenizer, "added_tokens_decoder", {}).values():
        if getattr(token, "special", False):
            strings.add(str(token))
    return tuple(sorted((s for s in strings if s), key=len, reverse=True))


@functools.lru_cache(maxsize=16)
def _special_pattern(specials: tuple[str, ...]) -> re.Pattern:
    return re.compile("|".join(re.escape(s) for s in specials))


def without_specials(text: str, specials: list[str]) -> str:
    """The text with every special token string taken out."""
    return _special_pattern(tuple(specials)).sub("", text) if specials else text


def _split_special(start: int, text: str, role: str, turn: int, specials: list[str]) -> list[Segment]:
    """Cut template text into template and special segments wherever a special token string occurs."""
    if not text:
        return []
    if not specials:
        return [Segment(start, start + len(text), role, "template", turn)]
    pattern = _special_pattern(tuple(specials))
    out, pos = [], 0
    for m in pattern.finditer(text):
        if m.start() > pos:
            out.append(Segment(start + pos, start + m.start(), role, "template", turn))
        out.append(Segment(start + m.start(), start + m.end(), role, "special", turn))
        pos = m.end()
    if pos < len(text):
        out.append(Segment(start + pos, start + len(text), role, "template", turn))
    return out


class Builder:
    """Appends pieces of text and records their segments."""

    def __init__(self, specials: list[str]):
        self.text = ""
        self.segments: list[Segment] = []
        self.specials = specials

    def _push(self, seg: Segment) -> None:
        last = self.segments[-1] if self.segments else None
        if (
            last
            and seg.kind == "template"
            and (last.kind, last.role, last.turn, last.end) == ("template", seg.role, seg.turn, seg.start)
        ):
            self.segments[-1] = Segment(last.start, seg.end, seg.role, "template", seg.turn)
        else:
            self.segments.append(seg)

    def template(self, piece: str, role: str, turn: int) -> None:
        for seg in _split_special(len(self.text), piece, role, turn, self.specials):
            self._push(seg)
        self.text += piece

    def content(self, piece: str, role: str, turn: int) -> None:
        if piece:
            self._push(Segment(len(self.text), len(self.text) + len(piece), role, "content", turn))
        self.text += piece

    def written(self, piece: str, role: str) -> None:
        """Text a row holds as written (no turn): content, its special token strings marked special."""
        for seg in _split_special(len(self.text), piece, role, -1, self.specials):
            self._push(Segment(seg.start, seg.end, role, "special" if seg.kind == "special" else "content", -1))
        self.text += piece

    def special(self, piece: str, role: str, turn: int) -> None:
        if piece:
            self._push(Segment(len(self.text), len(self.text) + len(piece), role, "special", turn))
        self.text += piece
