"""The run store: runs and their metrics in SQLite (WAL), a folder per run beside it.

`$SFT_LAB_HOME/runs.db` indexes every run's status and metrics; `runs/<id>/` holds config.json, the examples
it trains on, its state and logged steps (run_files.py), a checkpoint, and the final weights (safetensors:
full, or a LoRA adapter). Every write is one transaction, so a killed process loses at most the step in
flight; a damaged or emptied runs.db is rebuilt from the folders.

A process that holds a run (queued in its runner, or training it) renews the run's lease every few seconds; a
run whose lease has run out becomes `interrupted`, whatever process ids the machine hands out again, and
resumes from its last checkpoint. Stop is a flag in the store that the training loop reads after every
optimizer step, so the CLI or another tab can stop a run.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import time
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from lab.common import ACTIVE, RESUMABLE, first_line, lab_home
from lab.data.examples import Example
from lab.data.sources import read_jsonl, to_jsonl
from lab.errors import LabError
from lab.train import run_files
from lab.train.config import RunConfig, write_config
from lab.train.leases import lease_seconds
from lab.train.progress import StepReport
from lab.train.run import Run, what_resume_does

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
  id TEXT PRIMARY KEY, created REAL, status TEXT, message TEXT, pid INTEGER, examples INTEGER,
  step INTEGER DEFAULT 0, total_steps INTEGER DEFAULT 0, started REAL, finished REAL,
  stop_requested INTEGER DEFAULT 0, checkpoint_step INTEGER, config TEXT, heartbeat REAL
);
CREATE TABLE IF NOT EXISTS metrics (
  run_id TEXT, step INTEGER, epoch REAL, loss REAL, prompt_loss REAL, completion_loss REAL, lr REAL,
  tokens_per_s REAL, elapsed REAL, PRIMARY KEY (run_id, step)
);
"""
RUN_COLUMNS = (
    "id", "created", "status", "message", "pid", "examples", "step", "total_steps", "started", "finished",
    "stop_requested", "checkpoint_step", "config", "heartbeat",
)  # fmt: skip
METRIC_COLUMNS = ("run_id", "step", "epoch", "loss", "prompt_loss", "completion_loss", "lr", "tokens_per_s", "elapsed")


class StoreError(LabError):
    """The run store cannot be read or written (a full or read-only home); the sentence says what to do."""


