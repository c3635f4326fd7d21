"""Stopping the server (SIGTERM, as a service manager or Ctrl-C in a terminal does) while it trains: it exits
within 4 s, and its run reads interrupted at once, saying what a resume will do, not `running` for a lease."""

import time

import psutil

from lab.data import Workspace, load_sample
from lab.train import RunStore
from tests.browser.fixtures import settle


def test_a_stopped_server_exits_within_4_s_and_its_run_reads_interrupted(page, serve, lab_home):
    Workspace(lab_home).save(load_sample("spanish"))
    page.goto(serve() + "/train")
    page.get_by_role("button", name="Train", exact=True).wait_for(timeout=90_000)
    settle(page)
    page.get_by_role("button", name="Train", exact=True).click()
    store = RunStore(lab_home)
    deadline = time.monotonic() + 120
    while not (store.list() and store.list()[0].step >= 1):
        assert time.monotonic() < deadline, "the run did not take a step"
        time.sleep(0.2)
    server = psutil.Process(serve.pid)
    stopped = time.monotonic()
    server.terminate()
    server.wait(timeout=4)
    assert time.monotonic() - stopped < 4
    run = store.list()[0]
    assert run.status == "interrupted"
    assert run.message.startswith(f"the lab stopped at step {run.step}; Resume ")
