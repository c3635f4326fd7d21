"""A run's folder keeps everything needed to list it again: its settings, its examples, its state (`run.json`)
and every logged step (`metrics.jsonl`, append-only). The SQLite store is an index over these folders: a
damaged or lost runs.db is rebuilt from them."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

from lab.common import atomic_write_text
from lab.train.progress import StepReport

STATE = "run.json"
METRICS = "metrics.jsonl"
PRECISION = "precision.json"  # what the run trained in, and why (the bf16 probe's verdict, or the setting)
STATE_FIELDS = (
    "id",
    "created",
    "status",
    "message",
    "examples",
    "step",
    "total_steps",
    "started",
    "finished",
    "checkpoint_step",
)


def write_state(folder: Path, row: dict) -> None:
    """The run's state as its row in the store has it, written atomically."""
    atomic_write_text(folder / STATE, json.dumps({k: row.get(k) for k in STATE_FIELDS}))


def read_state(folder: Path) -> dict | None:
    try:
        state = json.loads((folder / STATE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return state if isinstance(state, dict) else None


def append_metrics(folder: Path, run_id: str, report: StepReport) -> None:
    with open(folder / METRICS, "a", encoding="utf-8") as f:
        f.write(json.dumps({"run_id": run_id} | asdict(report)) + "\n")


def read_metrics(folder: Path) -> list[dict]:
    """Every logged step, the last one written for each step (a resumed run logs its redone steps again)."""
    by_step: dict[int, dict] = {}
    try:
        lines = (folder / METRICS).read_text(encoding="utf-8").splitlines()
    except OSError:
        return []
    for line in lines:
        try:
            row = json.loads(line)
            by_step[int(row["step"])] = row
        except (ValueError, KeyError, TypeError):  # a line cut short by a kill: the steps before it count
            continue
    return [by_step[s] for s in sorted(by_step)]


def drop_metrics_after(folder: Path, step: int) -> None:
    """Keep the logged steps up to `step`: those after it are trained again."""
    kept = [m for m in read_metrics(folder) if m["step"] <= step]
    (folder / METRICS).write_text("".join(json.dumps(m) + "\n" for m in kept), encoding="utf-8")


def write_precision(folder: Path, autocast: str | None, why: str, placement: str | None = None) -> None:
    """What a run trains in (`bf16` autocast, or None: fp32) and why, in words; where its base sits when a
    device map placed it."""
    record = {"autocast": autocast, "why": why} | ({"placement": placement} if placement else {})
    (folder / PRECISION).write_text(json.dumps(record))


def read_precision(folder: Path) -> dict | None:
    """The precision a run recorded when it started; None before it did (or a run from before this record)."""
    try:
        record = json.loads((folder / PRECISION).read_text())
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None
