"""A run as the store lists it: its settings, where it stands, and how long it has trained."""

from __future__ import annotations

import time
from dataclasses import dataclass

from lab.common import ACTIVE
from lab.train.config import RunConfig


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


def what_resume_does(step: int, checkpoint_step: int | None) -> str:
    """What resuming a run that ended at `step` will do, given its last checkpoint (one clause)."""
    saved = checkpoint_step or 0
    if not saved:
        return "Resume starts it over: it had no checkpoint yet"
    if step > saved:
        again = f"step {step}" if step == saved + 1 else f"steps {saved + 1}-{step}"
        return f"Resume goes on from the checkpoint at step {saved}, training {again} again"
    return f"Resume goes on from the checkpoint at step {saved}"
