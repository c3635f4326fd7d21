"""Runs that got stuck or lost their work: a dead process's run (whatever pid comes back) is interrupted once its
lease lapses; killed mid-run, a run resumes from a checkpoint inside its epoch to the same weights as a run
never killed; every failure ends `failed` in one sentence with the last good checkpoint kept; settings that
cannot work are refused before anything starts; a stop takes effect within one step."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file
from transformers import modeling_utils

from lab.data.sources import load_sample
from lab.train import engine
from lab.train.execute import execute
from lab.train.runner import Runner
from lab.train.store import RunStore
from tests.cli.conftest import ROOT, run_cli
from tests.train.test_store import config, wait_for

SERVER = """
import json, sys, time
from lab.data.sources import load_sample
from lab.train.config import RunConfig
from lab.train.runner import Runner
from lab.train.store import RunStore
Runner(RunStore()).submit(RunConfig.from_json(json.load(open(sys.argv[1]))), load_sample("spanish"))
time.sleep(600)
"""


@pytest.fixture
def short_leases(monkeypatch):
    monkeypatch.setenv("SFT_LAB_LEASE_SECONDS", "1")  # inherited by the processes the tests start


def final_weights(store: RunStore, run_id: str) -> dict:
    return load_file(store.final_weights(run_id) / "model.safetensors")


@pytest.fixture(scope="module")
def run_file(tiny_model_dir, tmp_path_factory):
    path = tmp_path_factory.mktemp("config") / "run.json"
    path.write_text(json.dumps(config(tiny_model_dir, epochs=60, checkpoint_seconds=0.0).to_json()))
    return path


@pytest.fixture(scope="module")
def never_killed(run_file, tmp_path_factory) -> dict:
    home = tmp_path_factory.mktemp("never-killed")
    done = run_cli("train", "--data", "sample:spanish", "--config", str(run_file), env={"SFT_LAB_HOME": str(home)})
    assert done.returncode == 0, done.stderr
    store = RunStore(home)
    return final_weights(store, store.list()[0].id)


@pytest.mark.parametrize("holder", ["the CLI", "the app's worker"])
def test_a_run_killed_mid_epoch_reads_interrupted_while_the_app_is_up_and_resumes_to_the_same_weights(
    holder, run_file, never_killed, tmp_path, short_leases
):
    app = Runner(RunStore(tmp_path))  # the app is up: its worker started before the run was killed
    command = ["train", "--data", "sample:spanish", "--config", str(run_file)]
    if holder != "the CLI":
        command = ["-c", SERVER, str(run_file)]
    process = subprocess.Popen(
        [sys.executable, *(["-m", "lab"] if holder == "the CLI" else []), *command],
        cwd=ROOT,
        env=dict(os.environ, SFT_LAB_HOME=str(tmp_path), HF_HUB_OFFLINE="1"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    store = app.store
    try:
        wait_for(lambda: store.list() and (store.list()[0].checkpoint_step or 0) >= 10)
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    run = store.list()[0]
    assert run.status == "running" and run.step < 180  # killed before its end
    wait_for(lambda: store.list()[0].status == "interrupted", timeout=5)  # as a page lists it, no restart
    run = store.get(run.id)
    assert run.message.startswith(f"the process training it stopped at step {run.step}")
    assert f"Resume goes on from the checkpoint at step {run.checkpoint_step}" in run.message

    resumed = run_cli("runs", "resume", run.id, env={"SFT_LAB_HOME": str(tmp_path)})
    assert resumed.returncode == 0, resumed.stderr
    assert " done " in resumed.stdout and "step 180/180" in resumed.stdout
    assert [m["step"] for m in store.metrics(run.id)] == list(range(1, 181))
    weights = final_weights(store, run.id)
    assert weights.keys() == never_killed.keys()
    assert all(torch.equal(weights[k], never_killed[k]) for k in weights)


def test_a_run_whose_process_id_was_handed_to_another_process_is_interrupted(tiny_model_dir, tmp_path):
    """In a PID namespace a restarted server gets the dead run's pid back: the lease, not the pid, decides."""
    store = RunStore(tmp_path)
    run_id = store.create(config(tiny_model_dir), load_sample("spanish"))
    store._write(
        "UPDATE runs SET status = 'running', step = 4, pid = ?, heartbeat = ? WHERE id = ?",
        (os.getpid(), time.time() - 3600, run_id),
    )
    assert store.mark_interrupted() == [run_id]  # as a page opening the store does
    run = store.get(run_id)
    assert run.status == "interrupted"
    assert run.message == "the process training it stopped at step 4; Resume starts it over: it had no checkpoint yet"
    Runner(store).resume(run_id)
    wait_for(lambda: store.get(run_id).status == "done")
    store.delete(run_id)
    assert store.list() == []


