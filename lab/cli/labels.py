"""`python -m lab tokens | check | ratio`: what a fine-tune learns from a dataset, token by token and in sum."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

from tqdm import tqdm

from lab.cli.common import (
    EXIT_FINDINGS,
    EXIT_OK,
    add_label_options,
    example_at,
    label_settings,
    strategies,
    tokenizer_of,
)
from lab.data.examples import conversation
from lab.data.sources import iter_examples
from lab.errors import LabError, ModelError
from lab.labels.check import check_stream
from lab.labels.compare import compare
from lab.labels.ratio import RatioStats, generation_ratio
from lab.labels.strategies import STRATEGIES, label_example
from lab.labels.token_labels import Labels
from lab.labels.tokens import Tokenized, tokenize_example, visible
from lab.models.references import generation_stop_ids, model_vocab_size

DATA_HELP = (
    "dataset: a .jsonl/.json/.csv/.parquet/.arrow file, a datasets save_to_disk folder, a hub id "
    "(org/name[:config][:split]) or sample:NAME"
)


def add_parsers(sub) -> None:
    tokens = sub.add_parser("tokens", help="every token of one example and its label under each strategy")
    tokens.add_argument("--data", metavar="FILE", help=DATA_HELP)
    tokens.add_argument("--index", type=int, default=0, help="which example of --data (default 0)")
    tokens.add_argument("--user", metavar="TEXT", help="a user message, instead of --data")
    tokens.add_argument("--assistant", metavar="TEXT", help="the assistant's answer, with --user")
    tokens.add_argument("--system", metavar="TEXT", help="an optional system message, with --user")
    tokens.add_argument(
        "--strategy",
        nargs="+",
        default=["all"],
        metavar="NAME",
        help=f"strategies to show, or all: {', '.join(STRATEGIES)}",
    )
    add_label_options(tokens)
    tokens.set_defaults(handler=run_tokens)

    lint = sub.add_parser("check", help="lint a dataset's masks; exit 1 when anything is found")
    lint.add_argument("file", metavar="FILE", help=DATA_HELP)
    lint.add_argument(
        "--strategy", nargs="+", default=["all"], metavar="NAME", help="strategies to check (default all)"
    )
    lint.add_argument(
        "--max-length",
        type=int,
        default=1024,
        metavar="N",
        help="training max length; completions cut by it are reported (TRL's default 1024; 0: off)",
    )
    add_label_options(lint)
    lint.set_defaults(handler=run_check)

    ratio = sub.add_parser("ratio", help="generation ratio Rg = completion / prompt tokens of a dataset")
    ratio.add_argument("file", metavar="FILE", help=DATA_HELP)
    add_label_options(ratio)
    ratio.set_defaults(handler=run_ratio)


def run_tokens(args) -> int:
    if args.data and args.user:
        raise LabError("give either --data or --user/--assistant, not both")
    if args.data:
        example = example_at(args.data, args.index)
    elif args.user is not None:
        pairs = ([("system", args.system)] if args.system else []) + [("user", args.user)]
        if args.assistant is not None:
            pairs.append(("assistant", args.assistant))
        example = conversation(*pairs)
    else:
        raise LabError("give --data FILE or --user TEXT [--assistant TEXT]")
    names, settings, tokenizer = strategies(args.strategy), label_settings(args), tokenizer_of(args)
    item = tokenize_example(example, tokenizer, args.format)
    labelled = label_example(item, tokenizer, names, settings)
    if args.json:
        print(json.dumps(tokens_json(item, labelled), ensure_ascii=False))
        return EXIT_OK
    print(tokens_table(item, labelled))
    notes = list(item.rendered.notes) + [f"{n}: {note.text}" for n, lab in labelled.items() for note in lab.notes]
    if example.conversation is not None and not example.conversation.has_assistant:
        notes.insert(0, "this conversation has no assistant turn: there is nothing to learn")
    for line in notes:
        print(f"note: {line}")
    for d in compare(item, labelled, tokenizer):
        print(f"differ: {d.sentence()}")
    return EXIT_OK


def tokens_json(item: Tokenized, labelled: dict[str, Labels]) -> dict:
    """The `tokens --json` contract: tokens, then per strategy labels, weights and notes."""
    enc = item.encoded
    return {
        "tokens": [
            {"id": enc.ids[i], "text": enc.pieces[i], "special": enc.special[i], "role": enc.roles[i]}
            | ({"part": enc.parts[i]} if enc.parts[i] else {})  # reasoning, tool-call
            for i in range(len(enc))
        ],
        "strategies": {
            name: {
                "labels": list(lab.labels),
                "weights": list(lab.weights),
                "notes": [n.text for n in lab.notes],
                "available": lab.available,
            }
            for name, lab in labelled.items()
        },
    }


def tokens_table(item: Tokenized, labelled: dict[str, Labels]) -> str:
    """A fixed-width table: one row per token, one column per strategy."""
    enc = item.encoded
    names = list(labelled)
    header = ["pos", "id", "token", "role"] + names
    rows = []
    for i in range(len(enc)):
        role = enc.roles[i] + (f"/{enc.parts[i]}" if enc.parts[i] else "")  # e.g. assistant/tool-call
        cells = [str(i), str(enc.ids[i]), visible(enc.pieces[i]) + (" *" if enc.special[i] else ""), role]
        for name in names:
            lab = labelled[name]
            if not lab.available:
                cells.append("n/a")
            elif name == "prompt-weight":
                cells.append(f"w={lab.weights[i]:g}")
            else:
                cells.append(str(lab.labels[i]))
        rows.append(cells)
    rows.append(["", "", "", "learned"] + [str(labelled[n].counted) if labelled[n].available else "n/a" for n in names])
    widths = [max(len(r[c]) for r in rows + [header]) for c in range(len(header))]

    def line(cells: list[str]) -> str:
        return "  ".join(cell.ljust(w) for cell, w in zip(cells, widths)).rstrip()

    return "\n".join([line(header)] + [line(r) for r in rows] + ["(* special token; position 0 is never learned)"])


def run_check(args) -> int:
    """Stream the dataset: rows are read, labelled and reported a chunk at a time (bounded memory, any size),
    with a progress bar on stderr when it is a terminal."""
    names, settings, tokenizer = strategies(args.strategy), label_settings(args), tokenizer_of(args)
    vocab_size = _vocab_size(args)
    read = _Counted(iter_examples(args.file))
    with _progress(args) as bar:
        findings = check_stream(
            read,
            tokenizer,
            args.format,
            names,
            settings,
            max_length=args.max_length or None,
            vocab_size=vocab_size,
            stop_ids=generation_stop_ids(args.model, args.trust_remote_code),
            progress=bar.update,
        )
        count, hit = 0, set()
        print("[" if args.json else "", end="", flush=True)
        for f in findings:
            if args.json:
                print(("," if count else "") + json.dumps(f.to_json(), ensure_ascii=False), end="")
            else:
                print(f"{f.code}: {f.message}", flush=True)
            count += 1
            hit.add(f.example)
    if not read.n:
        raise LabError(f"{Path(args.file).name} holds no examples")
    if args.json:
        print("]")
        return EXIT_FINDINGS if count else EXIT_OK
    for said in read.conversions:
        print(said)
    hit.discard(None)
    print(f"{count} findings in {len(hit)} of {read.n} examples" if count else f"no findings in {read.n} examples")
    return EXIT_FINDINGS if count else EXIT_OK


class _Counted:
    """An example stream that counts what passed through it and remembers the conversions that read it."""

    def __init__(self, examples):
        self._examples, self.n, self._said = examples, 0, {}

    def __iter__(self):
        for example in self._examples:
            self.n += 1
            if example.read_as:
                self._said.setdefault(example.read_as, None)
            yield example

    @property
    def conversions(self) -> list[str]:
        return list(self._said)


def _progress(args):
    """tqdm on stderr (rows checked, rows/s), shown only on a terminal: CI logs and pipes stay clean."""
    return tqdm(total=None, unit=" rows", file=sys.stderr, disable=not sys.stderr.isatty(), delay=1.0)


def _vocab_size(args) -> int | None:
    """The model's vocabulary size, or None for a folder that holds only a tokenizer (ids are not range-checked)."""
    try:
        return model_vocab_size(args.model, args.trust_remote_code)
    except ModelError as e:
        logging.getLogger("lab").warning("note: %s; token ids are not checked against a vocabulary", e)
        return None


