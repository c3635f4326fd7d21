"""The row shapes people hold that TRL does not read as they are, converted to TRL's `messages`, out loud.

ShareGPT   {"conversations": [{"from", "value"}], "system"?, "tools"?}: human → user, gpt → assistant,
           function_call → an assistant tool call, observation and tool → tool (LLaMA-Factory's sharegpt shape)
Alpaca     {"instruction", "input"?, "output", "system"?, "history"?}: history pairs, then the instruction and the
           input joined by a newline as the user turn, the output as the answer (as LLaMA-Factory joins them)

Each conversion returns the row in TRL's shape and a sentence that says what it did; nothing is renamed
silently. OpenAI's chat fine-tuning rows are TRL's `messages` already: their `weight` keys stay on the messages.
"""

from __future__ import annotations

import json
from typing import Any

from lab.errors import DataError

SHAREGPT_ROLES = {
    "human": "user",
    "user": "user",
    "gpt": "assistant",
    "assistant": "assistant",
    "system": "system",
    "function_call": "assistant",
    "observation": "tool",
    "tool": "tool",
}
ALPACA_KEYS = ("instruction", "output")


def is_sharegpt(row: dict[str, Any]) -> bool:
    turns = row.get("conversations")
    return isinstance(turns, list) and bool(turns) and isinstance(turns[0], dict) and "from" in turns[0]


def is_alpaca(row: dict[str, Any]) -> bool:
    return all(k in row for k in ALPACA_KEYS) and "messages" not in row


def _tool_call(value: Any, where: str, k: int) -> dict[str, Any]:
    """A ShareGPT `function_call` turn's value (JSON text `{"name", "arguments"}`) as an OpenAI tool call."""
    try:
        call = json.loads(value) if isinstance(value, str) else value
    except json.JSONDecodeError as e:
        raise DataError(f"{where}: turn {k} is a function_call whose value is not JSON ({e.msg})") from None
    calls = call if isinstance(call, list) else [call]
    if not all(isinstance(c, dict) and "name" in c for c in calls):
        raise DataError(f"{where}: turn {k} is a function_call without a 'name'")
    return [{"type": "function", "function": {"name": c["name"], "arguments": c.get("arguments", {})}} for c in calls]


def from_sharegpt(row: dict[str, Any], where: str) -> tuple[dict[str, Any], str]:
    """A ShareGPT row -> (TRL's messages row, the sentence that says how it was read)."""
    messages, seen = [], {}
    if isinstance(row.get("system"), str) and row["system"]:
        messages.append({"role": "system", "content": row["system"]})
    for k, turn in enumerate(row["conversations"]):
        if not isinstance(turn, dict) or "from" not in turn or "value" not in turn:
            raise DataError(f"{where}: conversation turn {k} needs a 'from' and a 'value'")
        source = str(turn["from"])
        if source not in SHAREGPT_ROLES:
            known = ", ".join(SHAREGPT_ROLES)
            raise DataError(f"{where}: conversation turn {k} is from '{source}'; ShareGPT's are {known}")
        role = SHAREGPT_ROLES[source]
        seen[source] = role
        extra = {key: v for key, v in turn.items() if key not in ("from", "value")}
        if source == "function_call":
            messages.append({"role": role, "content": "", "tool_calls": _tool_call(turn["value"], where, k), **extra})
        else:
            messages.append({"role": role, "content": turn["value"], **extra})
    out = {"messages": messages}
    if row.get("tools"):
        out["tools"] = json.loads(row["tools"]) if isinstance(row["tools"], str) else row["tools"]
    rest = {k: v for k, v in row.items() if k not in ("conversations", "system", "tools")}
    words = {"function_call": "an assistant tool call"}
    mapping = ", ".join(f"{s} → {words.get(s, r)}" for s, r in seen.items() if s != r)
    said = "read as ShareGPT" + (f": {mapping}" if mapping else "")
    if row.get("system"):
        said += "; its system column → a system turn"
    if "tools" in out:
        said += "; its tools → the row's tools"
    if any(s in seen for s in ("human", "gpt", "function_call", "observation")):
        said += " (TRL renames only from/value, and would pass these roles to the template as written)"
    return out | rest, said


def from_alpaca(row: dict[str, Any], where: str) -> tuple[dict[str, Any], str]:
    """An Alpaca row -> (TRL's messages row, the sentence that says how it was read)."""
    for key in ("instruction", "input", "output", "system"):
        if row.get(key) is not None and not isinstance(row[key], str):
            raise DataError(f"{where}: Alpaca's '{key}' must be text")
    messages = [{"role": "system", "content": row["system"]}] if row.get("system") else []
    history = row.get("history") or []
    if not isinstance(history, list) or not all(isinstance(p, (list, tuple)) and len(p) == 2 for p in history):
        raise DataError(f"{where}: Alpaca's 'history' must be a list of [instruction, answer] pairs")
    for question, answer in history:
        messages += [{"role": "user", "content": str(question)}, {"role": "assistant", "content": str(answer)}]
    query = "\n".join(part for part in (row["instruction"], row.get("input") or "") if part)
    messages += [{"role": "user", "content": query}, {"role": "assistant", "content": row["output"]}]
    rest = {k: v for k, v in row.items() if k not in ("instruction", "input", "output", "system", "history")}
    said = "read as Alpaca: instruction and input (joined by a newline) → user, output → assistant"
    if row.get("system"):
        said += ", system → a system turn"
    if history:
        said += f", {len(history)} history pair{'s' if len(history) > 1 else ''} → earlier turns"
    return {"messages": messages} | rest, said


def converted(row: dict[str, Any], where: str) -> tuple[dict[str, Any], str]:
    """The row in a shape TRL reads, and how it was converted ("" when it already was one)."""
    if "messages" not in row and is_sharegpt(row):
        return from_sharegpt(row, where)
    if "text" not in row and "prompt" not in row and is_alpaca(row):
        return from_alpaca(row, where)
    return row, ""
