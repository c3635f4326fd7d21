"""`python -m lab check` and `python -m lab ratio` on large files: rows/s against tokenizing alone, and peak memory.

    .venv/bin/python benchmarks/stream_check.py [--rows 100000 1000000] [--format chat-template]
        [--commands ratio check] [--strategy copy special-mask response-template prompt-weight]

The rows are the ChatterBot corpus's English dialogs (real, short, multi-turn) as TRL `messages` rows, repeated
into a JSONL file of each size. Each command runs as a person runs it, in its own process (`python -m lab ...`),
and its peak resident memory is the kernel's count for that process (wait4's ru_maxrss). The baseline is one
batched `tokenizer(texts)` call on the texts the format renders, in this process, on the first 20,000 rows:
no tool can lint rows faster than it tokenizes them. Goals (issue 25): at least 0.5x that throughput, and a
peak memory that stays flat from 100k to 1M rows.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "true")
BASELINE_ROWS = 20_000


def write_rows(path: Path, rows: int) -> None:
    from lab.data.corpora import load_chatterbot
    from lab.data.examples import example_to_row

    lines = [json.dumps(example_to_row(e), ensure_ascii=False) + "\n" for e in load_chatterbot("english")]
    with open(path, "w", encoding="utf-8") as f:
        for k in range(rows):
            f.write(lines[k % len(lines)])


def tokenize_alone(path: Path, fmt: str) -> float:
    """Rows per second of one batched tokenizer call on the rendered texts of the first BASELINE_ROWS rows."""
    from itertools import islice

    from lab.data.sources import iter_examples
    from lab.labels.formats import render
    from lab.models import load_tokenizer

    tokenizer = load_tokenizer()
    texts = [render(e, tokenizer, fmt).text for e in islice(iter_examples(path), BASELINE_ROWS)]
    start = time.perf_counter()
    tokenizer(texts, add_special_tokens=fmt != "chat-template")
    return len(texts) / (time.perf_counter() - start)


def run(command: list[str]) -> tuple[float, float, int]:
    """(seconds, peak resident MiB, exit code) of a command in its own process."""
    start = time.perf_counter()
    proc = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    code = os.waitstatus_to_exitcode(status)
    if code not in (0, 1):  # 1: findings or skipped rows, which is an answer
        raise SystemExit(f"{' '.join(command)} failed ({code}): {proc.stderr.read().decode()[-800:]}")
    return seconds, usage.ru_maxrss / 1024, code


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--format", default="chat-template")
    parser.add_argument("--commands", nargs="+", default=["ratio", "check"])
    parser.add_argument("--strategy", nargs="+", default=["copy", "special-mask", "response-template", "prompt-weight"])
    parser.add_argument("--folder", default="/tmp/sft-lab-stream-bench")
    args = parser.parse_args()
    folder = Path(args.folder)
    folder.mkdir(parents=True, exist_ok=True)
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, {platform.processor() or platform.platform()}")
    files = {}
    for rows in args.rows:
        files[rows] = folder / f"rows-{rows}.jsonl"
        if not files[rows].is_file():
            write_rows(files[rows], rows)
    floor = tokenize_alone(files[min(args.rows)], args.format)
    print(f"tokenize alone (batched, first {BASELINE_ROWS:,} rows, {args.format}): {floor:,.0f} rows/s")
    print(f"{'command':<8} {'rows':>10} {'seconds':>9} {'rows/s':>9} {'x tokenize':>11} {'peak MiB':>9}")
    for command in args.commands:
        for rows in args.rows:
            cli = [sys.executable, "-m", "lab", command, str(files[rows]), "--format", args.format]
            if command == "check":
                cli += ["--strategy", *args.strategy]
            seconds, peak, _ = run(cli)
            rate = rows / seconds
            print(f"{command:<8} {rows:>10,} {seconds:9.1f} {rate:9,.0f} {rate / floor:10.2f}x {peak:9.0f}")
    if "check" in args.commands:
        print(f"check strategies: {' '.join(args.strategy)}")


if __name__ == "__main__":
    main()
