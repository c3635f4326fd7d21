"""Edits of a dataset, each a pure function: it returns a new list of examples and leaves its input alone.

The Examples page applies them to the saved set; `problems` and `preview` describe one example in words.
"""

from __future__ import annotations

import json
import unicodedata
from dataclasses import replace

from lab.data.examples import REASONING_KEYS, ROLES, Conversation, Example, Turn, shape_kept
from lab.data.markers import split_classic_text
from lab.errors import DataError


def _turns(example: Example) -> list[Turn]:
    if example.conversation is None:
        raise DataError("this example is plain text with no turns; edit its text instead")
    return list(example.conversation.turns)


def _with_turns(example: Example, turns: list[Turn]) -> Example:
    return shape_kept(replace(example, conversation=Conversation(tuple(turns))))


def _check_index(items: list, i: int, what: str) -> None:
    if not 0 <= i < len(items):
        raise DataError(f"there is no {what} {i}")


def set_turn(
    examples: list[Example], i: int, t: int, role: str | None = None, content: str | None = None
) -> list[Example]:
    """Change the role and/or the content of turn t of example i."""
    _check_index(examples, i, "example")
    turns = _turns(examples[i])
    _check_index(turns, t, "turn")
    if role is not None and role not in ROLES and role != turns[t].role:
        raise DataError(f"unknown role '{role}'; roles: {', '.join(ROLES)}")
    turns[t] = replace(turns[t], role=role or turns[t].role, content=turns[t].content if content is None else content)
    return examples[:i] + [_with_turns(examples[i], turns)] + examples[i + 1 :]


def set_reasoning(examples: list[Example], i: int, t: int, text: str) -> list[Example]:
    """Set the reasoning of turn t (in the key it was written under, `reasoning_content` for a new one); an
    empty text removes it."""
    _check_index(examples, i, "example")
    turns = _turns(examples[i])
    _check_index(turns, t, "turn")
    other = turns[t].other()
    key = next((k for k in REASONING_KEYS if isinstance(other.get(k), str)), "reasoning_content")
    turns[t] = turns[t].with_fields(**{key: text or None})
    return examples[:i] + [_with_turns(examples[i], turns)] + examples[i + 1 :]


def set_tool_call(examples: list[Example], i: int, t: int, k: int, name: str, arguments: str) -> list[Example]:
    """Set tool call k of turn t: its function name and its arguments, given as JSON text (an object). The call
    keeps its other keys (`id`, `type`) and its form (OpenAI's `function` wrapper or flat); arguments written as
    JSON text stay text. A malformed call raises DataError and nothing is written."""
    _check_index(examples, i, "example")
    turns = _turns(examples[i])
    _check_index(turns, t, "turn")
    calls = turns[t].tool_calls
    _check_index(calls, k, "tool call")
    if not name.strip():
        raise DataError(f"tool call {k} of turn {t} needs a function name")
    try:
        parsed = json.loads(arguments)
    except json.JSONDecodeError as e:
        raise DataError(f"the arguments of tool call {k} are not JSON ({e.msg} at column {e.colno})") from None
    if not isinstance(parsed, dict):
        raise DataError(f"the arguments of tool call {k} must be a JSON object, not {type(parsed).__name__}")
    call = dict(calls[k])
    inner = dict(call["function"]) if isinstance(call.get("function"), dict) else call
    inner["name"] = name.strip()
    inner["arguments"] = json.dumps(parsed, ensure_ascii=False) if isinstance(inner.get("arguments"), str) else parsed
    if inner is not call:
        call["function"] = inner
    turns[t] = turns[t].with_fields(tool_calls=[*calls[:k], call, *calls[k + 1 :]])
    return examples[:i] + [_with_turns(examples[i], turns)] + examples[i + 1 :]


def set_tools(examples: list[Example], i: int, text: str) -> list[Example]:
    """Set the row's tools from JSON text: a list of tool schemas ("" removes them). Raises DataError."""
    _check_index(examples, i, "example")
    _turns(examples[i])
    if not text.strip():
        return examples[:i] + [replace(examples[i], tools="")] + examples[i + 1 :]
    try:
        tools = json.loads(text)
    except json.JSONDecodeError as e:
        raise DataError(f"the tools are not JSON ({e.msg} at line {e.lineno} column {e.colno})") from None
    if not isinstance(tools, list) or not all(isinstance(tool, dict) for tool in tools):
        raise DataError("the tools must be a JSON list of tool schemas (objects)")
    return examples[:i] + [replace(examples[i], tools=json.dumps(tools, ensure_ascii=False))] + examples[i + 1 :]


def set_text(examples: list[Example], i: int, text: str) -> list[Example]:
    """Replace the text of a plain-text example."""
    _check_index(examples, i, "example")
    return examples[:i] + [replace(examples[i], text=text)] + examples[i + 1 :]


