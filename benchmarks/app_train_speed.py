"""Training from the Train page against `python -m lab train`: the same run, tokens/s side by side.

    .venv/bin/python benchmarks/app_train_speed.py [--tasks seed reading qlora4] [--rounds 1]

A real `streamlit run` server (the project's .streamlit/config.toml, as `make run` serves it) driven by
Debian's Chromium through Playwright. Each task is trained three ways, one after the other, on one lab home:
  cli        `python -m lab train` in the foreground
  watching   pressed Train on the page, the tab left open on the live view until the run is done
  away       pressed Train, then the tab moved to the Examples page
Figures are the run's own: tokens/s over its training steps and the seconds they took (loading the model and
tokenizing are not counted, in any of the three). The ratio is the page's tokens/s over the command line's.
While the page trains, the CPU each side used is counted too, in cores (1.0 = one core all the time): the
server, Chromium, and the process that trains. First, the server's share with a tab open and nothing running.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from lab.common import lab_home  # noqa: E402
from lab.data.sources import load_sample  # noqa: E402
from lab.data.workspace import Workspace  # noqa: E402
from lab.train.store import RunStore  # noqa: E402

# name: (sample, epochs, method, quantization); all classic format and special-mask, the seed lesson's.
TASKS = {
    "seed": ("spanish", 15, "full", "none"),
    "reading": ("reading", 3, "full", "none"),
    "qlora4": ("spanish", 15, "lora", "4bit"),
}
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"]
FLAGS += ["--disable-sync", "--no-first-run"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve(home: Path, env: dict) -> tuple[subprocess.Popen, str]:
    port = free_port()
    command = [sys.executable, "-m", "streamlit", "run", str(ROOT / "app.py"), "--server.port", str(port)]
    proc = subprocess.Popen(
        command + ["--server.headless", "true"],
        cwd=ROOT,
        env=env,
        stdout=open(home / "streamlit.log", "w"),
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            if urllib.request.urlopen(f"{url}/_stcore/health", timeout=1).status == 200:
                return proc, url
        except OSError:
            time.sleep(0.2)
    raise SystemExit("the app did not start")


def cpu_seconds(processes) -> float:
    total = 0.0
    for process in processes:
        with contextlib.suppress(Exception):  # a process that ended meanwhile
            times = process.cpu_times()
            total += times.user + times.system
    return total


class CpuShare:
    """CPU seconds per second of the server, Chromium and the training process, from start() to stop()."""

    def __init__(self, server_pid: int):
        import psutil  # installed with the project's requirements (streamlit needs it)

        self.psutil, self.server = psutil, psutil.Process(server_pid)

    def groups(self) -> dict[str, list]:
        children = self.server.children(recursive=True)
        child = [p for p in children if "lab.train.child" in " ".join(p.cmdline())]
        chromium = [p for p in self.psutil.process_iter(["name"]) if "chrom" in (p.info["name"] or "")]
        return {"server": [self.server], "trainer": child, "chromium": chromium}

    def start(self) -> None:
        self.began, self.watched = time.monotonic(), self.groups()
        self.before = {k: cpu_seconds(v) for k, v in self.watched.items()}

    def stop(self) -> dict[str, float]:
        took = time.monotonic() - self.began
        return {k: (cpu_seconds(v) - self.before[k]) / took for k, v in self.watched.items()}


def idle_share(browser, url: str, share: CpuShare) -> float:
    """The server's CPU share with a tab open on the Examples page and nothing running."""
    page = browser.new_page()
    page.goto(url)
    page.get_by_text("What the model reads").first.wait_for(timeout=120_000)
    settled(page)
    page.wait_for_timeout(2000)
    share.start()
    page.wait_for_timeout(6000)
    used = share.stop()["server"]
    page.close()
    return used


def finished(store: RunStore, known: set[str]):
    """The run started since `known` was taken, once it has ended (None before)."""
    runs = [r for r in store.list() if r.id not in known]
    return runs[0] if runs and not runs[0].active else None


def figures(store: RunStore, run) -> tuple[float, float]:
    if run.status != "done":
        raise SystemExit(f"run {run.id} ended {run.status}: {run.message}")
    last = store.metrics(run.id)[-1]
    return last["tokens_per_s"], last["elapsed"]


