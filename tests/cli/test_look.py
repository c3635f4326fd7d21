"""`python -m lab decode`: every strategy's output shape, the chat wrapping, bad settings in one line."""

import json

import torch

from lab.cli.main import main
from tests.cli.conftest import run_cli


def test_decode_json_and_bad_settings(tiny_model_dir, capsys):
    args = ["decode", "--prompt", "hello", "--model", str(tiny_model_dir), "--max-new-tokens", "4"]
    assert main(args + ["--strategy", "beam", "--num-beams", "3", "--num-return", "2", "--json"]) == 0
    beams = json.loads(capsys.readouterr().out)
    assert len(beams) == 2 and beams[0]["score"] >= beams[1]["score"]
    assert set(beams[0]["steps"][0]) == {"token", "id", "prob", "alternatives"}
    assert len(beams[0]["beams"][0]) == 6 and sum(c["kept"] for c in beams[0]["beams"][0]) == 3
    assert main(args + ["--strategy", "sample", "--top-p", "0"]) == 2
    assert capsys.readouterr().err.strip() == "error: top_p must be in (0, 1] (got 0.0)"


def test_decode_chat_wraps_the_prompt_in_the_chat_template(tiny_model_dir, tiny, tokenizer, capsys):
    """`--chat` decodes the chat template's rendering of one user turn, exactly as generate does on it."""
    args = ["decode", "--prompt", "hello", "--model", str(tiny_model_dir), "--max-new-tokens", "5", "--json"]
    assert main([*args, "--chat"]) == 0
    [chat] = json.loads(capsys.readouterr().out)
    inputs = tokenizer.apply_chat_template(
        [{"role": "user", "content": "hello"}], add_generation_prompt=True, return_tensors="pt", return_dict=True
    )
    with torch.no_grad():
        out = tiny.generate(**inputs, max_new_tokens=5, do_sample=False, pad_token_id=tokenizer.pad_token_id)
    expected = out[0, inputs["input_ids"].shape[1] :].tolist()
    assert [s["id"] for s in chat["steps"]] == expected and chat["text"] == tokenizer.decode(expected)
    assert main(args) == 0  # without --chat the bare text is continued
    [plain] = json.loads(capsys.readouterr().out)
    inputs = tokenizer("hello", return_tensors="pt")
    with torch.no_grad():
        out = tiny.generate(**inputs, max_new_tokens=5, do_sample=False, pad_token_id=tokenizer.pad_token_id)
    assert [s["id"] for s in plain["steps"]] == out[0, inputs["input_ids"].shape[1] :].tolist()


def test_sampling_at_temperature_0_is_refused_in_one_line(tiny_model_dir):
    result = run_cli(
        "decode", "--prompt", "hello", "--model", str(tiny_model_dir), "--strategy", "sample", "--temperature", "0"
    )
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr == (
        "error: temperature must be > 0 to sample (got 0.0); for a deterministic answer use greedy\n"
    )
