"""The run store and the runner: queueing, stop, a killed process, resume, old runs, failures in words."""

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lab.data.sources import load_sample
from lab.models.references import load_tokenizer
from lab.train.batches import batches_for_epoch, training_items
from lab.train.config import RunConfig
from lab.train.execute import execute
from lab.train.runner import Runner
from lab.train.store import RunStore
from tests.conftest import SEED

ROOT = Path(__file__).resolve().parent.parent.parent


def config(tiny_model_dir, **changes) -> RunConfig:
    base = SEED | dict(model=str(tiny_model_dir), epochs=2, batch_size=2, lr=1e-3, dtype="fp32")
    return RunConfig(**(base | changes))


def wait_for(predicate, timeout=120.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError("timed out")


def test_two_runs_submitted_at_once_queue_and_both_finish(tiny_model_dir, tmp_path):
    runner = Runner(RunStore(tmp_path))
    first = runner.submit(config(tiny_model_dir, epochs=150), load_sample("spanish"))
    second = runner.submit(config(tiny_model_dir), load_sample("spanish"))
    wait_for(lambda: runner.store.get(first).status == "running")
    assert runner.store.get(second).status == "queued"
    wait_for(lambda: runner.store.get(second).status == "done")
    store = runner.store
    assert store.get(first).status == "done" and store.get(first).step == 450
    assert [m["step"] for m in store.metrics(second)] == [1, 2, 3, 4, 5, 6]
    assert (store.run_folder(second) / "final" / "model.safetensors").is_file()


def test_stop_ends_a_running_run_and_keeps_its_weights(tiny_model_dir, tmp_path):
    runner = Runner(RunStore(tmp_path))
    run_id = runner.submit(config(tiny_model_dir, epochs=500), load_sample("spanish"))
    wait_for(lambda: runner.store.get(run_id).step >= 3)
    runner.store.request_stop(run_id)
    wait_for(lambda: not runner.store.get(run_id).active)
    run = runner.store.get(run_id)
    assert run.status == "stopped" and run.step < 1500 and "stopped by request" in run.message
    assert (runner.store.run_folder(run_id) / "checkpoint").is_dir()  # a stop saves where to resume from
    assert (runner.store.run_folder(run_id) / "final" / "model.safetensors").is_file()


def test_a_failure_is_one_sentence_in_the_store(tiny_model_dir, tmp_path):
    runner = Runner(RunStore(tmp_path))
    run_id = runner.submit(config(tiny_model_dir, lr=1e12, epochs=30), load_sample("spanish"))
    wait_for(lambda: not runner.store.get(run_id).active)
    run = runner.store.get(run_id)
    assert run.status == "failed" and "lower the learning rate" in run.message
    assert run.message.startswith("the loss became")


def test_a_killed_process_leaves_an_interrupted_run_that_resumes_from_its_checkpoint(
    tiny_model_dir, tmp_path, monkeypatch
):
    monkeypatch.setenv("SFT_LAB_LEASE_SECONDS", "1")  # the killed process's lease lapses a second after
    env = dict(os.environ, SFT_LAB_HOME=str(tmp_path), HF_HUB_OFFLINE="1")
    cfg = tmp_path / "run.json"
    cfg.write_text(json.dumps(config(tiny_model_dir, epochs=400, checkpoint_seconds=0.0).to_json()))
    proc = subprocess.Popen(
        [sys.executable, "-m", "lab", "train", "--data", "sample:spanish", "--config", str(cfg)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    store = RunStore(tmp_path)
    try:
        wait_for(lambda: store.list() and (store.list()[0].checkpoint_step or 0) >= 9)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    run_id = store.list()[0].id
    assert store.get(run_id).status == "running"  # what the dead process left, until its lease lapses
    time.sleep(1.5)
    assert store.mark_interrupted() == [run_id]
    run = store.get(run_id)
    seen = len(store.metrics(run_id))
    assert run.status == "interrupted" and seen >= run.checkpoint_step >= 9
    assert f"Resume goes on from the checkpoint at step {run.checkpoint_step}" in run.message
    checkpoint = run.checkpoint_step

    # Shorten the rest of the run for the test: 3 more epochs (of 3 steps) after the checkpoint's epoch.
    epochs = -(-checkpoint // 3) + 3
    shorter = run.config.to_json() | {"epochs": epochs}
    store._write("UPDATE runs SET config = ? WHERE id = ?", (json.dumps(shorter), run_id))
    Runner(store).resume(run_id)
    wait_for(lambda: store.get(run_id).status == "done")
    steps = [m["step"] for m in store.metrics(run_id)]
    assert "resumed from step" not in store.get(run_id).message
    assert steps == list(range(1, 3 * epochs + 1))  # the steps after the checkpoint are trained again


def test_runs_left_by_this_process_are_not_interrupted(tiny_model_dir, tmp_path):
    store = RunStore(tmp_path)
    run_id = store.create(config(tiny_model_dir), load_sample("spanish"))
    assert store.mark_interrupted() == [] and store.get(run_id).status == "queued"
    store.set_status(run_id, "done")
    store.delete(run_id)
    assert store.list() == [] and not store.run_folder(run_id).exists()


def test_the_trl_engine_trains_with_sfttrainer_and_reports_both_losses(tiny_model_dir, tmp_path):
    store = RunStore(tmp_path)
    run_id = store.create(
        config(tiny_model_dir, engine="trl", strategy="trl-completion", epochs=2, batch_size=5), load_sample("spanish")
    )
    assert execute(store, run_id) == "done"
    metrics = store.metrics(run_id)
    assert [m["step"] for m in metrics] == [1, 2]
    assert all(m["prompt_loss"] > 0 and m["completion_loss"] > 0 for m in metrics)
    assert (store.run_folder(run_id) / "final" / "model.safetensors").is_file()


def test_a_run_saved_before_the_token_budget_resumes_with_its_original_batches(tiny_model_dir, tmp_path):
    """A run stored by a lab without `batch_tokens` batched by batch_size alone; resumed, it must train on those
    batches, not on the smaller ones today's default budget of 512 tokens would make of the long examples."""
    store = RunStore(tmp_path)
    cfg = config(tiny_model_dir, batch_size=5, epochs=1)
    old = store.create(cfg, load_sample("reading"))
    saved = cfg.to_json()
    del saved["batch_tokens"]  # what the older lab wrote
    store._write("UPDATE runs SET config = ?, status = 'interrupted' WHERE id = ?", (json.dumps(saved), old))

    items = training_items(load_sample("reading"), load_tokenizer(str(tiny_model_dir)), cfg).items
    original = batches_for_epoch(items, 5, cfg.seed, 0)  # no budget: 5 + 1 examples
    budgeted = batches_for_epoch(items, 5, cfg.seed, 0, RunConfig().batch_tokens)
    assert len(original) == 2 < len(budgeted)  # the test can tell them apart

    Runner(store).resume(old)
    wait_for(lambda: store.get(old).status == "done")
    assert store.get(old).total_steps == len(original)
    same = store.create(RunConfig.from_json(saved | {"batch_tokens": 1 << 30}), load_sample("reading"))
    assert execute(store, same) == "done"
    assert [m["loss"] for m in store.metrics(old)] == [m["loss"] for m in store.metrics(same)]


def test_a_resumed_runs_time_counts_its_steps_not_the_pause(tiny_model_dir, tmp_path):
    """Elapsed, the time left and the run's seconds count training across stop and resume, not the gap."""
    runner = Runner(RunStore(tmp_path))
    store = runner.store
    run_id = runner.submit(config(tiny_model_dir, epochs=60), load_sample("spanish"))
    wait_for(lambda: store.get(run_id).step >= 5)
    store.request_stop(run_id)
    wait_for(lambda: not store.get(run_id).active)
    stopped = store.get(run_id)
    at_stop = store.metrics(run_id)[-1]
    assert stopped.seconds(at_stop) == at_stop["elapsed"] and stopped.seconds_left(at_stop) is None
    time.sleep(2.0)  # the pause between stop and resume is not training
    runner.resume(run_id)
    wait_for(lambda: store.get(run_id).status == "done")
    run, metrics = store.get(run_id), store.metrics(run_id)
    elapsed = [m["elapsed"] for m in metrics]
    assert [m["step"] for m in metrics] == list(range(1, 181)) and elapsed == sorted(elapsed)
    assert elapsed[stopped.step] > at_stop["elapsed"]  # the first step after the resume goes on counting
    assert run.seconds(metrics[-1]) == elapsed[-1] < (run.finished - run.started) - 1.5
    halfway = dict(metrics[89], step=90)
    running = dataclasses.replace(run, status="running", total_steps=180)
    assert running.seconds_left(halfway) == pytest.approx(halfway["elapsed"])  # half done: as long again
