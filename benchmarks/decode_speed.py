"""Cost of the step trace: `lab.look.decoding.decode` against plain `model.generate`, 64 new tokens, same process.

    .venv/bin/python benchmarks/decode_speed.py [--new-tokens 64] [--repeat 3]

The shipped SmolLM2-135M on CPU; greedy, and beam search with 4 beams. min_new_tokens keeps both runs the
same length. Goal (issue 7): traced <= 1.3x plain.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from timing import timings  # noqa: E402  (benchmarks/, first on sys.path when a script runs)

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def best(fn, repeat: int) -> float:
    return min(timings(fn, repeat))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--new-tokens", type=int, default=64)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    import torch

    from lab.labels.formats import apply_chat_template
    from lab.look.decoding import DecodeSettings, decode
    from lab.models import load_model, load_tokenizer

    tokenizer, model = load_tokenizer(), load_model(None, "cpu")
    prompt = apply_chat_template(
        tokenizer, [{"role": "user", "content": "Tell me about the history of Paris."}], generation_prompt=True
    )
    inputs = tokenizer(prompt, return_tensors="pt", add_special_tokens=False)
    n = args.new_tokens
    print(f"{n} new tokens, best of {args.repeat}, torch {torch.__version__}, {torch.get_num_threads()} threads")
    print(f"{'strategy':<10} {'plain s':>8} {'traced s':>9} {'traced / plain':>15}")
    for strategy, extra in (("greedy", {"num_beams": 1}), ("beam", {"num_beams": 4})):

        def plain(extra=extra):  # called in this iteration only
            with torch.no_grad():
                model.generate(
                    **inputs,
                    do_sample=False,
                    max_new_tokens=n,
                    min_new_tokens=n,
                    pad_token_id=tokenizer.pad_token_id,
                    **extra,
                )

        settings = DecodeSettings(strategy, max_new_tokens=n, num_beams=max(extra["num_beams"], 2))
        model.generation_config.min_new_tokens = n  # same length for both
        traced = best(lambda s=settings: decode(model, tokenizer, prompt, s, add_special_tokens=False), args.repeat)
        model.generation_config.min_new_tokens = None
        base = best(plain, args.repeat)
        print(f"{strategy:<10} {base:8.2f} {traced:9.2f} {traced / base:14.2f}x")


if __name__ == "__main__":
    main()
