"""The Train page in AppTest: start a run on a tiny model, see it in the table and the curve, compare, delete."""

import json
import time

import torch
from transformers import AutoModelForCausalLM

from lab.data import load_sample
from lab.train import RunConfig, RunStore, execute
from tests.app.conftest import open_app
from tests.conftest import SEED, plain, shown_texts

TRAIN = "app_pages/train.py"


def wait_until(predicate, timeout: float = 120) -> None:
    deadline = time.time() + timeout
    while not predicate():
        assert time.time() < deadline, "timed out"
        time.sleep(0.1)


def greedy(model_dir, tokenizer, prompt: str) -> str:
    """8 greedy tokens by plain transformers, special tokens kept: what the page must show."""
    model = AutoModelForCausalLM.from_pretrained(model_dir)
    inputs = tokenizer(prompt, return_tensors="pt")
    with torch.no_grad():
        out = model.generate(**inputs, do_sample=False, max_new_tokens=8, pad_token_id=tokenizer.pad_token_id)
    return tokenizer.decode(out[0, inputs["input_ids"].shape[1] :])


def test_a_run_started_from_the_page_trains_shows_its_curve_answers_and_can_be_deleted(
    app_home, tiny_model_dir, tokenizer
):
    at = open_app(TRAIN, query={"format": "classic"}, model_input=str(tiny_model_dir))
    assert not at.exception
    assert any("No runs yet" in i.value for i in at.info)
    {b.label: b for b in at.button}["Train"].click().run()
    assert not at.exception
    store = RunStore(app_home)
    [run] = store.list()
    wait_until(lambda: not store.get(run.id).active)
    assert store.get(run.id).status == "done"
    at.run()
    assert not at.exception
    table = at.dataframe[0].value
    assert list(table["status"]) == ["done"] and list(table["steps"]) == ["15/15"]
    assert table["completion loss"][0] == store.metrics(run.id)[-1]["completion_loss"]
    curve = json.loads(at.get("plotly_chart")[0].proto.spec)
    assert [t["name"] for t in curve["data"]] == ["training loss (weighted)", "prompt loss", "completion loss"]
    assert len(curve["data"][0]["x"]) == 15

    {b.label: b for b in at.button}["Answer with both"].click().run()
    assert not at.exception
    headers = [m.value for m in at.markdown if m.value.startswith("**")]
    assert headers[headers.index("**Base model**") + 1] == f"**Fine-tuned ({run.id})**"
    prompt = '\n\n### Human: How do you say "day" in Spanish?\n\n### Assistant:<|im_start|>'  # classic, seed 000
    base = greedy(tiny_model_dir, tokenizer, prompt)
    tuned = greedy(store.run_folder(run.id) / "final", tokenizer, prompt)
    assert shown_texts([h.value for h in at.get("html")]) == [base, tuned] and base != tuned

    assert any(m.value == f"Delete run {run.id}, its metrics and its weights?" for m in at.markdown)
    assert [r.id for r in store.list()] == [run.id]  # asking is not deleting
    {b.label: b for b in at.button}["Yes, delete it"].click().run()
    assert store.list() == [] and not at.exception and not store.run_folder(run.id).exists()


def test_a_stopped_run_resumes_from_the_page_where_it_stopped(app_home, tiny_model_dir):
    at = open_app(TRAIN, model_input=str(tiny_model_dir))
    {n.label: n for n in at.number_input}["Epochs"].set_value(200).run()
    {b.label: b for b in at.button}["Train"].click().run()
    store = RunStore(app_home)
    [run] = store.list()
    wait_until(lambda: store.get(run.id).step >= 3)
    store.request_stop(run.id)
    wait_until(lambda: not store.get(run.id).active)
    stopped = store.get(run.id)
    assert stopped.status == "stopped" and stopped.checkpoint_step == stopped.step < 200
    at.run()
    {b.label: b for b in at.button}["Resume"].click().run()
    assert not at.exception
    wait_until(lambda: store.get(run.id).status == "done")
    steps = [m["step"] for m in store.metrics(run.id)]
    assert steps == list(range(1, 201))  # the steps after the stop, once each


def test_a_quantized_base_is_offered_lora_and_full_is_refused_in_words(app_home, quantized_model_dir):
    at = open_app(TRAIN, model_input=str(quantized_model_dir))
    assert not at.exception
    assert any("quantized (bitsandbytes 4-bit)" in plain(w.value) for w in at.warning)
    method = {r.label: r for r in at.radio}["Method"]
    assert method.value == "lora"
    method.set_value("full").run()
    {b.label: b for b in at.button}["Train"].click().run()
    assert any("cannot be fully fine-tuned" in plain(e.value) for e in at.error)
    assert RunStore(app_home).list() == []