class RunStore:
    """Runs and metrics in SQLite, run folders beside it. `recovered` says, when it is not empty, that runs.db
    was damaged or lost runs and was rebuilt from the run folders."""

    def __init__(self, home: str | Path | None = None):
        self.home = Path(home or lab_home())
        self.folder = self.home / "runs"
        self.path = self.home / "runs.db"
        self.recovered = ""
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            self._open()
        except sqlite3.DatabaseError as e:
            if isinstance(e, sqlite3.OperationalError) and "malformed" not in str(e):
                raise self._cannot(e) from None
            self._rebuild(e)
        except OSError as e:
            raise self._cannot(e) from None
        self._import_folders()

    def _cannot(self, error: Exception) -> StoreError:
        if "locked" in str(error):
            return StoreError(f"the run store {self.path} stayed locked by another process for 30 s: try again")
        return StoreError(
            f"the lab's home {self.home} cannot be written ({first_line(error)}): free some space "
            "or fix its permissions; nothing of the runs was changed"
        )

    def _open(self) -> None:
        with self._connect() as db:
            db.execute("PRAGMA journal_mode=WAL")
            db.executescript(SCHEMA)
            damage = [row[0] for row in db.execute("PRAGMA quick_check")]
            if damage != ["ok"]:  # pages that read fine, others that do not
                raise sqlite3.DatabaseError(f"database disk image is malformed: {damage[0]}")
            for table, wanted in (("runs", RUN_COLUMNS), ("metrics", METRIC_COLUMNS)):
                columns = {row[1] for row in db.execute(f"PRAGMA table_info({table})")}
                missing = [c for c in wanted if c not in columns and c != "heartbeat"]
                if missing:  # a SQLite file of another program, or of no lab version
                    raise StoreError(
                        f"{self.path} is a SQLite database, but not the lab's: its table `{table}` has no "
                        f"{', '.join(missing[:4])}; move it away or start the lab with another SFT_LAB_HOME "
                        "(nothing was changed)"
                    )
            columns = {row[1] for row in db.execute("PRAGMA table_info(runs)")}
            if "heartbeat" not in columns:  # a store from before leases
                db.execute("ALTER TABLE runs ADD COLUMN heartbeat REAL")

    def _rebuild(self, error: Exception) -> None:
        """runs.db is not a database any more: set it aside and start a new one (the folders refill it)."""
        aside = self.path.with_name(f"runs.db.damaged-{time.strftime('%Y%m%d-%H%M%S')}")
        for suffix in ("", "-wal", "-shm"):
            damaged = Path(f"{self.path}{suffix}")
            if damaged.exists():
                damaged.rename(f"{aside}{suffix}")
        self._open()
        self.recovered = (
            f"the run store was damaged ({first_line(error)}) and was rebuilt from the run "
            f"folders; the damaged file is {aside.name}"
        )

    def _import_folders(self) -> None:
        """List again every run folder the store does not know (after a rebuild, or an emptied runs.db)."""
        try:
            with self._connect() as db:
                known = {row[0] for row in db.execute("SELECT id FROM runs")}
        except sqlite3.DatabaseError as e:
            raise self._cannot(e) from None
        found = 0
        for folder in sorted(p for p in self.folder.iterdir() if p.is_dir() and p.name not in known):
            state = run_files.read_state(folder)
            config = folder / "config.json"
            if state is None or not config.is_file():
                continue
            status = "interrupted" if state.get("status") in ACTIVE else state.get("status")
            self._write(
                "INSERT INTO runs (id, created, status, message, pid, examples, step, total_steps, started, finished,"
                " checkpoint_step, config) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                (
                    folder.name,
                    state.get("created"),
                    status,
                    state.get("message") or "",
                    None,
                    state.get("examples"),
                    state.get("step") or 0,
                    state.get("total_steps") or 0,
                    state.get("started"),
                    state.get("finished"),
                    state.get("checkpoint_step"),
                    config.read_text(),
                ),
            )
            for row in run_files.read_metrics(folder):
                self._write(
                    f"INSERT OR REPLACE INTO metrics VALUES ({','.join('?' * len(METRIC_COLUMNS))})",
                    tuple(folder.name if c == "run_id" else row.get(c) for c in METRIC_COLUMNS),
                )
            found += 1
        if found and not self.recovered:
            self.recovered = (
                f"{found} run{'s' if found > 1 else ''} missing from the run store came back from their folders"
            )

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        """A connection in autocommit mode, closed on leaving (sqlite3's own `with` only ends a transaction)."""
        db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        try:
            db.row_factory = sqlite3.Row
            db.execute("PRAGMA synchronous=NORMAL")
            yield db
        finally:
            db.close()

    def _write(self, sql: str, args=()) -> None:
        try:
            with self._connect() as db:
                db.execute("BEGIN IMMEDIATE")
                db.execute(sql, args)
                db.execute("COMMIT")
        except sqlite3.OperationalError as e:
            raise self._cannot(e) from None

    def _mirror(self, run_id: str) -> None:
        """The run's state into its folder, as the store now has it."""
        folder = self.run_folder(run_id)
        if folder.is_dir():
            with self._connect() as db:
                row = db.execute("SELECT * FROM runs WHERE id = ?", (run_id,)).fetchone()
            if row is not None:
                run_files.write_state(folder, dict(row))

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
        """A new queued run: its folder (config.json, examples.jsonl, run.json) and its row."""
        config.validate().check_base()
        if not examples:
            raise LabError("no examples to train on")
        run_id = time.strftime("%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:6]
        folder = self.run_folder(run_id)
        try:
            folder.mkdir(parents=True)
            write_config(config, folder)
            (folder / "examples.jsonl").write_bytes(to_jsonl(examples))
        except OSError as e:
            shutil.rmtree(folder, ignore_errors=True)
            raise self._cannot(e) from None
        now = time.time()
        self._write(
            "INSERT INTO runs (id, created, status, message, pid, examples, config, heartbeat) "
            "VALUES (?,?,?,?,?,?,?,?)",
            (run_id, now, "queued", "", os.getpid(), len(examples), json.dumps(config.to_json()), now),
        )
        self._mirror(run_id)
        return run_id

    def examples(self, run_id: str) -> list[Example]:
        path = self.run_folder(run_id) / "examples.jsonl"
        if not path.is_file():
            raise LabError(f"run {run_id} is damaged: its folder {path.parent} is gone; delete it")
        return read_jsonl(path)

    def get(self, run_id: str) -> Run:
        """A run as stored (a read: runs whose lease lapsed stay as they are until `mark_interrupted`)."""
        with self._connect() as db:
            row = db.execute("SELECT * FROM runs WHERE id = ?", (run_id,)).fetchone()
        if row is None:
            raise LabError(f"no run '{run_id}'")
        return self._run(row)

    def list(self) -> list[Run]:
        """Every run, newest first (a read, like `get`)."""
        with self._connect() as db:
            return [self._run(row) for row in db.execute("SELECT * FROM runs ORDER BY created DESC")]

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
        self._mirror(run_id)

    def add_metrics(self, run_id: str, report: StepReport) -> None:
        """One step's metrics and the run's progress, in one transaction (and in the run's folder)."""
        row = (
            run_id,
            report.step,
            report.epoch,
            report.loss,
            report.prompt_loss,
            report.completion_loss,
            report.lr,
            report.tokens_per_s,
            report.elapsed,
        )
        try:
            with self._connect() as db:
                db.execute("BEGIN IMMEDIATE")
                db.execute(f"INSERT OR REPLACE INTO metrics VALUES ({','.join('?' * len(row))})", row)
                db.execute(
                    "UPDATE runs SET step = ?, total_steps = ?, heartbeat = ? WHERE id = ?",
                    (report.step, report.total_steps, time.time(), run_id),
                )
                db.execute("COMMIT")
        except sqlite3.OperationalError as e:
            raise self._cannot(e) from None
        run_files.append_metrics(self.run_folder(run_id), run_id, report)
        self._mirror(run_id)

    def metric_at(self, run_id: str, step: int) -> dict | None:
        """The metrics logged at one step of a run, or None."""
        with self._connect() as db:
            row = db.execute("SELECT * FROM metrics WHERE run_id = ? AND step = ?", (run_id, step)).fetchone()
        return dict(row) if row else None

    def drop_metrics_after(self, run_id: str, step: int) -> None:
        """Forget the metrics past a checkpoint a run resumes from: those steps are trained again."""
        self._write("DELETE FROM metrics WHERE run_id = ? AND step > ?", (run_id, step))
        self._write("UPDATE runs SET step = ? WHERE id = ?", (step, run_id))
        run_files.drop_metrics_after(self.run_folder(run_id), step)
        self._mirror(run_id)

    def set_checkpoint(self, run_id: str, step: int) -> None:
        self._write("UPDATE runs SET checkpoint_step = ? WHERE id = ?", (step, run_id))
        self._mirror(run_id)

    def beat(self, run_ids: Iterable[str]) -> None:
        """Renew the leases of the runs this process holds."""
        ids = list(run_ids)
        if ids:
            self._write(f"UPDATE runs SET heartbeat = ? WHERE id IN ({','.join('?' * len(ids))})", (time.time(), *ids))

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
        if run.active:
            raise LabError(f"run {run_id} is {run.status}: stop it before deleting it")
        with self._connect() as db:
            db.execute("BEGIN IMMEDIATE")
            db.execute("DELETE FROM metrics WHERE run_id = ?", (run_id,))
            db.execute("DELETE FROM runs WHERE id = ?", (run_id,))
            db.execute("COMMIT")
        shutil.rmtree(self.run_folder(run_id), ignore_errors=True)

    def mark_interrupted(self) -> list[str]:
        """Runs whose holder stopped renewing their lease (a process killed, or gone) become `interrupted`,
        with a sentence saying what a resume will train again. Called where runs are looked at: a page opening
        the store, `python -m lab runs`, and an app's runner every time it renews its own leases."""
        cutoff = time.time() - lease_seconds()
        with self._connect() as db:
            expired = db.execute(
                f"SELECT id, step, checkpoint_step FROM runs WHERE status IN ({','.join('?' * len(ACTIVE))}) "
                "AND COALESCE(heartbeat, created) < ?",
                (*ACTIVE, cutoff),
            ).fetchall()
        for row in expired:
            done = row["step"] or 0
            self.set_status(
                row["id"],
                "interrupted",
                f"the process training it stopped at step {done}; {what_resume_does(done, row['checkpoint_step'])}",
                finished=time.time(),
            )
        return [row["id"] for row in expired]

    def prepare_resume(self, run_id: str, pid: int) -> None:
        run = self.get(run_id)
        if run.status not in RESUMABLE:
            raise LabError(f"run {run_id} is {run.status}: only interrupted, stopped or failed runs resume")
        if not (self.run_folder(run_id) / "config.json").is_file():
            raise LabError(f"run {run_id} is damaged: its folder is gone; delete it")
        self._write(
            "UPDATE runs SET status = 'queued', message = '', pid = ?, stop_requested = 0, finished = NULL, "
            "heartbeat = ? WHERE id = ?",
            (pid, time.time(), run_id),
        )
        self._mirror(run_id)

    def _run(self, row: sqlite3.Row) -> Run:
        damaged = not self.run_folder(row["id"]).is_dir()
        return Run(
            row["id"],
            row["created"],
            row["status"],
            (
                f"damaged: its folder {self.run_folder(row['id'])} is gone; delete it"
                if damaged
                else row["message"] or ""
            ),
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
