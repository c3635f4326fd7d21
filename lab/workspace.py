"""The dataset a person is editing: kept on disk in the lab's home, so a refresh or a restart loses nothing.

Every page reads the same set; every edit is a pure function from one list of examples to the next, written
to disk atomically (a tmp file, then a rename) so a killed process leaves the last complete set.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
from dataclasses import dataclass, replace
from pathlib import Path

from lab.errors import DataError
from lab.examples import ROLES, Conversation, Example, Turn, example_to_row, load_sample, read_jsonl
from lab.models import lab_home

DEFAULT_SAMPLE = "spanish"


@dataclass(frozen=True)
class WorkspaceState:
    """What is kept besides the examples: which example is selected and where the set came from."""

    selected: int = 0
    source: str = f"sample:{DEFAULT_SAMPLE}"


class Workspace:
    """The current examples in `$SFT_LAB_HOME/workspace/` (examples.jsonl and state.json)."""

    def __init__(self, home: str | Path | None = None):
        self.folder = Path(home or lab_home()) / "workspace"
        self.examples_path = self.folder / "examples.jsonl"
        self.state_path = self.folder / "state.json"
        self._lock = threading.Lock()  # sessions of one app process share a Workspace
        self._cached: tuple[int, list[Example]] | None = None

    def examples(self) -> list[Example]:
        """The saved set (re-read only when the file changed); the default sample before the first save.

        Callers get a fresh list each time; edits make new lists (see the functions below) and `save` them.
        """
        with self._lock:
            revision = self.revision()
            if self._cached is None or self._cached[0] != revision:
                self._cached = (revision, self._read())
            return list(self._cached[1])

    def _read(self) -> list[Example]:
        if not self.examples_path.is_file():
            return load_sample(DEFAULT_SAMPLE)
        try:
            return read_jsonl(self.examples_path)
        except DataError as e:
            raise DataError(f"the saved workspace cannot be read ({e}); it is at {self.examples_path}") from None

    def state(self) -> WorkspaceState:
        try:
            raw = json.loads(self.state_path.read_text(encoding="utf-8"))
            return WorkspaceState(int(raw.get("selected", 0)), str(raw.get("source", "")))
        except (OSError, ValueError, TypeError):
            return WorkspaceState()

    def revision(self) -> int:
        """Changes whenever the saved set changes (its file's mtime in ns; 0 before the first save)."""
        try:
            return self.examples_path.stat().st_mtime_ns
        except OSError:
            return 0

    def save(self, examples: list[Example], selected: int | None = None, source: str | None = None) -> None:
        """Write the set (and the state) atomically."""
        self.folder.mkdir(parents=True, exist_ok=True)
        lines = to_jsonl(examples).decode()
        with self._lock:
            _atomic_write(self.examples_path, lines)
            self._cached = (self.revision(), list(examples))
        self.save_state(selected, source, count=len(examples))

    def save_state(self, selected: int | None = None, source: str | None = None, count: int | None = None) -> None:
        old = self.state()
        chosen = old.selected if selected is None else selected
        if count is not None:
            chosen = max(0, min(chosen, count - 1))
        state = WorkspaceState(chosen, old.source if source is None else source)
        self.folder.mkdir(parents=True, exist_ok=True)
        _atomic_write(self.state_path, json.dumps({"selected": state.selected, "source": state.source}))


def examples_from_upload(name: str, data: bytes) -> list[Example]:
    """Examples from an uploaded file's name and bytes (.jsonl/.json/.csv/.parquet). Raises DataError."""
    from lab.examples import read_examples

    base = Path(name).name or "upload"  # its messages and sources name the file the person chose
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / base
        path.write_bytes(data)
        return read_examples(path)


def to_jsonl(examples: list[Example]) -> bytes:
    """The set as JSONL bytes, the shape `python -m lab` and TRL read."""
    return "".join(json.dumps(example_to_row(ex), ensure_ascii=False) + "\n" for ex in examples).encode()


def _atomic_write(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# -- edits: each returns a new list and leaves its input alone ------------------------------------


def _turns(example: Example) -> list[Turn]:
    if example.conversation is None:
        raise DataError("this example is plain text with no turns; edit its text instead")
    return list(example.conversation.turns)


def _with_turns(example: Example, turns: list[Turn]) -> Example:
    return replace(example, conversation=Conversation(tuple(turns)))


def _check_index(items: list, i: int, what: str) -> None:
    if not 0 <= i < len(items):
        raise DataError(f"there is no {what} {i}")


def set_turn(examples: list[Example], i: int, t: int, role: str | None = None,
             content: str | None = None) -> list[Example]:
    """Change the role and/or the content of turn t of example i."""
    _check_index(examples, i, "example")
    turns = _turns(examples[i])
    _check_index(turns, t, "turn")
    if role is not None and role not in ROLES:
        raise DataError(f"unknown role '{role}'; roles: {', '.join(ROLES)}")
    turns[t] = Turn(role or turns[t].role, turns[t].content if content is None else content)
    return examples[:i] + [_with_turns(examples[i], turns)] + examples[i + 1:]


def set_text(examples: list[Example], i: int, text: str) -> list[Example]:
    """Replace the text of a plain-text example."""
    _check_index(examples, i, "example")
    return examples[:i] + [replace(examples[i], text=text)] + examples[i + 1:]


def next_role(example: Example) -> str:
    """The role a new turn most likely has: user after an assistant (or at the start), else assistant."""
    turns = _turns(example)
    return "assistant" if turns and turns[-1].role == "user" else "user"


def add_turn(examples: list[Example], i: int, role: str | None = None, content: str = "") -> list[Example]:
    """Append a turn to example i (role: the next one in the user/assistant alternation by default)."""
    _check_index(examples, i, "example")
    turns = _turns(examples[i]) + [Turn(role or next_role(examples[i]), content)]
    return examples[:i] + [_with_turns(examples[i], turns)] + examples[i + 1:]


def delete_turn(examples: list[Example], i: int, t: int) -> list[Example]:
    _check_index(examples, i, "example")
    turns = _turns(examples[i])
    _check_index(turns, t, "turn")
    if len(turns) == 1:  # a row with no messages cannot be saved or read back
        raise DataError("an example keeps at least one turn; delete the example instead")
    return examples[:i] + [_with_turns(examples[i], turns[:t] + turns[t + 1:])] + examples[i + 1:]


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
    return examples[:i] + [_with_turns(examples[i], _moved(turns, t, delta))] + examples[i + 1:]


def blank_example() -> Example:
    return Example(conversation=Conversation((Turn("user", ""), Turn("assistant", ""))))


def insert_example(examples: list[Example], at: int, example: Example | None = None) -> list[Example]:
    """Insert an example (a blank user/assistant pair by default) before position `at`."""
    at = max(0, min(at, len(examples)))
    return examples[:at] + [example or blank_example()] + examples[at:]


def delete_example(examples: list[Example], i: int) -> list[Example]:
    _check_index(examples, i, "example")
    return examples[:i] + examples[i + 1:]


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


def preview(example: Example, width: int = 60) -> str:
    """A one-line summary: the first user turn (or the text), shortened."""
    if example.conversation is None:
        text = example.text or ""
    else:
        firsts = [t.content for t in example.conversation.turns if t.role == "user"] or \
            [t.content for t in example.conversation.turns]
        text = firsts[0] if firsts else ""
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"