def text_to_turns(examples: list[Example], i: int) -> list[Example]:
    """Turn a plain-text example written with `### Human:` / `### Assistant:` markers into a conversation (an
    explicit edit: the rendering then comes from the format, and what lay between the markers is trimmed)."""
    _check_index(examples, i, "example")
    example = examples[i]
    if example.conversation is not None:
        raise DataError("this example is already a conversation")
    conv = split_classic_text(example.text or "")
    if conv is None:
        raise DataError("this text has no `### Human:` / `### Assistant:` markers to split it at")
    return examples[:i] + [replace(example, conversation=conv, text=None, shape="messages")] + examples[i + 1 :]


def next_role(example: Example) -> str:
    """The role a new turn most likely has: user after an assistant (or at the start), else assistant."""
    turns = _turns(example)
    return "assistant" if turns and turns[-1].role == "user" else "user"


def add_turn(examples: list[Example], i: int, role: str | None = None, content: str = "") -> list[Example]:
    """Add a turn to example i: at the end (role: the next one in the user/assistant alternation by default),
    or, for a system turn, first: a system turn opens a conversation."""
    _check_index(examples, i, "example")
    turns = _turns(examples[i])
    role = role or next_role(examples[i])
    if role == "system":
        if any(t.role == "system" for t in turns):
            raise DataError("this conversation already has a system turn; edit that one")
        turns.insert(0, Turn(role, content))
    else:
        turns.append(Turn(role, content))
    return examples[:i] + [_with_turns(examples[i], turns)] + examples[i + 1 :]


def delete_turn(examples: list[Example], i: int, t: int) -> list[Example]:
    _check_index(examples, i, "example")
    turns = _turns(examples[i])
    _check_index(turns, t, "turn")
    if len(turns) == 1:  # a row with no messages cannot be saved or read back
        raise DataError("an example keeps at least one turn; delete the example instead")
    return examples[:i] + [_with_turns(examples[i], turns[:t] + turns[t + 1 :])] + examples[i + 1 :]


def _moved(items: list, k: int, delta: int) -> list:
    j = k + delta
    if not 0 <= j < len(items):
        return list(items)
    items = list(items)
    items[k], items[j] = items[j], items[k]
    return items


def move_turn(examples: list[Example], i: int, t: int, delta: int) -> list[Example]:
    """Move turn t of example i up (delta -1) or down (+1); at an end it stays."""
    _check_index(examples, i, "example")
    turns = _turns(examples[i])
    _check_index(turns, t, "turn")
    return examples[:i] + [_with_turns(examples[i], _moved(turns, t, delta))] + examples[i + 1 :]


def blank_example() -> Example:
    return Example(conversation=Conversation((Turn("user", ""), Turn("assistant", ""))))


def insert_example(examples: list[Example], at: int, example: Example | None = None) -> list[Example]:
    """Insert an example (a blank user/assistant pair by default) before position `at`."""
    at = max(0, min(at, len(examples)))
    return examples[:at] + [example or blank_example()] + examples[at:]


def delete_example(examples: list[Example], i: int) -> list[Example]:
    _check_index(examples, i, "example")
    return examples[:i] + examples[i + 1 :]


def move_example(examples: list[Example], i: int, delta: int) -> list[Example]:
    _check_index(examples, i, "example")
    return _moved(examples, i, delta)


def problems(example: Example) -> list[str]:
    """What makes an example unfit to train on, in words (empty turns, no assistant turn)."""
    out = []
    if example.conversation is None:
        if not (example.text or "").strip():
            out.append("the text is empty")
        return out
    for t in example.empty_turns():
        out.append(f"turn {t} ({example.conversation.turns[t].role}) is empty")
    if not example.conversation.turns:
        out.append("it has no turns")
    elif not example.conversation.has_assistant:
        out.append("it has no assistant turn, so there is nothing to learn")
    return out


def shown_plainly(text: str) -> str:
    """Text with its invisible controls written out (`⟨U+202E⟩`): a right-to-left override or a lone surrogate
    in someone's data must not reorder or break what a page shows."""
    return "".join(
        f"⟨U+{ord(ch):04X}⟩" if unicodedata.category(ch) in ("Cc", "Cf", "Cs") and ch not in "\n\t" else ch
        for ch in text
    )


def preview(example: Example, width: int = 60) -> str:
    """A one-line summary: the first user turn (or the text), shortened, invisible controls written out."""
    if example.conversation is None:
        text = example.text or ""
    else:
        firsts = [t.content for t in example.conversation.turns if t.role == "user"] or [
            t.content for t in example.conversation.turns
        ]
        text = firsts[0] if firsts else ""
    text = shown_plainly(" ".join(text.split()))
    return text if len(text) <= width else text[: width - 1] + "…"
