"""The background runner: one worker thread per process trains queued runs one at a time.

Used by the app; `python -m lab train` calls `execute` in the foreground instead. Both write to the same store.
"""

from __future__ import annotations

import atexit
import os
import queue
import sys
import threading
import time
from pathlib import Path

from lab.common import first_line, lab_home
from lab.data.examples import Example
from lab.errors import LabError
from lab.train.config import RunConfig
from lab.train.execute import execute
from lab.train.leases import Lease
from lab.train.run import what_resume_does
from lab.train.store import RunStore


class Runner:
    """One background worker thread per process: trains queued runs one at a time."""

    def __init__(self, store: RunStore):
        self.store = store
        self.queue: queue.Queue[str] = queue.Queue()
        self.pid = os.getpid()
        self.waiting: set[str] = set()  # queued or training here: this process renews their leases
        self.thread = threading.Thread(target=self._work, name="sft-lab-runner", daemon=True)
        self.lease = Lease(store, lambda: list(self.waiting)).__enter__()
        self.store.mark_interrupted()
        self.thread.start()
        atexit.register(self.abandon)

    def abandon(self) -> None:
        """The process is ending (the server was stopped): its runs read interrupted at once, saying what a
        resume will do, rather than when their leases lapse."""
        self.lease.__exit__()
        for run_id in sorted(self.waiting):
            try:
                run = self.store.get(run_id)
                if run.active:
                    done = f"at step {run.step}" if run.step else "before its first step"
                    resume = what_resume_does(run.step, run.checkpoint_step)
                    self.store.set_status(
                        run_id, "interrupted", f"the lab stopped {done}; {resume}", finished=time.time()
                    )
            except LabError:  # a store that cannot be written: the lease says it all the same
                continue

    def submit(self, config: RunConfig, examples: list[Example]) -> str:
        run_id = self.store.create(config, examples)
        self._enqueue(run_id)
        return run_id

    def resume(self, run_id: str) -> None:
        self.store.prepare_resume(run_id, self.pid)
        self._enqueue(run_id)

    def _enqueue(self, run_id: str) -> None:
        self.waiting.add(run_id)
        self.queue.put(run_id)

    def _work(self) -> None:
        while True:
            run_id = self.queue.get()
            try:
                if self.store.get(run_id).status == "queued":
                    execute(self.store, run_id)  # it renews the run's lease while it trains
            except Exception as e:  # the worker must survive anything a run does
                self.store.set_status(run_id, "failed", f"{type(e).__name__}: {first_line(e)}", finished=time.time())
            finally:
                self.waiting.discard(run_id)


# Kept on `sys`, not in this module: Streamlit's file watcher re-imports changed modules, and a fresh module
# dict would start a second worker training beside the first.
_RUNNERS: dict[str, Runner] = sys.__dict__.setdefault("_sft_lab_runners", {})
_RUNNERS_LOCK: threading.Lock = sys.__dict__.setdefault("_sft_lab_runners_lock", threading.Lock())


def runner_for(home: str | Path | None = None) -> Runner:
    """The process's runner for a lab home; a second call (e.g. after Streamlit re-imports) gets the same one."""
    key = str(Path(home or lab_home()).resolve())
    with _RUNNERS_LOCK:
        if key not in _RUNNERS:
            _RUNNERS[key] = Runner(RunStore(key))
        return _RUNNERS[key]