def full_disk_on_the_third_save(monkeypatch):
    real, calls = modeling_utils.safe_save_file, []

    def save(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise SafetensorError(
                'Error while serializing: IoError(Os { code: 28, kind: StorageFull, message: "No space left on '
                'device" })'
            )
        return real(*args, **kwargs)

    monkeypatch.setattr(modeling_utils, "safe_save_file", save)


def at_step_4(monkeypatch, fault) -> None:
    """`fault()` runs as the engine starts its 4th optimizer step."""
    real = engine._optimizer_step

    def step(*args, **kwargs):
        if args[6] == 4:
            fault()
        return real(*args, **kwargs)

    monkeypatch.setattr(engine, "_optimizer_step", step)


def no_memory_at_step_4(monkeypatch):
    # 32 TiB: the allocator's own "can't allocate memory"
    at_step_4(monkeypatch, lambda: torch.empty(1 << 45, dtype=torch.uint8))


def something_unforeseen_at_step_4(monkeypatch):
    def fault():
        raise ValueError("a fault nobody foresaw\nwith a second line")

    at_step_4(monkeypatch, fault)


@pytest.mark.parametrize(
    "fault, message, saved",
    [
        (
            full_disk_on_the_third_save,
            "the disk is full (no space left on device): free some space, then resume. Resume goes on from the "
            "checkpoint at step 2, training step 3 again",
            2,
        ),
        (
            no_memory_at_step_4,
            "the machine ran out of memory: lower batch_size, batch_tokens or max_length, or use LoRA. Resume goes "
            "on from the checkpoint at step 3",
            3,
        ),
        (
            something_unforeseen_at_step_4,
            "ValueError: a fault nobody foresaw. Resume goes on from the checkpoint at step 3",
            3,
        ),
    ],
)
def test_a_failure_ends_the_run_failed_in_one_sentence_and_keeps_the_last_checkpoint(
    fault, message, saved, tiny_model_dir, tmp_path, monkeypatch
):
    store = RunStore(tmp_path)
    run_id = store.create(config(tiny_model_dir, epochs=3, checkpoint_seconds=0.0), load_sample("spanish"))
    with monkeypatch.context() as faults:
        fault(faults)
        assert execute(store, run_id) == "failed"
    run = store.get(run_id)
    assert (run.status, run.message, run.checkpoint_step) == ("failed", message, saved)
    folder = store.run_folder(run_id)
    assert not (folder / "checkpoint.tmp").exists() and not (folder / "checkpoint.old").exists()
    assert torch.load(folder / "checkpoint" / "trainer_state.pt", weights_only=True)["step"] == saved
    assert json.loads((folder / "run.json").read_text())["status"] == "failed"  # the folder's record agrees

    store.prepare_resume(run_id, os.getpid())
    assert execute(store, run_id) == "done"
    assert [m["step"] for m in store.metrics(run_id)] == list(range(1, 10))


@pytest.mark.parametrize(
    "flag, value, sentence",
    [
        ("--logging-steps", "0", "logging_steps must be at least 1"),
        ("--epochs", "1000000000", "epochs must be between 1 and 1000"),
    ],
)
def test_settings_that_would_crash_or_hang_a_run_are_refused_before_it_starts(
    flag, value, sentence, tiny_model_dir, tmp_path
):
    home = {"SFT_LAB_HOME": str(tmp_path)}
    started = time.monotonic()
    refused = run_cli("train", "--data", "sample:spanish", "--model", str(tiny_model_dir), flag, value, env=home)
    assert refused.returncode == 2 and refused.stderr == f"error: {sentence}\n"
    assert time.monotonic() - started < 60
    assert run_cli("runs", env=home).stdout == "no runs yet\n"


def test_runs_resume_refuses_a_run_that_is_not_resumable_in_one_line(tiny_model_dir, tmp_path):
    store = RunStore(tmp_path)
    run_id = store.create(config(tiny_model_dir), load_sample("spanish"))
    store.set_status(run_id, "done")
    refused = run_cli("runs", "resume", run_id, env={"SFT_LAB_HOME": str(tmp_path)})
    assert refused.returncode == 2
    assert refused.stderr == f"error: run {run_id} is done: only interrupted, stopped or failed runs resume\n"
