"""The background runner: one worker thread per process trains queued runs one at a time, each in a child
process of its own (child.py) that it starts and watches.

Used by the app; `python -m lab train` calls `execute` in the foreground instead. All write to the same store.
The worker survives anything a run or the store does: a child that dies without saying why leaves its run
`failed` with what the exit tells (a signal, the kernel's out-of-memory killer, the log's last line), and a
store that cannot be read for a moment is asked again while the run's lease is kept.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

from lab.common import first_line, lab_home, usable_memory
from lab.data.examples import Example
from lab.errors import LabError
from lab.train.config import RunConfig
from lab.train.fit import memory_problem
from lab.train.leases import Lease
from lab.train.run import what_resume_does
from lab.train.store import RunStore

PACKAGE_ROOT = Path(__file__).resolve().parents[2]  # the folder `lab` is imported from, for the child
STORE_RETRY_SECONDS = 2.0  # a store that cannot be read (a full disk, a damaged file) is asked again after this
LOG_NAME = "worker.log"  # the child's output, in its run folder


class Runner:
    """One background worker thread per process: trains queued runs one at a time, each in its own process."""

    def __init__(self, store: RunStore):
        self.store = store
        self.queue: queue.Queue[str] = queue.Queue()
        self.pid = os.getpid()
        # Runs queued or training here, with how many queue entries each has (a run stopped and resumed at once
        # has two: the attempt still ending, and the next): this process renews their leases.
        self.waiting: Counter[str] = Counter()
        self._waiting_lock = threading.Lock()  # the page's threads enqueue, the worker releases, the lease reads
        self.child: subprocess.Popen | None = None  # the process training now
        self.closing = False  # the process is ending: abandon() says how its runs ended, not the worker
        self.thread = threading.Thread(target=self._work, name="sft-lab-runner", daemon=True)
        self.lease = Lease(store, self.held, expire_others=True).__enter__()
        self.store.mark_interrupted()
        self.thread.start()
        atexit.register(self.abandon)

    def abandon(self) -> None:
        """The process is ending (the server was stopped): the child training ends, and the runs read
        interrupted at once, saying what a resume will do, rather than when their leases lapse."""
        self.closing = True
        held = sorted(self.held())  # before the child dies: the worker then lets its run go (a race under load)
        self.lease.__exit__()
        child = self.child
        if child is not None and child.poll() is None:
            child.kill()
            child.wait()
        for run_id in held:
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
        """Queue a run; one that cannot fit in memory is refused here, in a sentence (LabError)."""
        problem = memory_problem(config)
        if problem:
            raise LabError(problem)
        run_id = self.store.create(config, examples)
        self._enqueue(run_id)
        return run_id

    def resume(self, run_id: str) -> None:
        self.store.prepare_resume(run_id, self.pid)
        self._enqueue(run_id)

    def held(self) -> list[str]:
        """The runs this process holds (queued here, or training in its child)."""
        with self._waiting_lock:
            return list(self.waiting)

    def _enqueue(self, run_id: str) -> None:
        with self._waiting_lock:
            self.waiting[run_id] += 1
        self.queue.put(run_id)

    def _release(self, run_id: str) -> None:
        """One queue entry of a run is done with; the lease goes with the last."""
        with self._waiting_lock:
            self.waiting[run_id] -= 1
            if self.waiting[run_id] <= 0:
                del self.waiting[run_id]

    def _work(self) -> None:
        while True:
            run_id = self.queue.get()
            try:
                status = self.store.get(run_id).status
            except LabError:  # the store cannot be read now: keep the run (and its lease) and ask again
                time.sleep(STORE_RETRY_SECONDS)
                self.queue.put(run_id)
                continue
            except Exception:  # anything else about this one run: the worker goes on with the next
                self._release(run_id)
                continue
            try:
                if status == "queued":
                    self._train(run_id)
            except Exception as e:  # the worker must survive anything a run does, its own bookkeeping included
                self._fail(run_id, f"{type(e).__name__}: {first_line(e)}")
            finally:
                self._release(run_id)

    def _train(self, run_id: str) -> None:
        """Train one run in a child process and wait for it; say why if it died without saying so itself."""
        log_path = self.store.run_folder(run_id) / LOG_NAME
        oom_before = _oom_kills()
        with open(log_path, "ab") as log:
            self.child = subprocess.Popen(
                [sys.executable, "-m", "lab.train.child", run_id],
                stdin=subprocess.PIPE,  # held open while this process lives: the child ends when it closes
                stdout=log,
                stderr=subprocess.STDOUT,
                env=_child_environment(self.store.home),
                cwd=PACKAGE_ROOT,
            )
            try:
                code = self.child.wait()
            finally:
                if self.child.stdin:
                    self.child.stdin.close()
                self.child = None
        if self.closing:  # abandon() ended the child and marks the run interrupted
            return
        run = self.store.get(run_id)
        # Active with no other entry queued: the child ended without writing how the run ended. (With another,
        # the child had ended it and a Resume queued it again before the child's process was gone.)
        if run.active and self.waiting[run_id] == 1:
            self._fail(run_id, _why_the_child_died(code, _oom_kills() > oom_before, log_path), run)

    def _fail(self, run_id: str, why: str, run=None) -> None:
        """Mark a run failed, saying why and what a resume does; a store that cannot be written leaves the run
        to its lease, which lapses once nobody holds it, so it reads interrupted."""
        with contextlib.suppress(Exception):  # nothing more can be said: the lease, now lapsing, speaks for the run
            run = run or self.store.get(run_id)
            resume = f"; {what_resume_does(run.step, run.checkpoint_step)}" if run.step else ""
            self.store.set_status(run_id, "failed", why + resume, finished=time.time())


def _child_environment(home: Path) -> dict[str, str]:
    path = os.environ.get("PYTHONPATH")
    return dict(
        os.environ,
        SFT_LAB_HOME=str(home),
        PYTHONPATH=str(PACKAGE_ROOT) + (os.pathsep + path if path else ""),
    )


def _oom_kills() -> int:
    """How many processes the kernel's out-of-memory killer has ended in this cgroup so far (0 where unknown)."""
    with contextlib.suppress(OSError, ValueError):  # no cgroup v2 memory controller: unknown
        for line in Path("/sys/fs/cgroup/memory.events").read_text().splitlines():
            name, _, count = line.partition(" ")
            if name == "oom_kill":
                return int(count)
    return 0


def _why_the_child_died(code: int, oom_killed: bool, log_path: Path) -> str:
    """One sentence for a training process that ended without recording its run's outcome."""
    if oom_killed or code == -signal.SIGKILL:
        memory = usable_memory()[1]
        if oom_killed:
            return f"the process training it was killed by the kernel for lack of memory ({memory})"
        return f"the process training it was killed (SIGKILL), perhaps out of memory ({memory})"
    if code < 0:
        return f"the process training it ended on signal {signal.Signals(-code).name}"
    last = [line for line in _tail(log_path).splitlines() if line.strip()]
    said = f": {last[-1].strip()[:200]}" if last else ""
    return f"the process training it exited with code {code}{said}"


def _tail(path: Path, size: int = 4096) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(max(0, f.seek(0, os.SEEK_END) - size))
            return f.read().decode("utf-8", "replace")
    except OSError:
        return ""


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
