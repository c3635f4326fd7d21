"""The app's runner: each run trains in a process of its own, and the worker thread survives anything a run or
the store does (a training process killed from outside, a store that cannot be read for a while, its own
bookkeeping failing); reading the store never changes it."""

import os
import signal
import time

from lab.data.sources import load_sample
from lab.train.runner import Runner
from lab.train.store import RunStore, StoreError
from tests.train.test_store import config, wait_for


def test_a_run_trains_in_a_child_process_that_ends_with_it(tiny_model_dir, tmp_path):
    runner = Runner(RunStore(tmp_path))
    run_id = runner.submit(config(tiny_model_dir, epochs=400), load_sample("spanish"))
    wait_for(lambda: runner.store.get(run_id).step >= 2)
    run = runner.store.get(run_id)
    assert run.pid not in (None, os.getpid()) and runner.child is not None and run.pid == runner.child.pid
    runner.store.request_stop(run_id)
    wait_for(lambda: not runner.store.get(run_id).active)
    assert runner.store.get(run_id).status == "stopped"
    wait_for(lambda: runner.child is None, timeout=30)


def test_a_training_process_killed_from_outside_fails_its_run_in_a_sentence_and_the_next_run_trains(
    tiny_model_dir, tmp_path
):
    runner = Runner(RunStore(tmp_path))
    store = runner.store
    killed = runner.submit(config(tiny_model_dir, epochs=400, checkpoint_seconds=0.0), load_sample("spanish"))
    after = runner.submit(config(tiny_model_dir), load_sample("spanish"))
    wait_for(lambda: (store.get(killed).checkpoint_step or 0) >= 2)
    os.kill(store.get(killed).pid, signal.SIGKILL)  # as the kernel's out-of-memory killer would
    wait_for(lambda: not store.get(killed).active)
    run = store.get(killed)
    assert run.status == "failed"
    assert run.message.startswith("the process training it was killed (SIGKILL), perhaps out of memory (")
    assert "GiB); Resume goes on from the checkpoint at step" in run.message
    wait_for(lambda: store.get(after).status == "done")  # the worker lived on


def test_the_worker_waits_out_a_store_that_cannot_be_read_and_then_trains_the_run(tiny_model_dir, tmp_path):
    runner = Runner(RunStore(tmp_path))
    store, real_get, failures = runner.store, runner.store.get, []

    def get(run_id):
        if len(failures) < 2:  # the first two reads fail, as on a full disk or a damaged runs.db
            failures.append(run_id)
            raise StoreError("the lab's home cannot be written (disk full)")
        return real_get(run_id)

    store.get = get
    run_id = runner.submit(config(tiny_model_dir), load_sample("spanish"))
    wait_for(lambda: len(failures) == 2 and real_get(run_id).status == "done")
    assert runner.thread.is_alive()


def test_the_worker_survives_its_own_failure_handler_failing(tiny_model_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("SFT_LAB_LEASE_SECONDS", "1")
    runner = Runner(RunStore(tmp_path))
    store = runner.store
    real_train, calls = runner._train, []

    def train(run_id):
        calls.append(run_id)
        if len(calls) == 1:
            raise ValueError("a fault in the runner's own bookkeeping")
        return real_train(run_id)

    def no_writes(*args, **kwargs):
        raise StoreError("the lab's home cannot be written (read-only)")

    runner._train = train
    with monkeypatch.context() as read_only:
        read_only.setattr(store, "set_status", no_writes)  # the failure handler's own write fails too
        first = runner.submit(config(tiny_model_dir), load_sample("spanish"))
        wait_for(lambda: calls == [first] and first not in runner.waiting)
    second = runner.submit(config(tiny_model_dir), load_sample("spanish"))
    wait_for(lambda: store.get(second).status == "done")
    assert runner.thread.is_alive()
    wait_for(lambda: store.get(first).status == "interrupted", timeout=30)  # unheld, its lease lapsed


def test_reading_the_store_never_writes_and_lapsed_leases_expire_when_asked(tiny_model_dir, tmp_path):
    store = RunStore(tmp_path)
    run_id = store.create(config(tiny_model_dir), load_sample("spanish"))
    store._write("UPDATE runs SET status = 'running', heartbeat = ? WHERE id = ?", (time.time() - 3600, run_id))
    before = (tmp_path / "runs" / run_id / "run.json").read_bytes()
    assert store.get(run_id).status == "running" and store.list()[0].status == "running"
    assert (tmp_path / "runs" / run_id / "run.json").read_bytes() == before
    assert store.mark_interrupted() == [run_id]
    assert store.get(run_id).status == "interrupted"


def test_a_run_that_cannot_fit_in_the_memory_this_lab_may_use_is_refused_before_it_starts(tmp_path, monkeypatch):
    """In a 2 GB container a full fine-tune was killed by the kernel with the whole server; now the planner's
    count is held against the memory the lab may use (its cgroup's limit) and the run is refused in a sentence.
    The control: LoRA of the same model fits the same limit."""
    import importlib

    import pytest

    from lab.errors import LabError
    from lab.train import RunConfig

    planner = importlib.import_module("lab.models.plan")  # the module: the package exports its `plan` function
    monkeypatch.setattr(planner, "usable_memory", lambda: (2 << 30, "this lab may use 2.0 GiB"))
    runner = Runner(RunStore(tmp_path))
    with pytest.raises(LabError) as said:
        runner.submit(RunConfig(epochs=1, dtype="fp32"), load_sample("spanish"))
    assert str(said.value).startswith(
        "this run would not fit in memory: does not fit on cpu: 2.43 GiB of cpu's 2.00 GiB"
    )
    assert "pick LoRA or QLoRA" in str(said.value)
    assert RunStore(tmp_path).list() == []  # nothing was created
    from lab.train.fit import memory_problem

    assert memory_problem(RunConfig(epochs=1, method="lora", dtype="fp32")) is None
