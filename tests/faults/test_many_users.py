"""Many people, one server: every edit made in its own tab is kept, a stale edit is refused in words, and each
tab has its own selected example."""

from lab.data import Workspace, conversation
from tests.browser.fixtures import settle

CONTEXTS = 8


def open_example(tab, url: str, k: int) -> None:
    tab.goto(url)
    box = tab.get_by_role("combobox", name="Example", exact=True)
    box.wait_for(timeout=120_000)
    settle(tab, timeout=120)
    box.click()
    tab.get_by_role("option").filter(has_text=f"#{k} ·").first.click()
    settle(tab, timeout=120)


def test_eight_tabs_each_editing_their_own_example_keep_all_eight_edits(chromium, serve, lab_home):
    Workspace(lab_home).save(
        [conversation(("user", f"question {k}"), ("assistant", f"answer {k}")) for k in range(CONTEXTS)]
    )
    url = serve()
    contexts = [chromium.new_context(viewport={"width": 1200, "height": 900}) for _ in range(CONTEXTS)]
    try:
        tabs = [context.new_page() for context in contexts]
        for k, tab in enumerate(tabs):
            open_example(tab, url, k)
            tab.get_by_label("Content of turn 1 (assistant)").fill(f"edited in tab {k}")
        for tab in tabs:  # commit all eight at once: a text area commits when it loses focus
            tab.get_by_label("Content of turn 1 (assistant)").press("Tab")
        for k, tab in enumerate(tabs):  # what each person sees once their page is quiet: their text, no warning
            settle(tab, timeout=120)
            assert tab.get_by_label("Content of turn 1 (assistant)").input_value() == f"edited in tab {k}"
            assert not tab.get_by_text("another tab").count()
        saved = [e.conversation.turns[1].content for e in Workspace(lab_home).examples()]
        assert saved == [f"edited in tab {k}" for k in range(CONTEXTS)]
        for k, tab in enumerate(tabs):  # and after a refresh, from the saved set
            open_example(tab, url, k)
            assert tab.get_by_label("Content of turn 1 (assistant)").input_value() == f"edited in tab {k}"
    finally:
        for context in contexts:
            context.close()


def test_an_edit_follows_its_example_when_another_tab_moves_it_and_a_stale_one_is_refused(chromium, serve, lab_home):
    Workspace(lab_home).save([conversation(("user", f"question {k}"), ("assistant", f"answer {k}")) for k in range(5)])
    url = serve()
    a, b = (chromium.new_context(viewport={"width": 1200, "height": 900}) for _ in range(2))
    try:
        tab_a, tab_b = a.new_page(), b.new_page()
        open_example(tab_a, url, 3)
        open_example(tab_b, url, 3)
        tab_a.get_by_label("Content of turn 1 (assistant)").fill("typed in tab A")
        tab_b.get_by_role("button", name="Move up").click()  # tab B moves the example A is editing
        settle(tab_b)
        tab_a.get_by_label("Content of turn 1 (assistant)").press("Tab")
        settle(tab_a)
        saved = [e.conversation.turns[1].content for e in Workspace(lab_home).examples()]
        assert saved == ["answer 0", "answer 1", "typed in tab A", "answer 2", "answer 4"]
        assert tab_a.get_by_role("combobox", name="Example", exact=True).input_value().startswith("#2 ·")

        tab_b.reload()  # B sees the new text; A still shows its own page of the example
        tab_b.get_by_label("Content of turn 1 (assistant)").wait_for(timeout=60_000)
        settle(tab_b)
        tab_b.get_by_label("Content of turn 1 (assistant)").fill("B's answer")
        tab_b.get_by_label("Content of turn 1 (assistant)").press("Tab")
        settle(tab_b)
        tab_a.get_by_role("button", name="✕").nth(1).click()  # A deletes the turn it saw, which B rewrote
        refusal = tab_a.get_by_text("this example changed in another tab since you opened it").first
        refusal.wait_for(timeout=30_000)
        assert Workspace(lab_home).examples()[2].conversation.turns[1].content == "B's answer"  # kept
    finally:
        a.close()
        b.close()
