"""The run store: runs and their metrics in SQLite (WAL), a folder per run beside it.

`$SFT_LAB_HOME/runs.db` holds every run's status and metrics; `runs/<id>/` holds config.json, the examples
it trains on, a checkpoint, and the final weights (safetensors: full, or a LoRA adapter). Every write is one
transaction, so a killed process loses at most the step in flight. A run left `running` or `queued` by a
process that is gone becomes `interrupted` and can be resumed from its last checkpoint. Stop is a flag in
the store that the training loop reads after every optimizer step, so the CLI or another tab can stop a run.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from lab.common import ACTIVE, RESUMABLE, lab_home
from lab.data.examples import Example
from lab.data.sources import read_jsonl, to_jsonl
from lab.errors import LabError
from lab.train.config import RunConfig, write_config
from lab.train.progress import StepReport

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
  id TEXT PRIMARY KEY, created REAL, status TEXT, message TEXT, pid INTEGER, examples INTEGER,
  step INTEGER DEFAULT 0, total_steps INTEGER DEFAULT 0, started REAL, finished REAL,
  stop_requested INTEGER DEFAULT 0, checkpoint_step INTEGER, config TEXT
);
CREATE TABLE IF NOT EXISTS metrics (
  run_id TEXT, step INTEGER, epoch REAL, loss REAL, prompt_loss REAL, completion_loss REAL, lr REAL,
  tokens_per_s REAL, elapsed REAL, PRIMARY KEY (run_id, step)
);
"""


@dataclass(frozen=True)
class Run:
    """One row of the store."""

    id: str
    created: float
    status: str
    message: str
    pid: int | None
    examples: int
    step: int
    total_steps: int
    started: float | None
    finished: float | None
    stop_requested: bool
    checkpoint_step: int | None
    config: RunConfig

    @property
    def active(self) -> bool:
        return self.status in ACTIVE

    def seconds(self, last: dict | None) -> float | None:
        """How long the run has trained: the last logged step's elapsed time, which counts every step across
        stops and resumes (and not the time between them); before any step, the wall time since it started."""
        if last and last.get("elapsed") is not None:
            return last["elapsed"]
        if self.started is None:
            return None
        return (self.finished or time.time()) - self.started

    def seconds_left(self, last: dict | None) -> float | None:
        """While it trains: the steps still to take at the pace of the steps taken so far."""
        trained = self.seconds(last) if last else None
        if not self.active or not trained or not last.get("step") or not self.total_steps:
            return None
        return trained / last["step"] * (self.total_steps - last["step"])


def _alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


