"""The Export box of the Train page in a real browser: the model written, the TRL hand-off shown."""

from lab.data import load_sample
from lab.train import RunConfig, RunStore, execute
from tests.browser.fixtures import screenshot, settle
from tests.conftest import SEED


def test_the_export_box_writes_a_merged_model_and_shows_the_trl_hand_off(page, serve, lab_home, tiny_model_dir):
    store = RunStore(lab_home)
    config = RunConfig(**SEED, model=str(tiny_model_dir), method="lora", epochs=2, lr=5e-2, dtype="fp32")
    run_id = store.create(config, load_sample("spanish"))
    assert execute(store, run_id) == "done"
    page.goto(serve() + "/train")
    page.get_by_text("Take it further").wait_for(timeout=90_000)
    settle(page)
    page.get_by_text("Merge the adapter into the base (float32)").click()
    page.get_by_role("button", name="Export the model").click()
    page.get_by_text("merged into the base model, float32").first.wait_for(timeout=60_000)
    assert (lab_home / "exports" / run_id / "model.safetensors").is_file()
    page.get_by_role("button", name="Show the TRL hand-off").click()
    page.get_by_text("completion_only_loss: true").first.wait_for(timeout=60_000)
    settle(page)
    assert page.get_by_role("button", name="launch.sh").count() == 1  # a download per file
    assert page.get_by_test_id("stAlertContentInfo").filter(has_text="TRL trains exactly the labels").count() == 1
    page.set_viewport_size({"width": 1400, "height": 1700})
    page.get_by_text("Take it further").scroll_into_view_if_needed()
    settle(page)
    screenshot(page, "export")