def run_ratio(args) -> int:
    label_settings(args)  # validates --prompt-weight
    tokenizer = tokenizer_of(args)
    read = _Counted(iter_examples(args.file))
    with _progress(args) as bar:
        stats = generation_ratio(read, tokenizer, args.format, progress=bar.update)
    if not read.n:
        raise LabError(f"{Path(args.file).name} holds no examples")
    if args.json:
        print(json.dumps(stats.to_json(), ensure_ascii=False))
    else:
        print("\n".join([*read.conversions, ratio_report(stats, args.file, args.format, args.prompt_weight)]))
    return EXIT_FINDINGS if stats.skipped or not stats.count else EXIT_OK


def ratio_report(stats: RatioStats, name: str, fmt: str, prompt_weight: float) -> str:
    """The statistics as lines of text (`python -m lab ratio`)."""
    lines = [f"{name} · {fmt} · {stats.count} examples counted, {len(stats.skipped)} skipped"]
    if stats.count:
        share = stats.loss_share(prompt_weight)
        lines += [
            "Rg = completion tokens / prompt tokens",
            f"  arithmetic mean      {stats.arithmetic_mean:.4g}",
            f"  geometric mean       {stats.geometric_mean:.4g}",
            f"  median               {stats.median:.4g}",
            f"  share with Rg > 1    {stats.share_above_1:.1%}",
            f"  prompt tokens P      {stats.prompt_tokens}",
            f"  completion tokens C  {stats.completion_tokens}",
            f"at w = {prompt_weight:g}, prompt tokens carry {share:.1%} of the loss; w*P + C = "
            f"{stats.effective_tokens(prompt_weight):.1f} effective trained tokens",
        ]
    else:
        lines.append(stats.why_nothing_counted())
    lines += [f"skipped: example {e.index}: {e.skipped}" for e in stats.skipped]
    return "\n".join(lines)
