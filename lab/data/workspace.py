"""The dataset people are editing: kept on disk in the lab's home, so a refresh or a restart loses nothing.

Every page reads the same set; every edit (`edits.py`) is a pure function from one list of examples to the
next, written to disk atomically (a tmp file, then a rename) so a killed process leaves the last complete set.

Several tabs may edit the set at once. Each example carries an identity (its `id` in the file), and an edit
names the example it was made on and what that example held when the person saw it (`Seen`). `change`
reads, checks and writes under one lock: the edit lands on that example wherever it now is, and an edit made
on text another tab has changed since is refused in a sentence, never written over it. Two tabs that type
into the same turn: the later text wins, and its tab is told.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from lab.common import SAMPLE_PREFIX, atomic_write_text, lab_home
from lab.data.examples import Example, example_to_row
from lab.data.sources import load_sample, read_jsonl, to_jsonl
from lab.errors import DataError

DEFAULT_SAMPLE = "spanish"


class StaleEdit(DataError):
    """An edit made on what another tab has changed since: refused, nothing written."""


@dataclass(frozen=True)
class WorkspaceState:
    """What is kept besides the examples: where the set came from."""

    source: str = f"{SAMPLE_PREFIX}{DEFAULT_SAMPLE}"


@dataclass(frozen=True)
class Seen:
    """The example an edit was made on, as its editor saw it: its identity and content, and for a change of
    one turn's text, that turn and the text it had."""

    uid: str
    content: str
    turn: int | None = None
    text: str | None = None


def content_of(example: Example) -> str:
    """What an example holds, as one comparable string (its row without the identity)."""
    return json.dumps(example_to_row(example), ensure_ascii=False, sort_keys=True)


def seen(example: Example, turn: int | None = None) -> Seen:
    """What an editor sees of an example (and of one of its turns) when the page is drawn."""
    text = None
    if turn is not None:
        text = example.conversation.turns[turn].content if example.conversation else example.text
    return Seen(example.uid, content_of(example), turn, text)


def new_identity() -> str:
    """A fresh identity for an example."""
    return uuid.uuid4().hex[:12]


def with_identities(examples: list[Example]) -> list[Example]:
    """The examples, each with an identity of its own (new ones for those without, or sharing one)."""
    taken: set[str] = set()
    out = []
    for example in examples:
        if not example.uid or example.uid in taken:
            example = replace(example, uid=new_identity())
        taken.add(example.uid)
        out.append(example)
    return out


class Workspace:
    """The current examples in `$SFT_LAB_HOME/workspace/` (examples.jsonl and state.json)."""

    def __init__(self, home: str | Path | None = None):
        self.folder = Path(home or lab_home()) / "workspace"
        self.examples_path = self.folder / "examples.jsonl"
        self.state_path = self.folder / "state.json"
        self._threads = threading.RLock()  # the sessions of one app process share a Workspace
        self._cached: tuple[tuple, list[Example]] | None = None

    def examples(self) -> list[Example]:
        """The saved set (re-read only when the file changed), each with its identity; the default sample
        before the first save. Callers get a fresh list each time; edits make new lists and `save` them."""
        with self._threads:  # a reader needs no file lock: a write replaces the file whole (atomic rename)
            return list(self._current())

    def _current(self) -> list[Example]:
        revision = self.revision()
        if self._cached is None or self._cached[0] != revision:
            examples = self._read()
            identified = with_identities(examples)
            if revision and [e.uid for e in identified] != [e.uid for e in examples]:
                self._write(identified)  # a set saved without identities gets them, once, for every tab
            else:
                self._cached = (revision, identified)
        return self._cached[1]

    def _read(self) -> list[Example]:
        if not self.examples_path.is_file():  # the default set, named the same in every process until saved
            return [replace(e, uid=f"{DEFAULT_SAMPLE}-{k}") for k, e in enumerate(load_sample(DEFAULT_SAMPLE))]
        try:
            return read_jsonl(self.examples_path)
        except DataError as e:
            raise DataError(f"the saved workspace cannot be read ({e}); it is at {self.examples_path}") from None

    def _write(self, examples: list[Example]) -> None:
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            atomic_write_text(self.examples_path, to_jsonl(examples, with_ids=True).decode())
        except OSError as e:  # unwritable, full, gone: the saved set is as it was (the write is atomic)
            raise DataError(
                f"the set cannot be saved in {self.folder} ({e.strerror or type(e).__name__}); nothing was changed"
            ) from None
        self._cached = (self.revision(), list(examples))

    def state(self) -> WorkspaceState:
        try:
            raw = json.loads(self.state_path.read_text(encoding="utf-8"))
            return WorkspaceState(str(raw.get("source", "")))
        except (OSError, ValueError, TypeError, AttributeError):
            return WorkspaceState()

    def revision(self) -> tuple:
        """Changes whenever the saved set changes (a rename makes a new file: inode, mtime and size)."""
        try:
            stat = self.examples_path.stat()
            return stat.st_ino, stat.st_mtime_ns, stat.st_size
        except OSError:
            return ()

    @contextlib.contextmanager
    def _lock(self):
        """Writes are serialized across the threads of a process and across processes (two servers, or the app
        and a script, on one home): a read-change-write holds an exclusive lock on a file beside the set."""
        with self._threads:
            try:
                self.folder.mkdir(parents=True, exist_ok=True)
                handle = open(self.folder.parent / ".workspace.lock", "a")  # beside the folder, held for the block
            except OSError as e:
                raise DataError(
                    f"the set cannot be saved in {self.folder} ({e.strerror}); nothing was changed"
                ) from None
            with handle:
                fcntl.flock(handle, fcntl.LOCK_EX)
                try:
                    yield
                finally:
                    fcntl.flock(handle, fcntl.LOCK_UN)

    def save(self, examples: list[Example], source: str | None = None) -> list[Example]:
        """Write a whole set (a sample, an upload, a test's) atomically; returns it with its identities."""
        with self._lock():
            examples = with_identities(examples)
            self._write(examples)
        if source is not None:
            self.save_state(source)
        return examples

    def change(
        self, before: Seen, edit: Callable[[list[Example], int], list[Example]], strict: bool = True
    ) -> str | None:
        """Apply `edit(examples, i)` to the example `before` names, wherever it now is, and save; returns a
        notice when a turn's text replaced another tab's. Raises StaleEdit when the edit was made on what
        has changed since: the example deleted, its turns changed, or (`strict`, for edits of its shape) any
        of its text. Moving an example or adding one after it needs only the example itself."""
        with self._lock():
            examples = list(self._current())
            at = next((k for k, e in enumerate(examples) if e.uid == before.uid), None)
            if at is None:
                raise StaleEdit("this example was deleted in another tab; nothing was changed")
            notice = None
            if before.turn is not None:
                turns = examples[at].conversation.turns if examples[at].conversation else None
                if turns is None and before.turn != 0 or turns is not None and before.turn >= len(turns):
                    raise StaleEdit("the turns of this example changed in another tab: reload it and edit again")
                now = turns[before.turn].content if turns is not None else examples[at].text
                if now != before.text:
                    notice = "another tab had changed this text since you opened it; yours replaced it"
            elif strict and content_of(examples[at]) != before.content:
                raise StaleEdit("this example changed in another tab since you opened it: reload it and edit again")
            self._write(with_identities(edit(examples, at)))
        return notice

    def save_state(self, source: str) -> None:
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            atomic_write_text(self.state_path, json.dumps({"source": source}))
        except OSError as e:
            raise DataError(f"the set's source cannot be saved in {self.folder} ({e.strerror})") from None
