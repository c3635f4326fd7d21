"""A run trained in a process of its own, started and watched by the app's runner (runner.py).

`python -m lab.train.child RUN_ID` trains one queued run of `$SFT_LAB_HOME` in its main thread, as
`python -m lab train` does. Training in the server's own process was measured slower (benchmarks/
app_train_speed.py, README): the page's reruns take the GIL between the training loop's operator calls, and a
thread's malloc arena cannot keep the >64 MiB gradient buffers glibc's main arena keeps, so every step faulted
them in afresh. Its own process gets the command line's speed.

The runner holds the child's standard input open; when the runner's process dies (a kill -9 of the server),
the pipe closes and the child ends at once, so the run reads interrupted as it did when training in-process.
"""

from __future__ import annotations

import os
import sys
import threading

EXIT_PARENT_GONE = 3  # the runner's process died: end as a killed run would


def _end_with_parent() -> None:
    """Block until standard input closes (the runner's process is gone), then end this process at once. It reads
    the file descriptor itself: a thread blocked in `sys.stdin`'s buffered reader holds its lock, and the
    interpreter aborts when it meets that lock at shutdown."""
    try:
        while os.read(0, 1 << 16):  # whatever is written is ignored; only the end of the pipe matters
            continue
    finally:
        os._exit(EXIT_PARENT_GONE)


def train_one(argv: list[str]) -> int:
    threading.Thread(target=_end_with_parent, name="sft-lab-parent-watch", daemon=True).start()
    from lab.train.execute import execute  # after the watcher: importing torch takes seconds
    from lab.train.store import RunStore

    (run_id,) = argv
    status = execute(RunStore(), run_id)
    return 0 if status in ("done", "stopped") else 1


if __name__ == "__main__":
    raise SystemExit(train_one(sys.argv[1:]))
