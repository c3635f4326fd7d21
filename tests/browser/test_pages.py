"""The first two pages in a real browser: edit, see the chips change, switch pages, refresh, upload, escape."""

import re
import time

from lab.data import Workspace, load_sample, single_turn
from lab.train import RunConfig, RunStore, execute
from tests.browser.fixtures import screenshot, settle
from tests.conftest import SEED

ATTACK = "<script>alert(1)</script> <img src=x onerror=alert(1)>"


def chip_texts(tab) -> list[str]:
    return tab.locator(".sl-chips .sl-c:not(.sl-key) > .t").all_inner_texts()


def learned_cells(tab) -> int:
    return tab.locator(".sl-chips .sl-c:not(.sl-key) > .l.y").count()


def use_model(tab, url: str, model) -> None:
    """Open the app and type a model into the sidebar, as a person would; wait until it is in use."""
    tab.goto(url)
    tab.get_by_text("What the model reads").first.wait_for(timeout=90_000)
    field = tab.get_by_label("Model", exact=True).and_(tab.get_by_test_id("stTextInputField"))
    field.fill(str(model))
    field.press("Enter")
    tab.get_by_text(f"In use: {model}").first.wait_for(timeout=30_000)


def open_tokens(tab) -> None:
    tab.get_by_role("link", name="Tokens & labels").click()
    tab.locator(".sl-chips").first.wait_for(timeout=60_000)
    settle(tab)


def test_an_edit_changes_the_chips_and_survives_a_page_switch_and_a_refresh(page, serve, lab_home):
    url = serve()
    page.goto(url)
    page.get_by_text("What the model reads").first.wait_for(timeout=90_000)
    page.get_by_test_id("stRadioGroup").get_by_text("classic").click()  # seed 000's rendering first
    page.get_by_text("What the model reads · classic").first.wait_for(timeout=30_000)
    open_tokens(page)
    before_chips, before_learned = chip_texts(page), learned_cells(page)
    assert "·per" in before_chips and "ro" in before_chips

    page.get_by_role("link", name="Examples").click()
    answer = page.get_by_label("Content of turn 1 (assistant)")
    answer.fill("el gato negro")
    answer.press("Tab")  # Streamlit commits a text area when it loses focus
    page.locator(".sl-text-view", has_text="el gato negro").first.wait_for(timeout=30_000)
    settle(page)
    assert Workspace(lab_home).examples()[0].conversation.turns[1].content == "el gato negro"

    open_tokens(page)
    after = chip_texts(page)
    assert "·per" not in after and "".join(after).replace("·", " ").endswith(" el gato negro<|im_end|>")
    assert learned_cells(page) > before_learned  # more answer tokens: more ✓ in the label rows

    # The sidebar's format is shared by every page.
    page.get_by_test_id("stRadioGroup").get_by_text("chat-template").click()
    page.locator(".sl-chips .t", has_text="assistant").first.wait_for(timeout=30_000)
    settle(page)
    page.reload()
    page.locator(".sl-chips").first.wait_for(timeout=60_000)
    settle(page)
    assert page.get_by_test_id("stRadioGroup").get_by_role("radio", name="chat-template").is_checked()  # kept
    chips = "".join(chip_texts(page)).replace("·", " ")
    assert chips.startswith("<|im_start|>system") and chips.endswith("assistant↵el gato negro<|im_end|>↵")  # kept
    screenshot(page, "tokens-and-labels")


def test_user_text_is_shown_as_text_and_opens_no_dialog(page, serve, lab_home):
    Workspace(lab_home).save([single_turn(ATTACK, ATTACK)])
    page.goto(serve())
    view = page.locator(".sl-text-view").first
    view.wait_for(timeout=90_000)
    settle(page)
    assert ATTACK in view.inner_text()
    assert page.locator("img[src='x']").count() == 0
    open_tokens(page)
    assert "<script>alert(1)</script>" in "".join(chip_texts(page)).replace("·", " ")
    assert page.locator("img[src='x']").count() == 0
    page.wait_for_timeout(1000)  # any dialog would have opened by now; the fixture fails the test if one did
    screenshot(page, "escaping")