class RunStore:
    """Runs and metrics in SQLite, run folders beside it."""

    def __init__(self, home: str | Path | None = None):
        self.home = Path(home or lab_home())
        self.folder = self.home / "runs"
        self.folder.mkdir(parents=True, exist_ok=True)
        self.path = self.home / "runs.db"
        with self._connect() as db:
            db.execute("PRAGMA journal_mode=WAL")
            db.executescript(SCHEMA)

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        db.row_factory = sqlite3.Row
        db.execute("PRAGMA synchronous=NORMAL")
        return db

    def _write(self, sql: str, args=()) -> None:
        with self._connect() as db:
            db.execute("BEGIN IMMEDIATE")
            db.execute(sql, args)
            db.execute("COMMIT")

    def run_folder(self, run_id: str) -> Path:
        return self.folder / run_id

    def final_weights(self, run_id: str) -> Path:
        """The folder of a run's final weights (full, or a LoRA adapter), written when it ends or stops."""
        return self.run_folder(run_id) / "final"

    def weights_version(self, run_id: str) -> str | None:
        """What identifies the final weights as written (None before there are any): it changes whenever they
        are written again, as when a stopped run is resumed and finishes, so caches keyed by it stay true."""
        files = sorted(self.final_weights(run_id).glob("*.safetensors"))
        if not files:
            return None
        return ";".join(f"{f.name}:{f.stat().st_mtime_ns}:{f.stat().st_size}" for f in files)

    def with_weights(self) -> list[Run]:
        """Runs that are not training and have final weights to look at (newest first)."""
        return [r for r in self.list() if not r.active and self.weights_version(r.id)]

    def create(self, config: RunConfig, examples: list[Example]) -> str:
        """A new queued run: its folder (config.json, examples.jsonl) and its row."""
        config.validate().check_base()
        if not examples:
            raise LabError("no examples to train on")
        run_id = time.strftime("%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:6]
        folder = self.run_folder(run_id)
        folder.mkdir(parents=True)
        write_config(config, folder)
        (folder / "examples.jsonl").write_bytes(to_jsonl(examples))
        self._write(
            "INSERT INTO runs (id, created, status, message, pid, examples, config) VALUES (?,?,?,?,?,?,?)",
            (run_id, time.time(), "queued", "", os.getpid(), len(examples), json.dumps(config.to_json())),
        )
        return run_id

    def examples(self, run_id: str) -> list[Example]:
        return read_jsonl(self.run_folder(run_id) / "examples.jsonl")

    def get(self, run_id: str) -> Run:
        with self._connect() as db:
            row = db.execute("SELECT * FROM runs WHERE id = ?", (run_id,)).fetchone()
        if row is None:
            raise LabError(f"no run '{run_id}'")
        return _run(row)

    def list(self) -> list[Run]:
        with self._connect() as db:
            return [_run(row) for row in db.execute("SELECT * FROM runs ORDER BY created DESC")]

    def metrics(self, run_id: str) -> list[dict]:
        with self._connect() as db:
            return [dict(r) for r in db.execute("SELECT * FROM metrics WHERE run_id = ? ORDER BY step", (run_id,))]

    def last_metrics(self) -> dict[str, dict]:
        """Every run's last logged metrics, by run id (one query, for tables)."""
        with self._connect() as db:
            rows = db.execute(
                "SELECT m.* FROM metrics m JOIN (SELECT run_id, MAX(step) AS step FROM metrics "
                "GROUP BY run_id) last USING (run_id, step)"
            )
            return {r["run_id"]: dict(r) for r in rows}

    def set_status(self, run_id: str, status: str, message: str = "", **columns) -> None:
        sets = ", ".join(["status = ?", "message = ?"] + [f"{k} = ?" for k in columns])
        self._write(f"UPDATE runs SET {sets} WHERE id = ?", (status, message, *columns.values(), run_id))

    def add_metrics(self, run_id: str, report: StepReport) -> None:
        """One step's metrics and the run's progress, in one transaction."""
        with self._connect() as db:
            db.execute("BEGIN IMMEDIATE")
            db.execute(
                "INSERT OR REPLACE INTO metrics VALUES (?,?,?,?,?,?,?,?,?)",
                (
                    run_id,
                    report.step,
                    report.epoch,
                    report.loss,
                    report.prompt_loss,
                    report.completion_loss,
                    report.lr,
                    report.tokens_per_s,
                    report.elapsed,
                ),
            )
            db.execute(
                "UPDATE runs SET step = ?, total_steps = ? WHERE id = ?", (report.step, report.total_steps, run_id)
            )
            db.execute("COMMIT")

    def metric_at(self, run_id: str, step: int) -> dict | None:
        """The metrics logged at one step of a run, or None."""
        with self._connect() as db:
            row = db.execute("SELECT * FROM metrics WHERE run_id = ? AND step = ?", (run_id, step)).fetchone()
        return dict(row) if row else None

    def drop_metrics_after(self, run_id: str, step: int) -> None:
        """Forget the metrics past a checkpoint a run resumes from: those steps are trained again."""
        self._write("DELETE FROM metrics WHERE run_id = ? AND step > ?", (run_id, step))
        self._write("UPDATE runs SET step = ? WHERE id = ?", (step, run_id))

    def set_checkpoint(self, run_id: str, step: int) -> None:
        self._write("UPDATE runs SET checkpoint_step = ? WHERE id = ?", (step, run_id))

    def request_stop(self, run_id: str) -> None:
        run = self.get(run_id)
        if run.status == "queued":
            self.set_status(run_id, "stopped", "stopped before it started")
        elif run.active:
            self._write("UPDATE runs SET stop_requested = 1 WHERE id = ?", (run_id,))

    def stop_requested(self, run_id: str) -> bool:
        with self._connect() as db:
            row = db.execute("SELECT stop_requested FROM runs WHERE id = ?", (run_id,)).fetchone()
        return bool(row and row[0])

    def delete(self, run_id: str) -> None:
        run = self.get(run_id)
        if run.active and _alive(run.pid):
            raise LabError(f"run {run_id} is {run.status}: stop it before deleting it")
        with self._connect() as db:
            db.execute("BEGIN IMMEDIATE")
            db.execute("DELETE FROM metrics WHERE run_id = ?", (run_id,))
            db.execute("DELETE FROM runs WHERE id = ?", (run_id,))
            db.execute("COMMIT")
        shutil.rmtree(self.run_folder(run_id), ignore_errors=True)

    def mark_interrupted(self) -> list[str]:
        """Runs left queued or running by a process that is gone become `interrupted`."""
        gone = [r.id for r in self.list() if r.active and not _alive(r.pid)]
        for run_id in gone:
            self.set_status(
                run_id,
                "interrupted",
                "the process training it ended; resume goes on from its last checkpoint",
                finished=time.time(),
            )
        return gone

    def prepare_resume(self, run_id: str, pid: int) -> None:
        run = self.get(run_id)
        if run.status not in RESUMABLE:
            raise LabError(f"run {run_id} is {run.status}: only interrupted, stopped or failed runs resume")
        self._write(
            "UPDATE runs SET status = 'queued', message = '', pid = ?, stop_requested = 0, finished = NULL "
            "WHERE id = ?",
            (pid, run_id),
        )


def _run(row: sqlite3.Row) -> Run:
    return Run(
        row["id"],
        row["created"],
        row["status"],
        row["message"] or "",
        row["pid"],
        row["examples"],
        row["step"] or 0,
        row["total_steps"] or 0,
        row["started"],
        row["finished"],
        bool(row["stop_requested"]),
        row["checkpoint_step"],
        RunConfig.from_saved(json.loads(row["config"])),
    )
