"""Datasets in the shapes people have, read into examples and written back.

The row shapes TRL reads are kept as they are:
  {"messages": [{"role", "content", ...}, ...], "tools"?, "chat_template_kwargs"?}   conversational
  {"prompt": ..., "completion": ...}               prompt-completion (strings or message lists)
  {"text": ...}                                    plain text, kept as written (`### Human:` markers included)
Every key of a message (tool calls, tool turns, reasoning, content parts, OpenAI's `weight`) is kept, and so
are a row's other columns. ShareGPT and Alpaca rows are converted to `messages`, and say so (`shapes`).
Each example remembers its row's shape, so it is tokenized as TRL treats that shape and written back in it.

Sources: .jsonl, .json (an array or an object of columns), .csv, .parquet, .arrow, a `datasets` `save_to_disk`
folder, a hub id (`org/name[:config][:split]`, through `datasets.load_dataset`), a built-in sample
(`sample:NAME`) or the ChatterBot corpus (`chatterbot:LANGUAGE[/TOPIC]`). `iter_examples` reads lazily.
"""

from __future__ import annotations

import json
import random
import re
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

from lab.common import CHATTERBOT_PREFIX, SAMPLE_PREFIX
from lab.data.corpora import load_chatterbot
from lab.data.examples import Conversation, Example, Turn, example_to_row, parts_text
from lab.data.files import iter_rows, jsonl_rows
from lab.data.shapes import converted
from lab.errors import DataError

SAMPLES_DIR = Path(__file__).parent / "samples"


# -- rows -----------------------------------------------------------------------------------------


