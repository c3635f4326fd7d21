"""The dataset a person is editing: kept on disk in the lab's home, so a refresh or a restart loses nothing.

Every page reads the same set; every edit (`edits.py`) is a pure function from one list of examples to the
next, written to disk atomically (a tmp file, then a rename) so a killed process leaves the last complete set.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

from lab.common import SAMPLE_PREFIX, lab_home
from lab.data.examples import Example
from lab.data.sources import load_sample, read_jsonl, to_jsonl
from lab.errors import DataError

DEFAULT_SAMPLE = "spanish"


@dataclass(frozen=True)
class WorkspaceState:
    """What is kept besides the examples: which example is selected and where the set came from."""

    selected: int = 0
    source: str = f"{SAMPLE_PREFIX}{DEFAULT_SAMPLE}"


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


def _atomic_write(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
