"""Server time of the Tokens & labels page for a ~4k-token multi-turn conversation, against tokenizing alone.

    .venv/bin/python benchmarks/tokens_page.py [--turns 40] [--repeat 5]

Prints, in one process on the same conversation and the shipped tokenizer:
  tokenize   `tokenizer(text)` of the rendered text (the floor: no tool can label tokens it has not made)
  lab        render + tokenize + all six strategies + disagreements + counts + the chips' HTML
  page       a whole rerun of the page in Streamlit's AppTest (server side: script, widgets, messages)
Goal (issue 4): page <= 0.5 s on a 2-core CPU.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from timing import timings  # noqa: E402  (benchmarks/, first on sys.path when a script runs)

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("STREAMLIT_LOGGER_LEVEL", "error")


def long_conversation(turns: int):
    from lab.data.examples import conversation

    pairs = [("system", "You are a patient tutor who answers in full sentences.")]
    for k in range(turns):
        pairs.append(
            (
                "user",
                f"Question {k}: how do you say the word number {k} in Spanish, and why is it "
                "spelled that way? Please explain the pronunciation as well, slowly. " * 2,
            )
        )
        pairs.append(
            (
                "assistant",
                f"Answer {k}: the word is written with a silent h, stressed on the second "
                "syllable, and it comes from Latin through Old Castilian. " * 3,
            )
        )
    return conversation(*pairs)


def best(fn, repeat: int) -> tuple[float, float]:
    """Best and median seconds of `repeat` calls."""
    times = timings(fn, repeat)
    return min(times), statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=24, help="user/assistant pairs (24 give ~4.1k tokens)")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--format", default="classic", choices=("classic", "chat-template"))
    args = parser.parse_args()

    from lab.data.workspace import Workspace
    from lab.labels.compare import compare, summarise
    from lab.labels.formats import render
    from lab.labels.strategies import label_example
    from lab.labels.tokens import tokenize_example
    from lab.models import load_tokenizer
    from lab.views.chips import token_chips

    tokenizer = load_tokenizer()
    example = long_conversation(args.turns)
    text = render(example, tokenizer, args.format).text

    def lab_view():
        item = tokenize_example(example, tokenizer, args.format)
        labelled = label_example(item, tokenizer)
        compare(item, labelled, tokenizer)
        summarise(item, labelled, tokenizer)
        return item, token_chips(item, labelled)

    item, chips = lab_view()
    n_tokens = len(item.encoded)
    tokenize = best(lambda: tokenizer(text), args.repeat)
    lab = best(lab_view, args.repeat)

    from streamlit.testing.v1 import AppTest

    from lab.common import lab_home

    converted = lab_home() / "models"  # the page gets its own workspace but reuses the converted model
    with tempfile.TemporaryDirectory() as home:
        os.environ["SFT_LAB_HOME"] = home
        (Path(home) / "models").symlink_to(converted)
        Workspace(home).save([example])
        at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=300)
        at.session_state["format"] = args.format
        at.run()
        at.switch_page("app_pages/tokens.py").run()
        if at.exception:
            raise SystemExit(f"the page failed: {at.exception[0].message}")
        page = best(lambda: at.run(), args.repeat)

    print(
        f"{n_tokens} tokens, {args.format} format, {len(chips) / 1e6:.2f} MB of chip HTML; best / median of "
        f"{args.repeat}"
    )
    print(f"{'step':<10} {'best s':>8} {'median s':>9} {'x tokenize':>11}")
    for name, (low, mid) in (("tokenize", tokenize), ("lab", lab), ("page", page)):
        print(f"{name:<10} {low:8.3f} {mid:9.3f} {low / tokenize[0]:11.1f}")
    print(f"goal: page <= 0.5 s: {'met' if page[0] <= 0.5 else 'NOT met'}")


if __name__ == "__main__":
    main()
