"""Speed of `generation_ratio` on 100k short examples, against plain `tokenizer(...)` on the same texts.

    .venv/bin/python benchmarks/ratio_speed.py [--examples 100000] [--format classic chat-template]

The examples are the ChatterBot corpus's English dialogs (real, short, multi-turn) repeated up to --examples.
The floor is one batched `tokenizer(texts)` call on the texts the format renders: no tool can count tokens
faster than it tokenizes them. Goal (issue 5): 100k short examples in <= 30 s on a 2-core CPU.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "true")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=100_000)
    parser.add_argument("--format", nargs="+", default=["classic", "chat-template"])
    args = parser.parse_args()

    from lab.data.corpora import load_chatterbot
    from lab.labels.formats import render
    from lab.labels.ratio import generation_ratio
    from lab.models import load_tokenizer

    tokenizer = load_tokenizer()
    dialogs = load_chatterbot("english")
    examples = (dialogs * (args.examples // len(dialogs) + 1))[: args.examples]
    turns = sum(len(e.conversation.turns) for e in examples)
    print(f"{len(examples)} examples ({turns / len(examples):.1f} turns each), ChatterBot English dialogs repeated")
    print(f"{'format':<14} {'floor s':>8} {'lab s':>7} {'floor ex/s':>11} {'lab ex/s':>9} {'lab / floor':>12} goal")
    for fmt in args.format:
        texts = [render(e, tokenizer, fmt).text for e in examples]
        start = time.perf_counter()
        tokenizer(texts, add_special_tokens=fmt != "chat-template")
        floor = time.perf_counter() - start
        start = time.perf_counter()
        stats = generation_ratio(examples, tokenizer, fmt)
        lab = time.perf_counter() - start
        assert stats.count == len(examples)
        print(
            f"{fmt:<14} {floor:8.2f} {lab:7.2f} {len(examples) / floor:11.0f} {len(examples) / lab:9.0f} "
            f"{lab / floor:11.1f}x {'met' if lab <= 30 else 'NOT met'} (<= 30 s)"
        )


if __name__ == "__main__":
    main()
