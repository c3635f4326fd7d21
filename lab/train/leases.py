"""Leases: a process that holds a run (queued in its runner, or training it) renews the run's lease every few
seconds; a run whose lease runs out was abandoned, whatever process ids the machine hands out again."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable

from lab.errors import LabError


def lease_seconds() -> float:
    """How long a run's lease lasts without renewal (`SFT_LAB_LEASE_SECONDS`, default 30)."""
    try:
        return max(float(os.environ.get("SFT_LAB_LEASE_SECONDS", "30")), 0.5)
    except ValueError:
        return 30.0


class Lease:
    """Renews the leases of the runs a process holds, every sixth of a lease, from a thread of its own (so
    loading a model or a long step never lets them lapse)."""

    def __init__(self, store, held: Callable[[], Iterable[str]], expire_others: bool = False):
        self.store, self.held, self.expire_others = store, held, expire_others
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._renew, name="sft-lab-lease", daemon=True)

    def __enter__(self) -> Lease:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._done.set()
        self._thread.join(timeout=5)

    def _renew(self) -> None:
        while not self._done.wait(lease_seconds() / 6):
            try:
                self.store.beat(self.held())
                if self.expire_others:  # an app that is up marks dead processes' runs without a page open
                    self.store.mark_interrupted()
            except LabError:  # a full disk for a moment: the next renewal tries again
                continue
