"""Real-browser fixtures: the app served by `streamlit run` on a free port, driven by Playwright in Debian's
Chromium. Screenshots go to test-artifacts/. Every test fails if a JavaScript dialog opened.

A plugin (the repository's conftest.py loads it), so that tests/browser and tests/faults share one Chromium:
two sync Playwright instances cannot live in one process. A test that needs Chromium skips, saying why,
where Playwright or Debian's chromium is missing (`make test` installs both)."""

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import fresh_lab_home

ROOT = Path(__file__).resolve().parent.parent.parent
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = Path(os.environ.get("SFT_LAB_CHROMIUM", "/usr/bin/chromium"))
# The flags a headless Chromium needs in a container without a GPU, a sandbox or network (DEVELOPERS.md).
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def lab_home(tokenizer, tmp_path) -> Path:
    """A fresh lab home for the served app, sharing the test run's converted model."""
    return fresh_lab_home(tmp_path)


@pytest.fixture
def serve(lab_home):
    """Start the app on a free port with `lab_home`, with the project's .streamlit/config.toml as `make run`
    has it; returns a function giving its URL (started once)."""
    procs = []

    def start() -> str:
        if procs:
            return procs[0][1]
        port = _free_port()
        env = dict(os.environ, SFT_LAB_HOME=str(lab_home), HF_HUB_OFFLINE="1")
        log = open(lab_home / "streamlit.log", "w")
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "streamlit",
                "run",
                str(ROOT / "app.py"),
                "--server.port",
                str(port),
                "--server.headless",
                "true",
            ],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        url = f"http://127.0.0.1:{port}"
        procs.append((proc, url, log))
        start.pid = proc.pid  # the server's process, for tests that measure it
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                if urllib.request.urlopen(f"{url}/_stcore/health", timeout=1).status == 200:
                    return url
            except OSError:
                if proc.poll() is not None:
                    break
                time.sleep(0.3)
        raise RuntimeError(f"the app did not start: {(lab_home / 'streamlit.log').read_text()[-2000:]}")

    yield start
    for proc, _, log in procs:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


@pytest.fixture(scope="session")
def chromium():
    playwright = pytest.importorskip("playwright.sync_api", reason="playwright is installed by `make test`")
    if not CHROMIUM.is_file():
        pytest.skip(f"no Chromium at {CHROMIUM}: `make test` installs Debian's chromium")
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS)
        yield browser
        browser.close()


@pytest.fixture
def page(chromium, request):
    """A fresh browser page; the test fails if any alert/confirm/prompt dialog opened."""
    context = chromium.new_context(viewport={"width": 1400, "height": 1000})
    tab = context.new_page()
    dialogs: list[str] = []
    tab.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    yield tab
    context.close()
    assert not dialogs, f"dialogs opened: {dialogs}"


def screenshot(tab, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    tab.screenshot(path=str(path), full_page=True)
    return path


# Nothing running: no status widget ("Running…") and no element still drawn from the run before (stale).
QUIET = '() => !document.querySelector(\'[data-testid="stStatusWidget"], [data-stale="true"]\')'
QUIET_FOR_MS = 700  # Streamlit shows its status widget 500 ms into a rerun: quiet this long means none runs


def settle(tab, timeout: float = 60) -> None:
    """Wait until Streamlit has finished its rerun: the page is quiet, and still quiet a moment later (a rerun
    just asked for shows nothing for its first 500 ms)."""
    deadline = time.monotonic() + timeout
    while True:
        left = max(deadline - time.monotonic(), 0.001)
        tab.wait_for_function(QUIET, timeout=left * 1000)
        tab.wait_for_timeout(QUIET_FOR_MS)
        if tab.evaluate(QUIET):
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"the page did not settle within {timeout:.0f} s")
