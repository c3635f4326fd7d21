"""The `python -m lab` contract: output shapes, exit codes, one-line errors."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from lab.cli import main

ROOT = Path(__file__).resolve().parent.parent
DOG = ["--user", 'How do you say "dog" in Spanish?', "--assistant", "perro"]


def run_cli(*args):
    """The CLI in a fresh process, as scripts and CI jobs call it."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    return subprocess.run([sys.executable, "-m", "lab", *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=300)


def write(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_tokens_json_contract(capsys):
    assert main(["tokens", *DOG, "--format", "classic", "--strategy", "all", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["tokens"][20] == {"id": 1, "text": "<|im_start|>", "special": True, "role": "assistant"}
    assert set(out["strategies"]) == {"copy", "special-mask", "response-template", "trl-completion",
                                      "trl-assistant", "prompt-weight"}
    assert out["strategies"]["special-mask"]["labels"][-3:] == [567, 291, 2]
    assert out["strategies"]["prompt-weight"]["weights"][-4:] == [0.1, 1.0, 1.0, 1.0]
    assert set(out["strategies"]["copy"]) >= {"labels", "weights", "notes"}


def test_tokens_table_shows_every_strategy(capsys):
    assert main(["tokens", *DOG, "--strategy", "all", "--prompt-weight", "0.5"]) == 0
    out = capsys.readouterr().out
    header = out.splitlines()[0].split()
    assert header == ["pos", "id", "token", "role", "copy", "special-mask", "response-template", "trl-completion",
                      "trl-assistant", "prompt-weight"]
    assert "w=0.5" in out and "-100" in out and "differ: token 23 (`<|im_end|>`)" in out


def test_tokens_from_data_and_no_assistant_turn(tmp_path, capsys):
    path = write(tmp_path / "d.jsonl", [{"messages": [{"role": "user", "content": "Hi"}]}])
    assert main(["tokens", "--data", str(path), "--strategy", "special-mask", "trl-completion"]) == 0
    out = capsys.readouterr().out
    assert "note: this conversation has no assistant turn" in out


def test_check_findings_exit_1_json(tmp_path, capsys):
    path = write(tmp_path / "planted.jsonl", [
        {"prompt": "How do you say dog?", "completion": "perro"},
        {"messages": [{"role": "user", "content": "Hello?"}]},
        {"messages": [{"role": "user", "content": ""}, {"role": "assistant", "content": "ok"}]},
        {"prompt": "Count.", "completion": " ".join(["one"] * 40)},
    ])
    assert main(["check", str(path), "--max-length", "20", "--json"]) == 1
    found = json.loads(capsys.readouterr().out)
    assert {(f["example"], f["code"]) for f in found} >= {
        (0, "eos-masked"), (1, "fully-masked"), (2, "empty-turn"), (3, "truncated")}
    assert all(set(f) >= {"example", "code", "message"} for f in found)
    assert main(["check", str(path), "--format", "chat-template", "--strategy", "trl-assistant"]) == 1
    assert "no-generation-tags: the chat template has no {% generation %}" in capsys.readouterr().out


def test_check_clean_exit_0(capsys):
    assert main(["check", "sample:spanish", "--strategy", "special-mask", "trl-completion"]) == 0
    assert capsys.readouterr().out.strip() == "no findings in 5 examples"


def test_check_ids_out_of_range_for_a_small_model(tokenizer, tmp_path, capsys):
    from lab.models import build_tiny_model

    folder = build_tiny_model(tmp_path / "small-vocab", tokenizer, vocab_size=2000)
    assert main(["check", "sample:spanish", "--model", str(folder), "--strategy", "special-mask", "--json"]) == 1
    found = json.loads(capsys.readouterr().out)
    assert {f["code"] for f in found} == {"id-out-of-range"}
    assert "outside the model's vocabulary of 2000" in found[0]["message"]


@pytest.mark.parametrize("setup, args, message", [
    (lambda p: p.write_text(""), ["check", "{f}"], "error: data.jsonl holds no examples"),
    (lambda p: p.write_text('{"text": "ok"}\n{"text": broken\n'), ["check", "{f}"],
     "error: data.jsonl line 2: not valid JSON"),
    (lambda p: p.write_text('{"text": "ok"}\n'), ["check", "{f}", "--model", "nobody/no-such-model"],
     "error: cannot load model 'nobody/no-such-model': it is not a built-in model"),
    (lambda p: p.write_text('{"text": "ok"}\n'), ["tokens", "--data", "{f}", "--index", "3"],
     "error: --index 3 is out of range: the dataset has 1 examples"),
    (lambda p: None, ["check", "{f}.missing"], "error: no such file"),
])
def test_bad_input_one_line_exit_2(tmp_path, setup, args, message):
    path = tmp_path / "data.jsonl"
    setup(path)
    result = run_cli(*[a.replace("{f}", str(path)) for a in args])
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith(message), result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr


def test_usage_error_exit_2():
    result = run_cli("tokens", "--strategy", "all", "--format", "markdown")
    assert result.returncode == 2 and "invalid choice" in result.stderr and "Traceback" not in result.stderr


def test_ratio_json_contract_and_exit_codes(capsys, tmp_path):
    assert main(["ratio", "sample:spanish", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert list(out)[:9] == ["count", "skipped", "arithmetic_mean", "geometric_mean", "median", "share_above_1",
                             "prompt_tokens", "completion_tokens", "per_example"]
    assert out["count"] == 5 and out["skipped"] == 0 and out["completion_tokens"] == 16
    assert out["per_example"][0] == pytest.approx(3 / 21)
    data = write(tmp_path / "d.jsonl", [
        {"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]},
        {"messages": [{"role": "user", "content": "only a question"}]},
    ])
    assert main(["ratio", str(data), "--json"]) == 1  # a skipped example is reported, as `check` reports
    out = json.loads(capsys.readouterr().out)
    assert out["per_example"][1] is None and out["skipped_examples"][0]["example"] == 1


def test_ratio_text_report_and_bad_input():
    done = run_cli("ratio", "sample:reading", "--prompt-weight", "0.1")
    assert done.returncode == 0, done.stderr
    assert "at w = 0.1, prompt tokens carry 92.2% of the loss" in done.stdout
    bad = run_cli("ratio", "chatterbot:klingon")
    assert bad.returncode == 2 and bad.stderr.startswith("error: the ChatterBot corpus has no language")
    assert "Traceback" not in bad.stderr


def test_train_and_runs_commands(tiny_model_dir, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SFT_LAB_HOME", str(tmp_path))
    assert main(["train", "--data", "sample:spanish", "--model", str(tiny_model_dir), "--epochs", "2",
                 "--batch-size", "5", "--lr", "1e-3", "--json"]) == 0
    run = json.loads(capsys.readouterr().out)
    assert run["status"] == "done" and run["step"] == run["total_steps"] == 2
    assert run["config"]["batch_size"] == 5 and run["prompt_loss"] is not None
    assert main(["runs", "--json"]) == 0
    assert [r["id"] for r in json.loads(capsys.readouterr().out)] == [run["id"]]
    assert main(["runs", "show", run["id"], "--json"]) == 0
    assert [m["step"] for m in json.loads(capsys.readouterr().out)["metrics"]] == [1, 2]
    assert main(["inspect", "--run", run["id"], "--index", "0", "--top-k", "2", "--json"]) == 0
    positions = json.loads(capsys.readouterr().out)
    assert len(positions) == 23 and set(positions[0]) >= {"position", "token", "base", "tuned", "trained"}
    assert set(positions[0]["base"]) == {"prob", "rank", "loss", "top"} and len(positions[0]["tuned"]["top"]) == 2
    assert [p["trained"] for p in positions][-4:] == [False, True, True, True]
    assert main(["runs", "delete", run["id"]]) == 0
    capsys.readouterr()
    assert main(["runs", "show", run["id"]]) == 2
    assert capsys.readouterr().err.startswith(f"error: no run '{run['id']}'")


def test_train_refuses_settings_that_cannot_work(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SFT_LAB_HOME", str(tmp_path))
    assert main(["train", "--data", "sample:spanish", "--engine", "trl", "--strategy", "copy"]) == 2
    assert "engine trl trains with TRL's own labels" in capsys.readouterr().err
    assert main(["train", "--data", "sample:spanish", "--model", str(tmp_path / "nothing")]) == 1
    assert "failed" in capsys.readouterr().out


def test_full_fine_tuning_of_a_quantized_base_is_refused_before_a_run_exists(quantized_model_dir, tmp_path,
                                                                             monkeypatch, capsys):
    from lab.runs import RunStore

    monkeypatch.setenv("SFT_LAB_HOME", str(tmp_path))
    assert main(["train", "--data", "sample:spanish", "--model", str(quantized_model_dir), "--method", "full"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "is quantized (bitsandbytes 4-bit)" in err and "pick method lora" in err
    assert RunStore(tmp_path).list() == []


def test_decode_json_and_bad_settings(tiny_model_dir, capsys):
    args = ["decode", "--prompt", "hello", "--model", str(tiny_model_dir), "--max-new-tokens", "4"]
    assert main(args + ["--strategy", "beam", "--num-beams", "3", "--num-return", "2", "--json"]) == 0
    beams = json.loads(capsys.readouterr().out)
    assert len(beams) == 2 and beams[0]["score"] >= beams[1]["score"]
    assert set(beams[0]["steps"][0]) == {"token", "id", "prob", "alternatives"}
    assert len(beams[0]["beams"][0]) == 6 and sum(c["kept"] for c in beams[0]["beams"][0]) == 3
    assert main(args + ["--strategy", "sample", "--top-p", "0"]) == 2
    assert capsys.readouterr().err.strip() == "error: top_p must be in (0, 1] (got 0.0)"