def _messages_from(value: Any, where: str) -> list[Turn]:
    """Messages as written -> turns that keep every key; a role is any text (the chat template judges it)."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as e:
            raise DataError(f"{where}: 'messages' is text but not a JSON list ({e.msg})") from None
    if not isinstance(value, (list, tuple)) or not value:
        raise DataError(f"{where}: 'messages' must be a non-empty list of {{role, content}} objects")
    turns = []
    for i, m in enumerate(value):
        if not isinstance(m, dict) or "role" not in m:
            raise DataError(f"{where}: message {i} needs a 'role'")
        role, content = m["role"], m.get("content")
        if not isinstance(role, str) or not role.strip():
            raise DataError(f"{where}: message {i} has no role")
        if "content" not in m and not m.get("tool_calls"):
            raise DataError(f"{where}: message {i} needs a 'content' (or, for an assistant, 'tool_calls')")
        fields = {k: _plain(v) for k, v in m.items() if k not in ("role", "content")}
        fields = {k: v for k, v in fields.items() if v is not None}  # a table's empty cell, not a key written
        extra = json.dumps(fields, ensure_ascii=False) if fields else ""
        if isinstance(content, str):
            turns.append(Turn(role, content, extra))
        elif content is None:
            turns.append(Turn(role, "", extra, "null" if "content" in m else ""))
        elif isinstance(content, (list, tuple)):
            parts = [_plain(p) for p in content]
            if not all(isinstance(p, dict) and "type" in p for p in parts):
                raise DataError(f"{where}: message {i} content is a list, but not of parts with a 'type'")
            turns.append(Turn(role, parts_text(parts), extra, json.dumps(parts, ensure_ascii=False)))
        else:
            raise DataError(f"{where}: message {i} content must be text or a list of parts")
    return turns


def _plain(value: Any) -> Any:
    """A value read from Parquet or Arrow as plain JSON values: numpy arrays become lists, recursively."""
    if hasattr(value, "tolist"):
        value = value.tolist()
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


_SURROGATE = re.compile("[\ud800-\udfff]")  # a lone one: JSON's \\ud800 escape parses to it, UTF-8 refuses it


def example_from_row(row: dict[str, Any], where: str) -> Example:
    """One row of any supported shape -> Example (with the row's `id`, if any); DataError naming `where`."""
    if not isinstance(row, dict):
        raise DataError(f"{where}: expected an object, found {type(row).__name__}")
    half = _SURROGATE.search(json.dumps(row, ensure_ascii=False, default=str))
    if half:
        raise DataError(
            f"{where}: holds \\u{ord(half.group()):04x}, half of a UTF-16 surrogate pair and not a character "
            "(no text encoding can carry it): fix the escape in the file"
        )
    row, read_as = converted(row, where)
    example = _example(row, where)
    uid = row.get("id")
    known = {"id", "messages", "prompt", "completion", "text", "tools", "chat_template_kwargs"}
    rest = {k: _plain(v) for k, v in row.items() if k not in known and v is not None}
    kept = {"columns": json.dumps(rest, ensure_ascii=False) if rest else "", "read_as": read_as}
    if example.conversation is not None:
        kept |= _template_inputs(row, where)
    if isinstance(uid, (str, int)) and str(uid):
        kept["uid"] = str(uid)
    return replace(example, **kept)


def _template_inputs(row: dict[str, Any], where: str) -> dict[str, str]:
    """A conversation row's `tools` and `chat_template_kwargs`, as SFTTrainer passes them to the template."""
    out = {}
    tools = _plain(row.get("tools"))
    if isinstance(tools, str):
        try:
            json.loads(tools)
        except json.JSONDecodeError as e:
            raise DataError(f"{where}: 'tools' is text but not JSON ({e.msg})") from None
    if tools not in (None, "", []):
        if not isinstance(tools, (list, str)):
            raise DataError(f"{where}: 'tools' must be a list of tool schemas")
        out["tools"] = json.dumps(tools, ensure_ascii=False)
    kwargs = _plain(row.get("chat_template_kwargs"))
    if kwargs:
        if not isinstance(kwargs, dict):
            raise DataError(f"{where}: 'chat_template_kwargs' must be an object")
        out["template_kwargs"] = json.dumps(kwargs, ensure_ascii=False)
    return out


def _example(row: dict[str, Any], where: str) -> Example:
    if row.get("messages") is not None:
        return Example(conversation=Conversation(tuple(_messages_from(row["messages"], where))), source=where)
    if "prompt" in row and "completion" in row:
        prompt, completion = row["prompt"], row["completion"]
        if isinstance(prompt, str) and isinstance(completion, str):
            turns = (Turn("user", prompt), Turn("assistant", completion))
            return Example(conversation=Conversation(turns), source=where, shape="prompt-completion")
        if isinstance(prompt, (list, tuple)) and isinstance(completion, (list, tuple)):
            head = _messages_from(list(prompt), where)
            turns = head + _messages_from(list(completion), where)
            if turns[len(head)].role != "assistant":
                raise DataError(f"{where}: the 'completion' messages must start with an assistant message")
            return Example(
                conversation=Conversation(tuple(turns)),
                source=where,
                shape="chat-prompt-completion",
                prompt_turns=len(head),
            )
        raise DataError(f"{where}: 'prompt' and 'completion' must both be text or both be message lists")
    if "text" in row:
        if not isinstance(row["text"], str):
            raise DataError(f"{where}: 'text' must be a string")
        return Example(text=row["text"], source=where)
    fields = ", ".join(f"'{k}'" for k in row) or "no fields"
    raise DataError(
        f"{where}: expected 'messages', 'prompt' and 'completion', 'text', ShareGPT's 'conversations' or Alpaca's "
        f"'instruction' and 'output'; found {fields}"
    )


def examples_from_dataset(dataset: Iterable[dict[str, Any]]) -> list[Example]:
    """Rows of a `datasets.Dataset` (or any iterable of dicts) -> examples."""
    return [example_from_row(dict(row), f"row {i + 1}") for i, row in enumerate(dataset)]


# -- files, samples, uploads ----------------------------------------------------------------------


def sample_names() -> list[str]:
    """Names of the built-in sample sets."""
    return sorted(p.stem for p in SAMPLES_DIR.glob("*.jsonl"))


def load_sample(name: str) -> list[Example]:
    """A built-in sample set by name (see `sample_names()`)."""
    path = SAMPLES_DIR / f"{name}.jsonl"
    if not path.is_file():
        raise DataError(f"no sample set '{name}'; built-in sets: {', '.join(sample_names())}")
    return read_jsonl(path)


def heldout_question() -> tuple[str, str]:
    """Seed 000's held-out question and its reference answer ("day", "día"): the first of `spanish_heldout`."""
    turns = load_sample("spanish_heldout")[0].conversation.turns
    return turns[0].content, turns[1].content


def read_jsonl(path: Path) -> list[Example]:
    """Every example of a JSONL file (the workspace's and the runs' own files)."""
    return [example_from_row(row, where) for row, where in jsonl_rows(path)]


def iter_examples(source: str | Path) -> Iterator[Example]:
    """Every example of a source, lazily (bounded memory for `check` and `ratio` on large sets)."""
    text = str(source)
    if text.startswith(SAMPLE_PREFIX):
        yield from load_sample(text[len(SAMPLE_PREFIX) :])
    elif text.startswith(CHATTERBOT_PREFIX):
        yield from load_chatterbot(text[len(CHATTERBOT_PREFIX) :])
    else:
        for row, where in iter_rows(source):
            yield example_from_row(row, where)


def read_examples(source: str | Path) -> list[Example]:
    """Read a dataset: `sample:NAME`, `chatterbot:LANGUAGE[/TOPIC]`, a .jsonl/.json/.csv/.parquet/.arrow file,
    a `datasets` `save_to_disk` folder, or a hub id (`org/name[:config][:split]`). Raises DataError."""
    examples = list(iter_examples(source))
    if not examples:
        raise DataError(f"{Path(str(source)).name} holds no examples")
    return examples


def conversions(examples: Iterable[Example]) -> list[str]:
    """The conversions that read a set, each once, in words ("read as ShareGPT: human → user, ...")."""
    return list(dict.fromkeys(ex.read_as for ex in examples if ex.read_as))


EDITOR_LIMIT = 5000  # the largest set the Examples page edits; a larger one is sampled into it


def sampled(examples: Iterable[Example], limit: int = EDITOR_LIMIT, seed: int = 0) -> tuple[list[Example], int]:
    """(at most `limit` examples, how many were read): all of them, or a uniform random sample kept in file
    order (reservoir sampling: the stream is read once, in bounded memory)."""
    rng = random.Random(seed)
    kept: list[tuple[int, Example]] = []
    n = 0
    for n, example in enumerate(examples, start=1):
        if len(kept) < limit:
            kept.append((n, example))
        else:
            k = rng.randrange(n)
            if k < limit:
                kept[k] = (n, example)
    return [e for _, e in sorted(kept, key=lambda pair: pair[0])], n


def examples_from_upload(name: str, data: bytes) -> list[Example]:
    """Examples from an uploaded file's name and bytes (.jsonl/.json/.csv/.parquet/.arrow). Raises DataError."""
    return sampled_upload(name, data, limit=None)[0]


def sampled_upload(name: str, data: bytes, limit: int | None = EDITOR_LIMIT) -> tuple[list[Example], int]:
    """(examples, rows read) from an uploaded file: every row, or with a `limit` a larger file sampled down to
    it. Raises DataError."""
    base = Path(name).name or "upload"  # its messages and sources name the file the person chose
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / base
        path.write_bytes(data)
        if limit is None:
            examples = read_examples(path)
            return examples, len(examples)
        examples, n = sampled(iter_examples(path), limit)
        if not examples:
            raise DataError(f"{base} holds no examples")
        return examples, n


def to_jsonl(examples: Iterable[Example], with_ids: bool = False) -> bytes:
    """The set as JSONL bytes (conversational rows, or `text`), the shape `python -m lab` and TRL read."""
    rows = (example_to_row(ex, with_ids) for ex in examples)
    return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows).encode()


def write_jsonl(examples: Iterable[Example], path: str | Path) -> None:
    """Write examples as JSONL rows."""
    Path(path).write_bytes(to_jsonl(examples))
