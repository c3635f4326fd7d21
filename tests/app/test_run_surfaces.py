"""A run trained under a chat template other than the model's own (TRL's `qwen2_5` on SmolLM2's tokenizer) is
asked its question under that template on every surface: Decoding, Train's "Answer with both" (the base model
too), `decode --run --chat`, and an export's model card. The expected prompt is rendered by the tokenizer
from TRL's template file itself, and the expected answers by plain transformers."""

import json
from pathlib import Path

import pytest
import torch
import trl
from transformers import AutoModelForCausalLM

from lab.cli.main import main
from lab.data import load_sample
from lab.ship import export_model
from lab.train import RunConfig, RunStore, execute
from tests.app.conftest import open_app
from tests.conftest import fresh_lab_home, shown_texts

QUESTION = 'How do you say "day" in Spanish?'
QWEN = (Path(trl.__file__).parent / "chat_templates" / "qwen2_5.jinja").read_text()


@pytest.fixture(scope="module")
def qwen_run(tiny_model_dir, tmp_path_factory) -> tuple[Path, str]:
    home = fresh_lab_home(tmp_path_factory.mktemp("surfaces"))
    store = RunStore(home)
    config = RunConfig(model=str(tiny_model_dir), format="chat-template", template="qwen2_5", epochs=2, lr=1e-2)
    run_id = store.create(RunConfig(**(config.to_json() | {"dtype": "fp32"})), load_sample("spanish"))
    assert execute(store, run_id) == "done"
    return home, run_id


def qwen_prompt(tokenizer) -> str:
    messages = [{"role": "user", "content": QUESTION}]
    return tokenizer.apply_chat_template(messages, chat_template=QWEN, tokenize=False, add_generation_prompt=True)


def greedy_ids(model_dir, tokenizer, prompt: str, new: int = 8) -> list[int]:
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    inputs = tokenizer(prompt, return_tensors="pt", add_special_tokens=False)
    with torch.no_grad():
        out = model.generate(
            **inputs,
            do_sample=False,
            max_new_tokens=new,
            pad_token_id=tokenizer.pad_token_id,
            eos_token_id=tokenizer.eos_token_id,
        )
    return out[0, inputs["input_ids"].shape[1] :].tolist()


def test_the_prompt_under_qwen2_5_differs_from_the_models_own(tokenizer):
    own = tokenizer.apply_chat_template([{"role": "user", "content": QUESTION}], tokenize=False)
    assert "You are Qwen" in qwen_prompt(tokenizer) and "You are Qwen" not in own  # the test can tell them apart


def test_decoding_asks_a_run_under_its_own_template(qwen_run, tokenizer, monkeypatch):
    home, run_id = qwen_run
    monkeypatch.setenv("SFT_LAB_HOME", str(home))
    at = open_app("app_pages/decoding.py")
    at.selectbox(key="decode-model").set_value(run_id).run()
    at.text_area[0].set_value(QUESTION).run()
    at.slider[0].set_value(8).run()
    {b.label: b for b in at.button}["Decode"].click().run()
    assert not at.exception
    shown = shown_texts([h.value for h in at.get("html")])
    assert shown[0] == qwen_prompt(tokenizer)
    tuned = greedy_ids(home / "runs" / run_id / "final", tokenizer, qwen_prompt(tokenizer))
    assert shown[1] == tokenizer.decode(tuned)


def test_answer_with_both_asks_the_base_and_the_run_under_the_runs_template(
    qwen_run, tiny_model_dir, tokenizer, monkeypatch
):
    home, run_id = qwen_run
    monkeypatch.setenv("SFT_LAB_HOME", str(home))
    at = open_app("app_pages/train.py", model_input=str(tiny_model_dir))  # the sidebar keeps the model's own
    at.text_input(key="compare_question").set_value(QUESTION).run()
    {b.label: b for b in at.button}["Answer with both"].click().run()
    assert not at.exception
    prompt = qwen_prompt(tokenizer)
    base = tokenizer.decode(greedy_ids(tiny_model_dir, tokenizer, prompt))
    tuned = tokenizer.decode(greedy_ids(home / "runs" / run_id / "final", tokenizer, prompt))
    assert shown_texts([h.value for h in at.get("html")])[-2:] == [base, tuned]


def test_decode_run_chat_and_the_model_card_ask_under_the_runs_template(qwen_run, tokenizer, monkeypatch, capsys):
    home, run_id = qwen_run
    monkeypatch.setenv("SFT_LAB_HOME", str(home))
    prompt = qwen_prompt(tokenizer)
    tuned = greedy_ids(home / "runs" / run_id / "final", tokenizer, prompt)
    command = ["decode", "--run", run_id, "--chat", "--prompt", QUESTION, "--max-new-tokens", "8", "--json"]
    assert main(command) == 0
    assert [s["id"] for s in json.loads(capsys.readouterr().out)[0]["steps"]] == tuned

    exported = export_model(RunStore(home), run_id, home / "export")
    card = (exported.folder / "README.md").read_text()
    assert f"- after: `{tokenizer.decode(tuned)!r}`" in card
    assert "TRL's `qwen2_5`" in card and "### Human" not in card
