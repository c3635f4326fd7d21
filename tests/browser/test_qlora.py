"""QLoRA from the Train page in Chromium, on the shipped model: LoRA on a 4-bit base, then the run decoded and
inspected as any other."""

import time

from lab.data import Workspace, load_sample
from lab.train import RunStore
from tests.browser.fixtures import screenshot, settle
from tests.browser.test_workshop import choose


def test_the_seed_task_trains_as_qlora_from_the_page_then_decodes_and_is_inspected(page, serve, lab_home):
    Workspace(lab_home).save(load_sample("spanish"))
    store = RunStore(lab_home)
    page.goto(serve() + "/train")
    page.get_by_role("button", name="Train", exact=True).wait_for(timeout=120_000)
    settle(page)
    page.get_by_test_id("stMainBlockContainer").get_by_text("lora", exact=True).click()
    settle(page)
    page.get_by_text("4bit", exact=True).click()
    settle(page)
    sizes = page.get_by_text("Base weights in memory").inner_text()
    assert "fp32 513 MiB" in sizes and "4-bit NF4 160 MiB (3.2x less)" in sizes, sizes
    screenshot(page, "qlora-train-form")
    page.get_by_role("button", name="Train", exact=True).click()
    deadline = time.monotonic() + 300
    while not (store.list() and not store.list()[0].active):
        assert time.monotonic() < deadline, "the QLoRA run did not finish"
        page.wait_for_timeout(500)
    run = store.list()[0]
    assert (run.status, run.config.quantization, run.step) == ("done", "4bit", 15), run.message
    last = store.metrics(run.id)[-1]
    assert last["completion_loss"] < 4.0 < store.metrics(run.id)[0]["completion_loss"]
    page.get_by_text("· done ·").first.wait_for(timeout=30_000)
    settle(page)
    screenshot(page, "qlora-train")

    page.get_by_role("link", name="Decoding").click()
    page.get_by_role("combobox", name="Model", exact=True).wait_for(timeout=60_000)
    settle(page)
    choose(page, "Model", run.id[-6:])  # a run is listed by its label, which ends with its id's last 6
    page.get_by_role("button", name="Decode").click()
    page.get_by_text("Spread over the samples").wait_for(timeout=180_000)
    settle(page)
    assert page.locator(".sl-text-view").nth(1).inner_text().strip()  # the QLoRA model answered

    page.get_by_role("link", name="Inside the model").click()
    page.locator(".sl-chips").first.wait_for(timeout=180_000)
    settle(page)
    assert page.get_by_text("mean completion loss").count() >= 1
    screenshot(page, "qlora-inside")