def test_an_upload_in_the_wrong_shape_is_refused_in_words_and_loses_nothing(page, serve, lab_home, tmp_path):
    Workspace(lab_home).save(load_sample("spanish"))
    bad = tmp_path / "questions.jsonl"
    bad.write_text('{"question": "what?", "answer": "that"}\n')
    page.goto(serve())
    page.get_by_text("What the model reads").first.wait_for(timeout=90_000)
    page.get_by_text("Start from a built-in sample or a file").click()
    page.locator("input[type=file]").set_input_files(str(bad))
    replace = page.get_by_role("button", name="Replace with it").first
    replace.wait_for(timeout=30_000)  # the button appears once the upload's rerun is done
    settle(page)
    replace.click()  # it asks first
    page.get_by_role("button", name="Yes, replace with the file").click()
    error = page.get_by_text("The current set is unchanged").first
    error.wait_for(timeout=30_000)
    assert "questions.jsonl line 1" in error.inner_text()
    assert [e.conversation for e in Workspace(lab_home).examples()] == [e.conversation for e in load_sample("spanish")]
    screenshot(page, "bad-upload")


def test_the_generation_ratio_page_draws_the_histogram_and_both_means(page, serve, lab_home):
    Workspace(lab_home).save(load_sample("spanish"))
    page.goto(serve() + "/ratio")
    histogram = page.locator(".js-plotly-plot").first
    histogram.wait_for(timeout=90_000)
    settle(page)
    histogram.locator(".annotation-text", has_text="geometric mean").first.wait_for(timeout=30_000)
    annotations = histogram.locator(".annotation-text").all_text_contents()  # SVG: no innerText
    assert sum(a.startswith("arithmetic mean") for a in annotations) == 3
    assert sum(a.startswith("geometric mean") for a in annotations) == 3
    assert histogram.locator(".barlayer .point").count() > 0
    assert histogram.locator(".scatterlayer .trace").count() == 6  # one line per mean per dataset
    screenshot(page, "generation-ratio")


def test_a_run_trains_live_survives_a_refresh_and_stops(page, serve, lab_home, tiny_model_dir):

    use_model(page, serve(), tiny_model_dir)
    page.get_by_role("link", name="Train").click()
    epochs = page.get_by_label("Epochs", exact=True).and_(page.locator("input"))
    epochs.fill("1000")
    epochs.press("Tab")
    batch = page.get_by_label("Batch size", exact=True).and_(page.locator("input"))
    batch.fill("1")  # 5,000 steps: long enough to refresh and stop mid-run on a fast machine too
    batch.press("Tab")
    settle(page)
    page.get_by_role("button", name="Train", exact=True).click()

    progress = page.get_by_text(re.compile(r"step \d+/5000")).first
    progress.wait_for(timeout=60_000)
    curve = page.locator(".js-plotly-plot").first  # reruns can briefly show a stale copy beside the new one
    curve.wait_for(timeout=30_000)

    def step_shown() -> int:
        return int(re.search(r"step (\d+)/", progress.inner_text()).group(1))

    first = step_shown()
    deadline = time.monotonic() + 60
    while step_shown() <= first:  # the fragment redraws while the run trains
        assert time.monotonic() < deadline, f"the live view stayed at step {first} for 60 s"
        page.wait_for_timeout(200)

    page.reload()  # a refresh is a new session: the run and its curve come back from the store
    page.get_by_text(re.compile(r"step \d+/5000")).first.wait_for(timeout=60_000)
    page.locator(".js-plotly-plot").first.wait_for(timeout=30_000)
    screenshot(page, "train-live")
    page.get_by_role("button", name="Stop").click()
    store = RunStore(lab_home)
    [run] = store.list()
    deadline = time.time() + 60
    while store.get(run.id).active and time.time() < deadline:
        page.wait_for_timeout(200)
    assert store.get(run.id).status == "stopped" and store.get(run.id).step < 5000
    page.get_by_text(re.compile(r"· stopped ·")).first.wait_for(timeout=30_000)
    screenshot(page, "train-stopped")


