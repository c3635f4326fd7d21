"""Datasets in the shapes people have, read into examples and written back.

Three row shapes are understood, the ones TRL and most hubs use:
  {"messages": [{"role", "content"}, ...]}        conversational
  {"prompt": ..., "completion": ...}               prompt-completion (strings or message lists)
  {"text": ...}                                    plain text, kept as written (`### Human:` markers included)
Each example remembers its row's shape, so it is tokenized as TRL treats that shape and written back in it.
from JSONL, CSV, Parquet, a `datasets.Dataset`, a built-in sample (`sample:NAME`) or the ChatterBot corpus
(`chatterbot:LANGUAGE[/TOPIC]`).
"""

from __future__ import annotations

import json
import re
import tempfile
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path
from typing import Any

from lab.common import CHATTERBOT_PREFIX, SAMPLE_PREFIX
from lab.data.corpora import load_chatterbot
from lab.data.examples import ROLES, Conversation, Example, Turn, example_to_row
from lab.errors import DataError

SAMPLES_DIR = Path(__file__).parent / "samples"


# -- rows -----------------------------------------------------------------------------------------


def _messages_from(value: Any, where: str) -> list[Turn]:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as e:
            raise DataError(f"{where}: 'messages' is text but not a JSON list ({e.msg})") from None
    if not isinstance(value, (list, tuple)) or not value:
        raise DataError(f"{where}: 'messages' must be a non-empty list of {{role, content}} objects")
    turns = []
    for i, m in enumerate(value):
        if not isinstance(m, dict) or "role" not in m or "content" not in m:
            raise DataError(f"{where}: message {i} needs a 'role' and a 'content'")
        role, content = str(m["role"]), m["content"]
        if role not in ROLES:
            raise DataError(f"{where}: message {i} has role '{role}'; expected one of {', '.join(ROLES)}")
        if content is None:
            content = ""
        if not isinstance(content, str):
            raise DataError(f"{where}: message {i} content must be text")
        turns.append(Turn(role, content))
    return turns


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
    example = _example(row, where)
    uid = row.get("id")
    return replace(example, uid=str(uid)) if isinstance(uid, (str, int)) and str(uid) else example


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
    raise DataError(f"{where}: expected 'messages', 'prompt' and 'completion', or 'text'; found {fields}")


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
    examples = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, start=1):
            if not line.strip():
                continue
            where = f"{path.name} line {n}"
            try:
                row = json.loads(line)
            except json.JSONDecodeError as e:
                raise DataError(f"{where}: not valid JSON ({e.msg} at column {e.colno})") from None
            examples.append(example_from_row(row, where))
    return examples


def _read_table(path: Path, frame) -> list[Example]:
    rows = frame.to_dict(orient="records")
    out = []
    for i, row in enumerate(rows):
        clean = {k: v for k, v in row.items() if not _is_missing(v)}
        # Parquet keeps nested lists as numpy arrays; turn them back into plain lists of dicts.
        for key in ("messages", "prompt", "completion"):
            if key in clean and hasattr(clean[key], "tolist"):
                clean[key] = clean[key].tolist()
        out.append(example_from_row(clean, f"{path.name} row {i + 1}"))
    return out


def _is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and value != value)


def read_examples(source: str | Path) -> list[Example]:
    """Read a dataset: `sample:NAME`, `chatterbot:LANGUAGE[/TOPIC]`, or a .jsonl/.json/.csv/.parquet file.

    Raises DataError."""
    text = str(source)
    if text.startswith(SAMPLE_PREFIX):
        return load_sample(text[len(SAMPLE_PREFIX) :])
    if text.startswith(CHATTERBOT_PREFIX):
        return load_chatterbot(text[len(CHATTERBOT_PREFIX) :])
    path = Path(source)
    if not path.is_file():
        raise DataError(f"no such file: {path}")
    suffix = path.suffix.lower()
    try:
        if suffix in (".jsonl", ".json"):
            examples = read_jsonl(path)
        elif suffix in (".csv", ".parquet"):
            import pandas as pd  # heavy (about half a second), and only tables need it

            frame = pd.read_csv(path, keep_default_na=False, dtype=str) if suffix == ".csv" else pd.read_parquet(path)
            examples = _read_table(path, frame)
        else:
            raise DataError(f"{path.name}: unknown file type '{suffix}'; use .jsonl, .csv or .parquet")
    except DataError:
        raise
    except UnicodeDecodeError:
        raise DataError(f"{path.name}: not UTF-8 text") from None
    except (ValueError, OSError) as e:  # pandas' and pyarrow's parse errors are ValueErrors: one sentence
        raise DataError(f"{path.name}: cannot be read as {suffix[1:]} ({type(e).__name__}: {e})") from None
    if not examples:
        raise DataError(f"{path.name} holds no examples")
    return examples


def examples_from_upload(name: str, data: bytes) -> list[Example]:
    """Examples from an uploaded file's name and bytes (.jsonl/.json/.csv/.parquet). Raises DataError."""
    base = Path(name).name or "upload"  # its messages and sources name the file the person chose
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / base
        path.write_bytes(data)
        return read_examples(path)


def to_jsonl(examples: Iterable[Example], with_ids: bool = False) -> bytes:
    """The set as JSONL bytes (conversational rows, or `text`), the shape `python -m lab` and TRL read."""
    rows = (example_to_row(ex, with_ids) for ex in examples)
    return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows).encode()


def write_jsonl(examples: Iterable[Example], path: str | Path) -> None:
    """Write examples as JSONL rows."""
    Path(path).write_bytes(to_jsonl(examples))
