"""The app as a workshop uses it, in a real browser: picks that stick, state that survives a refresh, the seed 000
lesson clicked through. (The server idling with a tab open is measured in benchmarks/app_train_speed.py.)"""

import time

from playwright.sync_api import TimeoutError as PlaywrightTimeout

from lab.data import Workspace, load_sample
from lab.train import RunStore
from tests.browser.fixtures import screenshot, settle


def pick_example(tab, label: str) -> str:
    box = tab.get_by_role("combobox", name="Example", exact=True)
    box.click()
    tab.get_by_role("option").filter(has_text=label).first.click()
    settle(tab)
    return box.input_value()


def test_the_example_picker_keeps_every_pick_on_every_page(page, serve, lab_home):
    Workspace(lab_home).save(load_sample("spanish"))
    url = serve()
    for path in ("", "/tokens"):
        page.goto(url + path)
        page.get_by_role("combobox", name="Example", exact=True).wait_for(timeout=90_000)
        settle(page)
        for pick in ("#2", "#3", "#1", "#4", "#0"):
            assert pick_example(page, pick).startswith(pick + " ·"), (path, pick)
    pick_example(page, "#3")
    page.get_by_role("link", name="Examples").click()
    page.get_by_text("What the model reads").first.wait_for(timeout=60_000)
    settle(page)
    assert page.get_by_role("combobox", name="Example", exact=True).input_value().startswith("#3 ·")
    assert f"example={Workspace(lab_home).examples()[3].uid}" in page.url  # this tab's choice, in its URL


def choose(tab, box: str, option: str) -> None:
    """Pick an option in a select box, as a person would: open it, type to filter, click the option."""
    field = tab.get_by_role("combobox", name=box, exact=True)
    listed = tab.get_by_role("option").filter(has_text=option).first
    for attempt in range(3):
        field.click()
        if attempt:
            field.fill(option)  # the list shows only what matches the box's text: type the option's name
        try:
            listed.wait_for(timeout=5_000)
            break
        except PlaywrightTimeout:
            field.press("Escape")
    listed.click()
    settle(tab)


def train_from_the_page(tab, store, strategy: str) -> str:
    tab.get_by_role("link", name="Train").click()
    tab.get_by_text("New run").first.wait_for(timeout=60_000)
    settle(tab)
    form = tab.get_by_test_id("stExpander").filter(has_text="New run").first
    # .first: the form's own fold, not the "Larger than one GPU?" one inside it
    if form.get_by_test_id("stExpanderDetails").first.get_attribute("inert") is not None:
        form.locator("summary").first.click()  # the form folds away once there are runs
        tab.wait_for_function(
            "() => !document.querySelector('[data-testid=stExpanderDetails]').hasAttribute('inert')", timeout=10_000
        )
    # the form ends with the button once the page has drawn it all (the precision probe may still be measuring)
    tab.get_by_role("button", name="Train", exact=True).wait_for(timeout=180_000)
    choose(tab, "Strategy (what is learned)", strategy)
    before = {r.id for r in store.list()}
    tab.get_by_role("button", name="Train", exact=True).click()
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        new = [r for r in store.list() if r.id not in before]
        if new and not new[0].active:
            assert new[0].status == "done", new[0].message
            tab.get_by_text("· done ·").first.wait_for(timeout=30_000)  # the page redrawn once it ended
            settle(tab)
            return new[0].id
        tab.wait_for_timeout(500)
    raise AssertionError(f"the {strategy} run did not finish")


def test_the_seed_000_workshop_from_the_seed_set_to_the_held_out_question(page, serve, lab_home):
    """Load the seed set, train it copied and masked from the Train page, compare the runs, decode the held-out
    question with the masked one: the whole lesson of seed 000, clicked through as a teacher would."""
    store = RunStore(lab_home)
    page.goto(serve() + "?format=classic")  # seed 000 teaches in its own rendering
    page.get_by_text("What the model reads").first.wait_for(timeout=90_000)
    page.get_by_text("Start from a built-in sample or a file").click()
    choose(page, "Built-in sample set", "spanish")
    page.get_by_role("button", name="Replace the current set with it").click()
    page.get_by_role("button", name="Yes, replace the set").click()
    page.get_by_text("Loaded 5 examples from sample:spanish").wait_for(timeout=30_000)

    copied = train_from_the_page(page, store, "copy")
    masked = train_from_the_page(page, store, "special-mask")
    assert [store.get(r).config.strategy for r in (copied, masked)] == ["copy", "special-mask"]

    page.get_by_role("link", name="Compare runs").click()
    rows = page.locator(".sl-chips")
    rows.nth(2).wait_for(timeout=180_000)  # the base model and both runs read the example
    settle(page)
    assert page.locator(".js-plotly-plot .scatterlayer .trace").count() == 6  # three losses of two runs
    assert rows.count() == 3  # the base model, copy, special-mask
    marked = [rows.nth(k).get_by_text("✓").count() for k in range(3)]
    assert marked[0] == 0 and marked[1] == 23 and marked[2] == 3
    page.get_by_role("button", name="Answer with every run").click()
    page.locator(".sl-text-view").nth(2).wait_for(timeout=120_000)
    settle(page)
    answers = page.locator(".sl-text-view").all_inner_texts()
    assert len(answers) == 3
    page.set_viewport_size({"width": 1400, "height": 2300})  # the whole comparison in one picture
    settle(page)
    screenshot(page, "compare")
    page.set_viewport_size({"width": 1400, "height": 1000})

    page.get_by_role("link", name="Decoding").click()
    page.get_by_role("combobox", name="Model", exact=True).wait_for(timeout=60_000)
    settle(page)
    choose(page, "Model", masked[-6:])  # a run is listed by its label, which ends with its id's last 6 characters
    main = page.get_by_test_id("stMainBlockContainer")
    assert main.get_by_role("radio", name="classic").is_checked()  # asked as the run was trained
    page.get_by_role("button", name="Decode").click()
    page.get_by_text("Spread over the samples").wait_for(timeout=180_000)
    settle(page)
    greedy = page.locator(".sl-text-view").nth(1).inner_text()  # after the prompt sent
    assert greedy.replace("↵", "").startswith(answers[2].replace("↵", ""))  # Compare's 8 tokens, then more

    page.get_by_role("link", name="Tokens & labels").click()
    page.locator(".sl-chips").first.wait_for(timeout=60_000)
    page.get_by_text("Projector", exact=True).click()  # a room reads it from metres away
    page.wait_for_function("() => getComputedStyle(document.documentElement).fontSize === '21px'", timeout=30_000)
    settle(page)
    assert page.locator(".sl-c > .l").first.evaluate("e => getComputedStyle(e).fontSize") == "16px"
    screenshot(page, "projector")