def test_a_quantized_base_is_offered_lora_and_full_is_refused(page, serve, lab_home, quantized_model_dir):
    use_model(page, serve(), quantized_model_dir)
    page.get_by_role("link", name="Train").click()
    page.get_by_text("This model is quantized (bitsandbytes 4-bit)").first.wait_for(timeout=60_000)
    settle(page)
    assert page.get_by_role("radio", name="lora").is_checked()
    page.get_by_text("full", exact=True).click()
    settle(page)
    page.get_by_role("button", name="Train", exact=True).click()
    page.get_by_text("cannot be fully fine-tuned").nth(1).wait_for(timeout=30_000)  # the warning, then the error
    screenshot(page, "train-quantized")
    assert RunStore(lab_home).list() == []


def test_inside_the_model_after_a_real_seed_run_shows_where_the_strategy_trained(page, serve, lab_home):
    """A short masked run of the seed task on the shipped model: trained tokens get cheaper, the prompt not."""
    store = RunStore(lab_home)
    run_id = store.create(RunConfig(**SEED, epochs=15, dtype="fp32"), load_sample("spanish"))
    assert execute(store, run_id) == "done"
    page.goto(serve() + "/inside")
    page.locator(".sl-chips").nth(2).wait_for(timeout=120_000)
    settle(page)
    rows = page.locator(".sl-chips")
    assert rows.count() == 3 and rows.first.locator(".sl-c").count() == 23
    changes = rows.nth(2).locator(".sl-c .l").all_inner_texts()
    trained = [float(c.split()[0]) for c in changes if c.endswith("✓")]
    assert len(trained) == 3 and all(change < -1 for change in trained)  # " per", "ro", "<|im_end|>"
    figure = page.locator(".js-plotly-plot").first
    figure.wait_for(timeout=30_000)
    assert "loss = -log p" in " ".join(figure.locator(".gtitle, .g-gtitle text").all_text_contents())
    screenshot(page, "inside-the-model")


def test_decoding_runs_three_strategies_in_the_browser(page, serve, tiny_model_dir):
    use_model(page, serve(), tiny_model_dir)
    page.get_by_role("link", name="Decoding").click()
    page.get_by_role("button", name="Decode").click()
    page.get_by_text("Spread over the samples").first.wait_for(timeout=60_000)
    settle(page)
    assert page.get_by_text("beam 0 · score").count() == 1 and page.get_by_text("beam 1 · score").count() == 1
    assert page.locator(".sl-text-view").count() == 5  # the prompt sent, greedy, two beams, the first sample
    screenshot(page, "decoding")


def test_gemma_trains_its_end_of_turn_and_the_audit_names_what_generation_misses(page, serve, gemma_tokenizer):
    """Gemma 3 270M typed into the sidebar: under its own template (TRL's gemma3) each answer's `<end_of_turn>`
    chip is learned under trl-assistant, and the audit badge says generation does not stop on it."""
    use_model(page, serve(), "gemma3-270m")
    open_tokens(page)
    ends = page.locator(".sl-chips .sl-c.sl-assistant", has=page.locator(".t", has_text="<end_of_turn>"))
    assert ends.count() >= 1
    strategies = page.locator(".sl-chips .sl-c.sl-key").first.locator(".l").all_inner_texts()
    trl_assistant = strategies.index("trl-asst")
    for k in range(ends.count()):
        assert ends.nth(k).locator(".l").nth(trl_assistant).inner_text() == "✓"
    badge = page.locator(".sl-badge.sl-bad", has_text="stop-token-not-eos")
    assert badge.inner_text().endswith("all strategies")
    assert "<end_of_turn>" in badge.get_attribute("title") and "<eos>" in badge.get_attribute("title")
    assert page.locator(".sl-badge.sl-ok", has_text="double-bos").count() == 1  # the control: one bos here
    screenshot(page, "tokens-gemma")