def by_cli(store: RunStore, task: str, env: dict) -> tuple[float, float]:
    sample, epochs, method, quantization = TASKS[task]
    command = [sys.executable, "-m", "lab", "train", "--data", f"sample:{sample}", "--format", "classic"]
    command += ["--strategy", "special-mask", "--epochs", str(epochs), "--method", method]
    command += ["--quantization", quantization]
    known = {r.id for r in store.list()}
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"the CLI failed: {done.stderr[-500:]}")
    return figures(store, finished(store, known))


def by_page(browser, url: str, store: RunStore, task: str, watching: bool, share: CpuShare) -> tuple:
    sample, epochs, method, quantization = TASKS[task]
    Workspace(store.home).save(load_sample(sample))
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    try:
        page.goto(f"{url}/train?format=classic")
        page.get_by_text("New run").first.wait_for(timeout=120_000)
        settled(page)
        form = page.get_by_test_id("stExpander").filter(has_text="New run").first
        if form.get_by_test_id("stExpanderDetails").first.get_attribute("inert") is not None:
            form.locator("summary").first.click()  # the form folds away once there are runs
            settled(page)
        if method == "lora":
            page.get_by_test_id("stMainBlockContainer").get_by_text("lora", exact=True).click()
            settled(page)
            page.get_by_text(quantization, exact=True).click()
            settled(page)
        field = page.get_by_label("Epochs", exact=True).and_(page.locator("input"))
        field.fill(str(epochs))
        field.press("Tab")
        settled(page)
        known = {r.id for r in store.list()}
        page.get_by_role("button", name="Train", exact=True).click()
        deadline = time.monotonic() + 60
        while not [r for r in store.list() if r.id not in known]:
            if time.monotonic() > deadline:
                page.screenshot(path=str(store.home / "no-run.png"), full_page=True)
                raise SystemExit(f"pressing Train started no run: see {store.home / 'no-run.png'}")
            page.wait_for_timeout(200)
        if not watching:
            page.get_by_role("link", name="Examples").click()
        while not [r for r in store.list() if r.id not in known and r.step]:  # training, not loading
            page.wait_for_timeout(200)
        share.start()
        run = None
        while run is None:  # the browser goes on drawing while this waits
            page.wait_for_timeout(500)
            run = finished(store, known)
        return (*figures(store, run), share.stop())
    finally:
        context.close()


def settled(page) -> None:
    page.wait_for_timeout(300)
    page.wait_for_function("() => !document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=120_000)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", nargs="+", choices=list(TASKS), default=list(TASKS))
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    from lab.train.hardware import bf16_probe

    home = Path(tempfile.mkdtemp(prefix="sft-lab-app-bench-"))
    (home / "models").symlink_to(lab_home() / "models")  # the converted model, as after a first `make run`
    env = dict(os.environ, SFT_LAB_HOME=str(home), HF_HUB_OFFLINE="1", TRANSFORMERS_VERBOSITY="error")
    os.environ["SFT_LAB_HOME"] = str(home)
    store = RunStore(home)
    server, url = serve(home, env)
    print(f"{bf16_probe().machine}; {platform.machine()}, {os.cpu_count()} cores; SmolLM2-135M, classic, special-mask")
    share = CpuShare(server.pid)
    try:
        with sync_playwright() as p:
            chromium = os.environ.get("SFT_LAB_CHROMIUM", "/usr/bin/chromium")
            browser = p.chromium.launch(executable_path=chromium, args=FLAGS)
            print(f"idle server with a tab open: {idle_share(browser, url, share):.3f} cores")
            by_cli(store, "seed", env)  # a first run measures the bf16 probe and warms the file cache: not shown
            head = f"{'task':<8} {'how':<9} {'tokens/s':>9} {'trained s':>10} {'x cli':>6}"
            print(head + "   CPU (cores) while it trained")
            for task in args.tasks:
                for _ in range(args.rounds):
                    rows = {"cli": (*by_cli(store, task, env), None)}
                    rows["watching"] = by_page(browser, url, store, task, True, share)
                    rows["away"] = by_page(browser, url, store, task, False, share)
                    for how, (speed, seconds, cpu) in rows.items():
                        used = "   " + ", ".join(f"{k} {v:.2f}" for k, v in cpu.items()) if cpu else ""
                        ratio = speed / rows["cli"][0]
                        print(f"{task:<8} {how:<9} {speed:9.0f} {seconds:10.1f} {ratio:6.2f}{used}", flush=True)
            browser.close()
    finally:
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    main()
