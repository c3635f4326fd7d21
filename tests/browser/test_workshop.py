"""The app as a workshop uses it, in a real browser: picks that stick, a server that idles, state that survives a
refresh."""

import os
import time

from lab.data import Workspace, load_sample
from tests.browser.conftest import settle


def cpu_seconds(pid: int) -> float:
    """User and system CPU time a process has used so far (Linux)."""
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


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
    assert Workspace(lab_home).state().selected == 3


def test_the_server_idles_with_a_tab_open(page, serve):
    """No file watcher: with one, the server kept a core busy whenever a tab was open (.venv overflowed
    inotify), a core a training run on a 2-core laptop cannot spare."""
    page.goto(serve())
    page.get_by_text("What the model reads").first.wait_for(timeout=90_000)
    settle(page)
    page.wait_for_timeout(2000)
    before, start = cpu_seconds(serve.pid), time.monotonic()
    page.wait_for_timeout(6000)
    share = (cpu_seconds(serve.pid) - before) / (time.monotonic() - start)
    assert share < 0.1, f"the idle server used {share:.0%} of a core"
