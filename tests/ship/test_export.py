"""Exports that plain transformers and PEFT load, answering as the lab's `decode --run` does; no pickles."""

import json

import pytest
import torch
from peft import PeftModel
from transformers import AutoModelForCausalLM, AutoTokenizer, GenerationConfig

from lab.cli.main import main
from lab.errors import LabError
from lab.look import question_prompt
from lab.ship import export_model, stop_ids
from tests.conftest import tokenizer_copy
from tests.ship.conftest import finished

QUESTION = 'How do you say "day" in Spanish?'


def plain_greedy(folder, prompt: str, new: int = 8) -> list[int]:
    """Greedy tokens from the exported folder alone, with nothing of the lab."""
    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32)
    inputs = tokenizer(prompt, return_tensors="pt")
    with torch.no_grad():
        out = model.generate(**inputs, do_sample=False, max_new_tokens=new, min_new_tokens=new)
    return out[0, inputs["input_ids"].shape[1] :].tolist()


def lab_decode(run_id: str, prompt: str, monkeypatch, home, capsys) -> list[int]:
    monkeypatch.setenv("SFT_LAB_HOME", str(home))
    assert main(["decode", "--run", run_id, "--prompt", prompt, "--max-new-tokens", "8", "--json"]) == 0
    return [s["id"] for s in json.loads(capsys.readouterr().out)[0]["steps"]]


def test_a_full_run_loads_in_plain_transformers_and_answers_as_the_lab_decodes(
    store, tiny_model_dir, tokenizer, tmp_path, monkeypatch, capsys
):
    run_id = finished(store, tiny_model_dir)
    exported = export_model(store, run_id, tmp_path / "full")
    assert {"model.safetensors", "config.json", "generation_config.json", "README.md", "tokenizer.json"} <= set(
        exported.files
    )
    assert not any(f.endswith((".bin", ".pt", ".pth", ".pkl")) for f in exported.files)
    prompt = question_prompt(QUESTION, tokenizer, "classic")
    assert plain_greedy(exported.folder, prompt) == lab_decode(run_id, prompt, monkeypatch, store.home, capsys)
    generation = GenerationConfig.from_pretrained(exported.folder)
    assert generation.eos_token_id == [tokenizer.convert_tokens_to_ids("<|im_end|>")]
    card = (exported.folder / "README.md").read_text()
    for expected in (
        f"# {run_id}: a special-mask fine-tune",
        "| data | 5 examples, sha256 `",
        "| format | classic",
        "| final losses | weighted ",
        "## A question, base vs fine-tuned",
        "held out: seed 000's question",
        "- before: `",
        "- after: `",
    ):
        assert expected in card


def test_a_lora_run_exports_its_adapter_or_the_merged_model(
    store, tiny_model_dir, tokenizer, tmp_path, monkeypatch, capsys
):
    run_id = finished(store, tiny_model_dir, method="lora", lr=5e-2)
    adapter = export_model(store, run_id, tmp_path / "adapter")
    assert {"adapter_model.safetensors", "adapter_config.json"} <= set(adapter.files)
    assert "model.safetensors" not in adapter.files and "LoRA adapter (PEFT)" in adapter.weights
    base = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32)
    assert isinstance(PeftModel.from_pretrained(base, adapter.folder), PeftModel)

    merged = export_model(store, run_id, tmp_path / "merged", merge=True)
    assert "model.safetensors" in merged.files and "adapter_config.json" not in merged.files
    assert "merged into the base model, float32" in merged.weights
    prompt = question_prompt(QUESTION, tokenizer, "classic")
    assert plain_greedy(merged.folder, prompt) == lab_decode(run_id, prompt, monkeypatch, store.home, capsys)


def test_generation_stops_on_the_token_that_ends_an_answer_in_the_format(tokenizer, tmp_path):
    """A template whose turns end with another special token than the tokenizer's eos: both stop generation."""
    template = (
        "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|endoftext|>\n{% endfor %}"
        "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
    )
    odd = tokenizer_copy(tokenizer, tmp_path, chat_template=template)
    assert stop_ids(odd, "chat-template") == sorted({odd.convert_tokens_to_ids("<|endoftext|>"), odd.eos_token_id})
    assert stop_ids(tokenizer, "classic") == [tokenizer.eos_token_id]


def test_an_export_never_writes_over_a_folder_or_merges_what_has_no_adapter(store, tiny_model_dir, tmp_path):
    run_id = finished(store, tiny_model_dir)
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "notes.txt").write_text("mine")
    with pytest.raises(LabError, match="exists and is not an empty folder"):
        export_model(store, run_id, tmp_path / "taken")
    assert (tmp_path / "taken" / "notes.txt").read_text() == "mine"
    with pytest.raises(LabError, match="there is no adapter to merge"):
        export_model(store, run_id, tmp_path / "new", merge=True)


def test_a_full_disk_during_an_export_leaves_nothing_and_says_so(store, tiny_model_dir, tmp_path, monkeypatch):
    """It was a shutil.Error traceback and a half-written folder: the export is written aside and renamed."""
    import lab.ship.export as export

    run_id = finished(store, tiny_model_dir)
    real_copytree = export.shutil.copytree

    def fills_the_disk(src, dst, **kwargs):
        real_copytree(src, dst, **kwargs)  # the weights land, then the disk is full
        raise export.shutil.Error([(str(src), str(dst), "[Errno 28] No space left on device")])

    monkeypatch.setattr(export.shutil, "copytree", fills_the_disk)
    with pytest.raises(LabError) as said:
        export_model(store, run_id, tmp_path / "out")
    assert str(said.value) == (
        f"the export could not be written to {tmp_path / 'out'} ([Errno 28] No space left on device); nothing was "
        "left there"
    )
    assert list((tmp_path / "out").iterdir()) == [] and sorted(p.name for p in tmp_path.iterdir()) == ["out"]
    monkeypatch.setattr(export.shutil, "copytree", real_copytree)
    exported = export_model(store, run_id, tmp_path / "out")  # the same folder, once there is room
    assert (exported.folder / "model.safetensors").is_file()
