"""`python -m lab tokens | check | ratio`: output shapes, exit codes, one-line errors."""

import json

import pytest

from lab.cli.main import main
from tests.cli.conftest import run_cli, write

DOG = ["--user", 'How do you say "dog" in Spanish?', "--assistant", "perro"]


def test_tokens_json_contract(capsys):
    assert main(["tokens", *DOG, "--format", "classic", "--strategy", "all", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["tokens"][20] == {"id": 1, "text": "<|im_start|>", "special": True, "role": "assistant"}
    assert set(out["strategies"]) == set(
        "copy special-mask response-template trl-completion trl-assistant prompt-weight".split()
    )
    assert out["strategies"]["special-mask"]["labels"][-3:] == [567, 291, 2]
    assert out["strategies"]["prompt-weight"]["weights"][-4:] == [0.1, 1.0, 1.0, 1.0]
    assert set(out["strategies"]["copy"]) >= {"labels", "weights", "notes"}


def test_tokens_table_shows_every_strategy(capsys):
    assert main(["tokens", "--format", "classic", *DOG, "--strategy", "all", "--prompt-weight", "0.5"]) == 0
    out = capsys.readouterr().out
    header = out.splitlines()[0].split()
    assert (
        header
        == "pos id token role copy special-mask response-template trl-completion trl-assistant prompt-weight".split()
    )
    assert "w=0.5" in out and "-100" in out and "differ: token 23 (`<|im_end|>`)" in out


def test_tokens_from_data_and_no_assistant_turn(tmp_path, capsys):
    path = write(tmp_path / "d.jsonl", [{"messages": [{"role": "user", "content": "Hi"}]}])
    assert main(["tokens", "--data", str(path), "--strategy", "special-mask", "trl-completion"]) == 0
    out = capsys.readouterr().out
    assert "note: this conversation has no assistant turn" in out


def test_check_findings_exit_1_json(tmp_path, capsys):
    path = write(
        tmp_path / "planted.jsonl",
        [
            {"prompt": "How do you say dog?", "completion": "perro"},
            {"messages": [{"role": "user", "content": "Hello?"}]},
            {"messages": [{"role": "user", "content": ""}, {"role": "assistant", "content": "ok"}]},
            {"prompt": "Count.", "completion": " ".join(["one"] * 40)},
        ],
    )
    assert main(["check", "--format", "classic", str(path), "--max-length", "20", "--json"]) == 1
    found = json.loads(capsys.readouterr().out)
    # response-template masks the answer's eos wherever there is an answer (pad == eos); nothing else is wrong
    assert sorted((f["example"], f["code"]) for f in found) == [
        (0, "eos-masked"),
        (1, "fully-masked"),
        (2, "empty-turn"),
        (2, "eos-masked"),
        (3, "eos-masked"),
        (3, "truncated"),
    ]
    assert all(set(f) == {"example", "code", "message", "strategy"} for f in found)
    assert main(["check", str(path), "--format", "chat-template", "--strategy", "trl-assistant", "--json"]) == 1
    found = json.loads(capsys.readouterr().out)
    assert sorted((f["example"] if f["example"] is not None else -1, f["code"]) for f in found) == [
        (-1, "no-generation-tags"),
        (1, "fully-masked"),
        (2, "empty-turn"),
    ]
    assert found[0]["message"].startswith("the chat template has no {% generation %}")


def test_the_template_flags_reach_the_response_template_strategy(tmp_path, capsys):
    assert (
        main(
            [
                "check",
                "sample:spanish",
                "--format",
                "classic",
                "--strategy",
                "response-template",
                "--response-template",
                "Assistant:",
                "--json",
            ]
        )
        == 1
    )
    found = json.loads(capsys.readouterr().out)
    assert [(f["example"], f["code"]) for f in found] == [(i, "template-not-found") for i in range(5)]
    assert "response template `Assistant:` not found" in found[0]["message"]
    apples = write(
        tmp_path / "apples.jsonl",
        [
            {
                "messages": [
                    {"role": "user", "content": "3 apples + 4?"},
                    {"role": "assistant", "content": "7"},
                    {"role": "user", "content": "minus 2?"},
                    {"role": "assistant", "content": "5"},
                ]
            }
        ],
    )
    assert (
        main(["tokens", "--format", "classic", "--data", str(apples), "--strategy", "response-template", "--json"]) == 0
    )
    labels = json.loads(capsys.readouterr().out)["strategies"]["response-template"]["labels"]
    assert sum(label != -100 for label in labels) == 8  # both answers (and what follows the first)
    args = ["tokens", "--data", str(apples), "--strategy", "response-template", "--json"]
    assert main([*args, "--instruction-template", "### Nobody:"]) == 0
    strategy = json.loads(capsys.readouterr().out)["strategies"]["response-template"]
    assert set(strategy["labels"]) == {-100}
    assert "instruction template `### Nobody:` not found" in strategy["notes"][0]


def test_check_clean_exit_0(capsys):
    assert main(["check", "--format", "classic", "sample:spanish", "--strategy", "special-mask", "trl-completion"]) == 0
    assert capsys.readouterr().out.strip() == "no findings in 5 examples"


def test_check_ids_out_of_range_for_a_small_model(tokenizer, tmp_path, capsys):
    from lab.models.tiny import build_tiny_model

    folder = build_tiny_model(tmp_path / "small-vocab", tokenizer, vocab_size=2000)
    assert (
        main(
            [
                "check",
                "--format",
                "classic",
                "sample:spanish",
                "--model",
                str(folder),
                "--strategy",
                "special-mask",
                "--json",
            ]
        )
        == 1
    )
    found = json.loads(capsys.readouterr().out)
    assert {f["code"] for f in found} == {"id-out-of-range"}
    assert "outside the model's vocabulary of 2000" in found[0]["message"]


@pytest.mark.parametrize(
    "setup, args, message",
    [
        (lambda p: p.write_text(""), ["check", "{f}"], "error: data.jsonl holds no examples"),
        (
            lambda p: p.write_text('{"text": "ok"}\n{"text": broken\n'),
            ["check", "{f}"],
            "error: data.jsonl line 2: not valid JSON",
        ),
        (
            lambda p: p.write_text('{"text": "ok"}\n'),
            ["check", "{f}", "--model", "nobody/no-such-model"],
            "error: cannot load model 'nobody/no-such-model': it is not a built-in model",
        ),
        (
            lambda p: p.write_text('{"text": "ok"}\n'),
            ["tokens", "--data", "{f}", "--index", "3"],
            "error: --index 3 is out of range: the dataset has 1 examples",
        ),
        (lambda p: None, ["check", "{f}.missing"], "error: no such file"),
    ],
)
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
    assert main(["ratio", "--format", "classic", "sample:spanish", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert list(out)[:9] == [
        "count",
        "skipped",
        "arithmetic_mean",
        "geometric_mean",
        "median",
        "share_above_1",
        "prompt_tokens",
        "completion_tokens",
        "per_example",
    ]
    assert out["count"] == 5 and out["skipped"] == 0 and out["completion_tokens"] == 16
    assert out["per_example"][0] == pytest.approx(3 / 21)
    data = write(
        tmp_path / "d.jsonl",
        [
            {"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]},
            {"messages": [{"role": "user", "content": "only a question"}]},
        ],
    )
    assert (
        main(["ratio", "--format", "classic", str(data), "--json"]) == 1
    )  # a skipped example is reported, as `check` reports
    out = json.loads(capsys.readouterr().out)
    assert out["per_example"][1] is None and out["skipped_examples"][0]["example"] == 1


def test_ratio_text_report_and_bad_input():
    done = run_cli("ratio", "sample:reading", "--format", "classic", "--prompt-weight", "0.1")
    assert done.returncode == 0, done.stderr
    assert "at w = 0.1, prompt tokens carry 92.2% of the loss" in done.stdout
    bad = run_cli("ratio", "chatterbot:klingon")
    assert bad.returncode == 2 and bad.stderr.startswith("error: the ChatterBot corpus has no language")
    assert "Traceback" not in bad.stderr


def test_templates_lists_trls_templates_with_their_audit(capsys, tokenizer):
    from lab.labels.template_audit import audit_templates

    assert main(["templates", "--only", "model", "qwen3", "gemma3", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out == [a.to_json() for a in audit_templates(tokenizer, ["model", "qwen3", "gemma3"])]
    by_name = {row["template"]: row for row in out}
    assert by_name["model"]["codes"] == ["injected-text"]  # SmolLM2's default system prompt
    assert {"not-prefix-preserving", "empty-think-trained", "history-altered"} <= set(by_name["qwen3"]["codes"])
    assert by_name["gemma3"]["added_tokens"] == ["<start_of_turn>", "<end_of_turn>"]
    assert "stop-token-not-eos" in by_name["gemma3"]["codes"]
    with pytest.raises(SystemExit) as usage:  # not one of TRL's: argparse's one-line usage error
        main(["templates", "--only", "gemma9"])
    assert usage.value.code == 2


def test_templates_side_by_side_on_one_conversation(capsys, tokenizer):
    from lab.data.sources import load_sample
    from lab.labels.side_by_side import under_templates

    args = ["templates", "--data", "sample:multiturn", "--index", "1", "--only", "model", "gemma3", "gemma"]
    assert main([*args, "--strategy", "trl-assistant", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    views = under_templates(load_sample("multiturn")[1], tokenizer, ("model", "gemma3", "gemma"), "trl-assistant")
    assert out == [v.to_json() for v in views]
    assert main(args) == 0
    text = capsys.readouterr().out
    assert "gemma3" in text and "<end_of_turn>" in text and "cannot render it" in text
    bad = run_cli("templates", "--data", "sample:multiturn", "--index", "99")
    assert bad.returncode == 2 and bad.stderr.startswith("error: --index 99 is out of range")
