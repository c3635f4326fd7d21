"""Names every part of the lab shares: the ignore label, the lab's home, dataset prefixes and run statuses."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

IGNORE_INDEX = -100  # the label PyTorch's cross-entropy skips: a token nobody learns

SAMPLE_PREFIX = "sample:"  # `sample:spanish`: a built-in sample set
CHATTERBOT_PREFIX = "chatterbot:"  # `chatterbot:english/food`: dialogs of the ChatterBot corpus

ACTIVE = ("queued", "running")  # a run that a worker holds or will pick up
RESUMABLE = ("interrupted", "stopped", "failed")  # a run that Resume can go on with
WITH_WEIGHTS = ("done", "stopped")  # a run whose final weights were written


def lab_home() -> Path:
    """The lab's home folder: `$SFT_LAB_HOME`, default `~/.cache/sft-lab`."""
    return Path(os.environ.get("SFT_LAB_HOME") or Path.home() / ".cache" / "sft-lab")


def first_line(error: BaseException, limit: int = 200) -> str:
    """The first line of an exception's message (at most `limit` characters), or its type's name."""
    text = str(error).strip()
    return text.splitlines()[0][:limit] if text else type(error).__name__


def pad_id(tokenizer) -> int | None:
    """The id a batch is padded with: the pad token, or the eos where a tokenizer has no pad."""
    return tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id


def atomic_write_text(path: Path, text: str) -> None:
    """Write a text file whole or not at all: to a temporary file beside it, then renamed over it."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def usable_memory() -> tuple[int, str]:
    """(bytes, in words) of the memory this process may use: its cgroup's limit (a container's) when there is
    one below the machine's, else the machine's."""
    machine = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    with contextlib.suppress(OSError, ValueError):  # no cgroup v2 limit to read: the machine's memory
        limit = Path("/sys/fs/cgroup/memory.max").read_text().strip()
        if limit != "max" and int(limit) < machine:
            return int(limit), f"this lab may use {int(limit) / 2**30:.1f} GiB"
    return machine, f"the machine has {machine / 2**30:.1f} GiB"
