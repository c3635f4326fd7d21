"""The "Will it fit?" page in Chromium, on the shipped model's config: four bars, and with a memory limit the
verdicts a person reads (full fine-tuning does not fit where QLoRA does)."""

from lab.models.plan import plan
from lab.models.references import model_config
from tests.browser.fixtures import screenshot, settle


def test_the_planner_says_which_methods_fit_in_the_memory_given(page, serve):
    page.goto(serve() + "/plan")
    page.get_by_text("QLoRA 4-bit", exact=True).first.wait_for(timeout=120_000)
    settle(page)
    page.locator(".js-plotly-plot .barlayer .trace").first.wait_for(timeout=60_000)  # the stacked bars are drawn
    page.get_by_label("Devices and their memory (empty: this machine)").fill("cpu=1.5GiB")
    page.keyboard.press("Enter")
    page.get_by_text("does not fit").first.wait_for(timeout=60_000)
    settle(page)
    verdicts = page.get_by_test_id("stMarkdownContainer").all_inner_texts()
    full = next(v for v in verdicts if "full: " in v)  # after the verdict's icon
    qlora = next(v for v in verdicts if "QLoRA 4-bit: " in v)
    expected = plan(model_config("smollm2-135m-instruct"), "full", max_memory="cpu=1.5GiB")
    assert not expected.fits and f"{expected.bytes['total'] / 2**30:.2f} GiB" in full, full
    assert "QLoRA 4-bit: fits" in qlora, qlora
    assert page.get_by_text("Where each part sits").count() == 1
    screenshot(page, "plan")
