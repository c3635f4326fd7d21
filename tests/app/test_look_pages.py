"""Inside the model and Decoding in AppTest: they show the weights a run has now, and ask as it was trained."""

import json
import os

import pytest

from lab.data import load_sample
from lab.labels import completion_flags, label_example, tokenize_example
from lab.look import greedy_answer, inspect_example, mean_losses
from lab.models import load_model, load_tokenizer
from lab.train import RunConfig, RunStore, execute, load_trained
from tests.app.conftest import open_app
from tests.conftest import SEED, plain, shown_texts

INSIDE, DECODING = "app_pages/inside.py", "app_pages/decoding.py"


def test_inside_the_model_shows_losses_before_and_after_a_run(app_home, tiny_model_dir):
    at = open_app("app_pages/inside.py")
    assert not at.exception and any("No finished run yet" in i.value for i in at.info)
    store = RunStore(app_home)
    run_id = store.create(
        RunConfig(**SEED, model=str(tiny_model_dir), epochs=3, lr=1e-2, dtype="fp32"), load_sample("spanish")
    )
    assert execute(store, run_id) == "done"
    at.run()
    assert not at.exception
    labels = [m.label for m in at.metric]
    assert labels[:2] == ["mean prompt loss", "mean completion loss"]
    chips = [h.value for h in at.get("html")]
    assert len(chips) == 3 and all("sl-chips" in c for c in chips)
    assert chips[0].count('<div class="sl-c ') == 23  # every token after the first, predicted (role classes follow)
    figure = json.loads(at.get("plotly_chart")[0].proto.spec)
    assert "loss = -log p" in figure["layout"]["title"]["text"]
    at.slider[0].set_value(2).run()  # top-k
    assert not at.exception
    assert len(json.loads(at.get("plotly_chart")[0].proto.spec)["data"][0]["x"]) == 2


def test_decoding_shows_three_strategies_and_names_bad_settings(app_home, tiny_model_dir):
    at = open_app("app_pages/decoding.py", model_input=str(tiny_model_dir))
    assert not at.exception
    at.slider[0].set_value(6).run()
    {b.label: b for b in at.button}["Decode"].click().run()
    assert not at.exception
    assert len(at.get("html")) == 6  # the prompt, greedy, two beams, the first sample, the spread
    assert len(at.dataframe) == 4  # three traces and the beam step's candidates
    assert any("Spread over the samples" in m.value for m in at.markdown)
    top_p = [n for n in at.number_input if n.label == "Top-p"][0]
    top_p.set_value(0.0).run()
    assert any("sample: top_p must be in (0, 1]" in plain(e.value) for e in at.error)
    assert len(at.get("html")) == 4  # the prompt, greedy and beam still answer


def stopped_run(store, tiny_model_dir, at_step: int = 2) -> str:
    """A run of 6 steps stopped after `at_step`: its final weights are those of that step."""
    run_id = store.create(
        RunConfig(**SEED, model=str(tiny_model_dir), epochs=6, lr=1e-2, dtype="fp32"), load_sample("spanish")
    )

    def stop(step) -> None:
        if step.step == at_step:
            store.request_stop(run_id)

    assert execute(store, run_id, stop) == "stopped"
    return run_id


def test_inside_shows_a_resumed_runs_final_weights_not_the_ones_it_saw_first(app_home, tiny_model_dir, tokenizer):
    store = RunStore(app_home)
    run_id = stopped_run(store, tiny_model_dir)
    at = open_app(INSIDE)
    assert not at.exception
    at_stop = [m.value for m in at.metric]
    store.prepare_resume(run_id, os.getpid())
    assert execute(store, run_id) == "done"
    at.run()
    config = store.get(run_id).config
    item = tokenize_example(load_sample("spanish")[0], tokenizer, "classic")
    labels = label_example(item, tokenizer, ("special-mask",))["special-mask"]
    base = load_model(str(tiny_model_dir), "cpu")
    tuned = load_trained(config, store.final_weights(run_id), "cpu")
    means = mean_losses(inspect_example(item, labels, completion_flags(item, tokenizer), tokenizer, base, tuned))
    now = [m.value for m in at.metric]
    assert now[:2] == [f"{means['prompt_after']:.3f}", f"{means['completion_after']:.3f}"] and now != at_stop


def test_a_running_run_is_not_offered_until_it_ends(app_home, tiny_model_dir):
    store = RunStore(app_home)
    run_id = stopped_run(store, tiny_model_dir)
    store.prepare_resume(run_id, os.getpid())  # queued again: its final weights are about to change
    at = open_app(INSIDE)
    assert any("No finished run yet" in i.value for i in at.info)
    decoding = open_app(DECODING)
    assert decoding.selectbox(key="decode-model").options == ["base model"]


@pytest.mark.parametrize("fmt", ["classic", "chat-template"])
def test_decoding_asks_the_question_as_the_run_was_trained(app_home, tiny_model_dir, fmt):
    store = RunStore(app_home)
    config = RunConfig(model=str(tiny_model_dir), format=fmt, epochs=2, lr=1e-2, dtype="fp32")
    run_id = store.create(config, load_sample("spanish"))
    assert execute(store, run_id) == "done"
    at = open_app(DECODING)
    at.selectbox(key="decode-model").set_value(run_id).run()
    assert at.radio(key=f"decode-format-{run_id}").value == fmt
    at.slider[0].set_value(8).run()
    {b.label: b for b in at.button}["Decode"].click().run()
    assert not at.exception
    tokenizer = load_tokenizer(str(tiny_model_dir))
    prompt = {
        "classic": '\n\n### Human: How do you say "day" in Spanish?\n\n### Assistant:<|im_start|>',
        "chat-template": tokenizer.apply_chat_template(
            [{"role": "user", "content": 'How do you say "day" in Spanish?'}],
            tokenize=False,
            add_generation_prompt=True,
        ),
    }[fmt]
    shown = shown_texts([h.value for h in at.get("html")])
    assert shown[0] == prompt  # the prompt sent, every newline shown
    answer = greedy_answer(load_trained(config, store.final_weights(run_id), "cpu"), tokenizer, prompt, fmt)
    assert shown[1] == answer  # greedy: what Train's "Answer with both" says


def test_decoding_places_a_base_model_too_large_for_its_memory_and_answers_the_same(app_home, tiny_model_dir):
    at = open_app(DECODING, model_input=str(tiny_model_dir))
    at.slider[0].set_value(6).run()
    {b.label: b for b in at.button}["Decode"].click().run()
    in_memory = [h.value for h in at.get("html")]
    at.text_input(key="decode-max-memory").set_value("cpu=64KiB,disk").run()
    assert not at.exception
    placed = next(plain(c.value) for c in at.caption if "device map" in c.value)
    assert "disk:" in placed and "MiB" in placed, placed
    assert [h.value for h in at.get("html")] == in_memory  # every trace, token for token
    at.text_input(key="decode-max-memory").set_value("cpu=64KiB").run()
    assert not at.exception and "does not fit in max memory cpu=64KiB" in plain(at.error[0].value)
