"""`python -m lab train | runs | inspect`: runs in the app's store, stopping one, exit codes."""

import json
import os
import subprocess
import sys
import time

import torch

from lab.cli.main import main
from lab.train.store import RunStore
from tests.cli.conftest import ROOT, run_cli


def test_train_and_runs_commands(tiny_model_dir, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SFT_LAB_HOME", str(tmp_path))
    args = ["--model", str(tiny_model_dir), "--epochs", "2", "--batch-size", "5", "--lr", "1e-3", "--dtype", "fp32"]
    args += ["--format", "classic", "--strategy", "special-mask"]  # seed 000's (the defaults are TRL's)
    assert main(["train", "--data", "sample:spanish", *args, "--json"]) == 0
    run = json.loads(capsys.readouterr().out)
    assert run["status"] == "done" and run["step"] == run["total_steps"] == 2
    assert run["config"]["batch_size"] == 5 and run["config"]["lr"] == 1e-3
    last = RunStore(tmp_path).metrics(run["id"])[-1]
    assert [run[k] for k in ("loss", "prompt_loss", "completion_loss")] == [
        last[k] for k in ("loss", "prompt_loss", "completion_loss")
    ]
    assert 0 < run["completion_loss"] < 20 and 0 < run["prompt_loss"] < 20  # a random 49k-way guess is ~10.8
    assert main(["runs", "--json"]) == 0
    assert [r["id"] for r in json.loads(capsys.readouterr().out)] == [run["id"]]
    assert main(["runs", "show", run["id"], "--json"]) == 0
    assert [m["step"] for m in json.loads(capsys.readouterr().out)["metrics"]] == [1, 2]
    assert main(["inspect", "--run", run["id"], "--index", "0", "--top-k", "2", "--json"]) == 0
    positions = json.loads(capsys.readouterr().out)
    assert len(positions) == 23 and set(positions[0]) == {
        "position",
        "token",
        "id",
        "base",
        "tuned",
        "trained",
        "completion",
    }
    assert set(positions[0]["base"]) == {"prob", "rank", "loss", "top"} and len(positions[0]["tuned"]["top"]) == 2
    assert [p["trained"] for p in positions][-4:] == [False, True, True, True]
    assert main(["runs", "delete", run["id"]]) == 0
    capsys.readouterr()
    assert main(["runs", "show", run["id"]]) == 2
    assert capsys.readouterr().err.startswith(f"error: no run '{run['id']}'")


def test_runs_stop_ends_a_training_command_which_exits_1(tiny_model_dir, tmp_path):
    """`runs stop` from a second process: the run stops after its step, and `train` says so and exits 1."""
    env = {"SFT_LAB_HOME": str(tmp_path)}
    train = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "lab",
            "train",
            "--data",
            "sample:spanish",
            "--model",
            str(tiny_model_dir),
            "--epochs",
            "1000",
            "--dtype",
            "fp32",
        ],
        cwd=ROOT,
        env={**os.environ, "HF_HUB_OFFLINE": "1", **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    store = RunStore(tmp_path)
    try:
        deadline = time.time() + 120
        while not (store.list() and store.list()[0].step >= 2) and time.time() < deadline:
            time.sleep(0.1)
        run_id = store.list()[0].id
        stop = run_cli("runs", "stop", run_id, env=env)
        assert stop.returncode == 0 and stop.stdout.strip() == f"asked run {run_id} to stop"
        out, err = train.communicate(timeout=120)
    finally:
        train.kill()
    assert train.returncode == 1, err
    run = store.get(run_id)
    assert run.status == "stopped" and 2 <= run.step < run.total_steps
    assert out.startswith(f"{run_id}  stopped") and "stopped by request" in out


def test_train_refuses_settings_that_cannot_work(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SFT_LAB_HOME", str(tmp_path))
    assert main(["train", "--data", "sample:spanish", "--engine", "trl", "--strategy", "copy"]) == 2
    assert "engine trl trains with TRL's own labels" in capsys.readouterr().err
    assert main(["train", "--data", "sample:spanish", "--model", str(tmp_path / "nothing")]) == 1
    assert "failed" in capsys.readouterr().out


def test_full_fine_tuning_of_a_quantized_base_is_refused_before_a_run_exists(
    quantized_model_dir, tmp_path, monkeypatch, capsys
):
    monkeypatch.setenv("SFT_LAB_HOME", str(tmp_path))
    assert main(["train", "--data", "sample:spanish", "--model", str(quantized_model_dir), "--method", "full"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "is quantized (bitsandbytes 4-bit)" in err and "pick method lora" in err
    assert RunStore(tmp_path).list() == []


def test_export_writes_the_model_and_the_trl_hand_off_or_says_why_not(tiny_model_dir, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SFT_LAB_HOME", str(tmp_path))
    assert (
        main(
            [
                "train",
                "--data",
                "sample:spanish",
                "--model",
                str(tiny_model_dir),
                "--epochs",
                "1",
                "--dtype",
                "fp32",
                "--format",
                "classic",
                "--strategy",
                "special-mask",
                "--json",
            ]
        )
        == 0
    )
    run_id = json.loads(capsys.readouterr().out)["id"]
    assert main(["export", "--run", run_id]) == 2
    assert capsys.readouterr().err == "error: give --out DIR (the model), --trl DIR (the TRL CLI run), or both\n"
    args = ["export", "--run", run_id, "--out", str(tmp_path / "model"), "--trl", str(tmp_path / "trl"), "--json"]
    assert main(args) == 0
    out = json.loads(capsys.readouterr().out)
    assert "model.safetensors" in out["model"]["files"] and out["trl"]["files"] == [
        "sft.yaml",
        "data.jsonl",
        "launch.sh",
    ]
    assert out["trl"]["loss"] == "completion_only_loss" and out["trl"]["differs"] == ""
    assert main(args) == 2  # the model folder is no longer empty: nothing is written over
    assert "exists and is not an empty folder" in capsys.readouterr().err
    result = run_cli(
        "export", "--run", "no-such-run", "--out", str(tmp_path / "x"), env={"SFT_LAB_HOME": str(tmp_path)}
    )
    assert result.returncode == 2 and result.stderr == "error: no run 'no-such-run'\n"


def test_runs_show_says_what_precision_the_run_trained_in_and_why(tiny_model_dir, tmp_path, monkeypatch, capsys):
    from lab.train import hardware

    monkeypatch.setenv("SFT_LAB_HOME", str(tmp_path))
    hardware.bf16_probe.cache_clear()
    monkeypatch.setattr(
        hardware, "time_matmul", lambda dtype, repeats=5, shape=None: 1.0 if dtype == torch.float32 else 2.0
    )
    args = ["train", "--data", "sample:spanish", "--model", str(tiny_model_dir), "--epochs", "1", "--json"]
    assert main(args) == 0
    run_id = json.loads(capsys.readouterr().out)["id"]
    assert main(["runs", "show", run_id]) == 0
    out = capsys.readouterr().out
    assert "precision: bf16 matrix products run at 0.50x the speed of fp32 on this CPU" in out
    assert "dtype auto trains in fp32" in out
    assert main(["runs", "show", run_id, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["precision"]["autocast"] is None
    assert main([*args[:-1], "--dtype", "bf16", "--json"]) == 0
    precision = json.loads(capsys.readouterr().out)["precision"]
    assert precision == {"autocast": "bf16", "why": "bf16 autocast, as asked (dtype bf16)"}
    hardware.bf16_probe.cache_clear()