def test_the_export_box_writes_the_model_and_the_trl_hand_off(app_home, tiny_model_dir):
    store = RunStore(app_home)
    config = RunConfig(**SEED, model=str(tiny_model_dir), method="lora", epochs=2, lr=5e-2, dtype="fp32")
    run_id = store.create(config, load_sample("spanish"))
    assert execute(store, run_id) == "done"
    at = open_app(TRAIN)
    assert not at.exception
    at.checkbox(key=f"merge-{run_id}").check().run()
    at.button(key=f"export-{run_id}").click().run()
    assert not at.exception
    folder = app_home / "exports" / run_id
    assert (folder / "model.safetensors").is_file() and (folder / "README.md").is_file()
    assert any("merged into the base model, float32" in s.value for s in at.success)
    at.button(key=f"export-{run_id}").click().run()  # again: the folder is no longer empty
    assert any("Nothing was exported" in e.value and "not an empty folder" in e.value for e in at.error)

    at.button(key=f"handoff-{run_id}").click().run()
    assert not at.exception
    yaml_code, launch = [c.value for c in at.code][-2:]
    assert "completion_only_loss: true" in yaml_code and "use_peft: true" in yaml_code
    assert "trl sft --config sft.yaml" in launch and "--accelerate_config fsdp2" in launch
    at.button(key=f"write-handoff-{run_id}").click().run()
    written = app_home / "trl" / run_id
    assert sorted(p.name for p in written.iterdir()) == ["data.jsonl", "launch.sh", "sft.yaml"]
    assert (written / "sft.yaml").read_text().strip() == yaml_code.strip()  # the page shows what it writes


def test_a_qlora_run_starts_from_the_page_with_the_bytes_it_saves(app_home, tiny_model_dir):
    from lab.models import weight_bytes

    at = open_app(TRAIN, model_input=str(tiny_model_dir))
    radios = {r.label: r for r in at.radio}
    assert radios["Quantize the frozen base (QLoRA)"].disabled  # full fine-tuning: nothing to quantize
    radios["Method"].set_value("lora").run()
    radios = {r.label: r for r in at.radio}
    assert not radios["Quantize the frozen base (QLoRA)"].disabled
    sizes = {q: weight_bytes(str(tiny_model_dir), q) for q in ("none", "4bit", "8bit")}
    [caption] = [plain(c.value) for c in at.caption if c.value.startswith("Base weights in memory")]
    assert f"4-bit NF4 {sizes['4bit'] / 2**20:,.0f} MiB ({sizes['none'] / sizes['4bit']:.1f}x less)" in caption
    radios["Quantize the frozen base (QLoRA)"].set_value("4bit").run()
    {n.label: n for n in at.number_input}["Epochs"].set_value(2).run()
    {b.label: b for b in at.button}["Train"].click().run()
    assert not at.exception
    store = RunStore(app_home)
    [run] = store.list()
    wait_until(lambda: not store.get(run.id).active)
    run = store.get(run.id)
    assert (run.status, run.config.method, run.config.quantization) == ("done", "lora", "4bit")


def test_a_run_placed_by_a_device_map_says_where_and_an_offloading_map_is_refused_in_words(app_home, tiny_model_dir):
    at = open_app(TRAIN, model_input=str(tiny_model_dir))
    {n.label: n for n in at.number_input}["Epochs"].set_value(1).run()
    at.text_input(key="train-max-memory").set_value("cpu=1MiB,disk").run()
    {b.label: b for b in at.button}["Train"].click().run()  # refused before it starts: the planner's count
    store = RunStore(app_home)
    assert store.list() == []
    said = " ".join(plain(e.value) for e in at.error)
    assert "Cannot start this run: this run would not fit in memory" in said
    assert "layers would go to disk, where training cannot keep them" in said

    at.text_input(key="train-max-memory").set_value("cpu=2GiB").run()
    {b.label: b for b in at.button}["Train"].click().run()
    [placed] = store.list()
    wait_until(lambda: not store.get(placed.id).active)
    assert store.get(placed.id).status == "done" and store.get(placed.id).config.max_memory == "cpu=2GiB"
    at.run()
    assert not at.exception
    captions = [plain(c.value) for c in at.caption]
    assert any(c.startswith("Placed by accelerate's device map: cpu: 1 module ((the whole model)), ") for c in captions)


def test_the_train_page_says_what_a_strategy_would_train_before_train_is_pressed(app_home):
    """special-mask under SmolLM2's chat template: `<|im_start|>` opens every turn, so the prompt is trained."""
    at = open_app(TRAIN, query={"format": "chat-template"})
    assert not at.exception
    strategy = next(s for s in at.selectbox if s.label == "Strategy (what is learned)")
    strategy.set_value("special-mask").run()
    warned = [w.value for w in at.warning if w.value.startswith("Before you train")]
    assert len(warned) == 1 and "prompt\\-trained" in warned[0] and "opens every turn" in warned[0]
    strategy.set_value("trl-completion").run()  # the control: TRL's completion-only mask trains the answers
    assert not [w for w in at.warning if w.value.startswith("Before you train")]
