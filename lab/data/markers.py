"""Seed 000's `### Human:` / `### Assistant:` markers in plain text: where they are, and (only when a person
asks for it) the conversation they spell."""

from __future__ import annotations

import re

from lab.data.examples import Conversation, Turn

CLASSIC_MARKER = re.compile(r"\s*### (Human|Assistant|System):")
CLASSIC_ROLE = {"Human": "user", "Assistant": "assistant", "System": "system"}


def marker_roles(text: str) -> list[tuple[int, int, str, str]]:
    """(start, end, role, kind) pieces that cover `text` exactly: each marker (kind `template`) and the text
    after it up to the next one (`content`) take the marker's role; text before the first marker is `text`.
    Nothing is changed: the pieces join back into `text`."""
    pieces, pos, role = [], 0, "text"
    for m in CLASSIC_MARKER.finditer(text):
        if m.start() > pos:
            pieces.append((pos, m.start(), role, "content"))
        role = CLASSIC_ROLE[m.group(1)]
        pieces.append((m.start(), m.end(), role, "template"))
        pos = m.end()
    if pos < len(text):
        pieces.append((pos, len(text), role, "content"))
    return pieces


def split_classic_text(text: str) -> Conversation | None:
    """Split `### Human:` / `### Assistant:` text into turns, each trimmed; None when it has no markers or
    text comes before the first one."""
    matches = list(CLASSIC_MARKER.finditer(text))
    if not matches or text[: matches[0].start()].strip():
        return None
    turns = []
    for m, nxt in zip(matches, matches[1:] + [None]):
        body = text[m.end() : nxt.start() if nxt else len(text)]
        turns.append(Turn(CLASSIC_ROLE[m.group(1)], body.strip()))
    return Conversation(tuple(turns))
