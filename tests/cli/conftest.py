"""Helpers of the command-line tests: the CLI in a fresh process, and a JSONL file from rows."""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent


def run_cli(*args, **kwargs) -> subprocess.CompletedProcess:
    """The CLI in a fresh process, as scripts and CI jobs call it."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1"} | kwargs.pop("env", {})
    return subprocess.run(
        [sys.executable, "-m", "lab", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, **kwargs
    )


def write(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path
