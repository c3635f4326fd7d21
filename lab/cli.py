"""`python -m lab ...`: the same library calls as the pages.

Exit codes: 0 success (`check`: no findings; `ratio`: every example counted), 1 findings, skipped examples or
a failure, 2 bad input. Errors a person can
fix are one line on stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import warnings

from lab.errors import LabError

EXIT_OK, EXIT_FINDINGS, EXIT_BAD_INPUT = 0, 1, 2


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # argparse's usage errors: one line, exit 2
        self.exit(EXIT_BAD_INPUT, f"error: {message} (see `python -m lab {self.prog.split()[-1]} --help`)\n")


def _quiet() -> None:
    """Library chatter (progress bars, deprecation warnings) would bury the output people read."""
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("TQDM_DISABLE", "1")  # the GGUF conversion's own progress bar
    warnings.filterwarnings("ignore")
    import logging

    for name in ("transformers", "trl", "datasets", "accelerate"):
        logging.getLogger(name).setLevel(logging.ERROR)
    lab_log = logging.getLogger("lab")
    if not lab_log.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(message)s"))
        lab_log.addHandler(handler)
    import datasets
    import transformers

    transformers.utils.logging.disable_progress_bar()

    datasets.disable_progress_bars()
    datasets.logging.set_verbosity_error()


def _common(p: argparse.ArgumentParser) -> None:
    from lab.formats import FORMATS
    from lab.models import DEFAULT_MODEL

    p.add_argument("--model", default=DEFAULT_MODEL, help=f"built-in name, local folder or hub id ({DEFAULT_MODEL})")
    p.add_argument("--trust-remote-code", action="store_true", help="allow a hub model's own code to run")
    p.add_argument("--format", default="classic", choices=FORMATS, help="how conversations become text")
    p.add_argument("--prompt-weight", type=float, default=0.1, metavar="W", help="prompt weight w in [0, 1]")
    p.add_argument("--response-template", metavar="TEXT",
                   help="response template (default: `### Assistant:`, or the chat template's generation prompt)")
    p.add_argument("--instruction-template", metavar="TEXT",
                   help="instruction template (default: `### Human:`, or the chat template's user header)")
    p.add_argument("--json", action="store_true", help="machine-readable output")


def build_parser() -> argparse.ArgumentParser:
    from lab.cli_runs import run_config_flags

    from lab.labels import STRATEGIES

    parser = _Parser(prog="python -m lab", description="SFT Lab: what a fine-tune learns from chat data")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    tokens = sub.add_parser("tokens", help="every token of one example and its label under each strategy")
    tokens.add_argument("--data", metavar="FILE", help="dataset file (.jsonl/.csv/.parquet) or sample:NAME")
    tokens.add_argument("--index", type=int, default=0, help="which example of --data (default 0)")
    tokens.add_argument("--user", metavar="TEXT", help="a user message, instead of --data")
    tokens.add_argument("--assistant", metavar="TEXT", help="the assistant's answer, with --user")
    tokens.add_argument("--system", metavar="TEXT", help="an optional system message, with --user")
    tokens.add_argument("--strategy", nargs="+", default=["all"], metavar="NAME",
                        help=f"strategies to show, or all: {', '.join(STRATEGIES)}")
    _common(tokens)

    check = sub.add_parser("check", help="lint a dataset's masks; exit 1 when anything is found")
    check.add_argument("file", metavar="FILE", help="dataset file (.jsonl/.csv/.parquet) or sample:NAME")
    check.add_argument("--strategy", nargs="+", default=["all"], metavar="NAME",
                       help="strategies to check (default all)")
    check.add_argument("--max-length", type=int, default=1024, metavar="N",
                       help="training max length; completions cut by it are reported (TRL's default 1024; 0: off)")
    _common(check)

    train = sub.add_parser("train", help="fine-tune in the foreground; the run lands in the same store as the app's")
    train.add_argument("--data", metavar="FILE", required=True, help="dataset file, sample:NAME or chatterbot:…")
    train.add_argument("--config", metavar="JSON", help="a run.json of RunConfig fields; flags override it")
    run_config_flags(train)
    train.add_argument("--json", action="store_true", help="print the finished run as JSON")

    runs = sub.add_parser("runs", help="list, show or delete runs")
    runs.add_argument("action", nargs="?", default="list", choices=("list", "show", "delete", "stop"))
    runs.add_argument("run_id", nargs="?", metavar="ID")
    runs.add_argument("--json", action="store_true", help="machine-readable output")

    inspect = sub.add_parser("inspect", help="teacher-forced next-token predictions of one example, base vs a run")
    inspect.add_argument("--run", metavar="ID", help="a finished run: its model, format and strategy")
    inspect.add_argument("--data", metavar="FILE", help="dataset (default: the run's own examples)")
    inspect.add_argument("--index", type=int, default=0, help="which example (default 0)")
    inspect.add_argument("--top-k", type=int, default=5, metavar="K", help="candidates per position (default 5)")
    inspect.add_argument("--strategy", default="special-mask", help="without --run: which positions count")
    _common(inspect)

    decode = sub.add_parser("decode", help="greedy, beam search or sampling from one prompt, step by step")
    decode.add_argument("--prompt", required=True, metavar="TEXT", help="the text to continue")
    decode.add_argument("--chat", action="store_true", help="wrap the prompt as a user turn in the chat template")
    decode.add_argument("--run", metavar="ID", help="decode with a finished run's model instead of --model")
    decode.add_argument("--strategy", default="greedy", choices=("greedy", "beam", "sample"))
    decode.add_argument("--max-new-tokens", type=int, default=32)
    decode.add_argument("--num-beams", type=int, default=4)
    decode.add_argument("--num-return", type=int, default=1, help="beams to return")
    decode.add_argument("--length-penalty", type=float, default=1.0)
    decode.add_argument("--temperature", type=float, default=1.0)
    decode.add_argument("--top-k", type=int, default=50)
    decode.add_argument("--top-p", type=float, default=1.0)
    decode.add_argument("--seed", type=int, default=0)
    decode.add_argument("--samples", type=int, default=1, help="sample this many times to see the spread")
    decode.add_argument("--model", default="smollm2-135m-instruct")
    decode.add_argument("--trust-remote-code", action="store_true")
    decode.add_argument("--json", action="store_true")

    ratio = sub.add_parser("ratio", help="generation ratio Rg = completion / prompt tokens of a dataset")
    ratio.add_argument("file", metavar="FILE", help="dataset file, sample:NAME or chatterbot:LANGUAGE[/TOPIC]")
    _common(ratio)
    return parser


def _strategies(names: list[str]) -> tuple[str, ...]:
    from lab.labels import STRATEGIES

    if "all" in names:
        return STRATEGIES
    for name in names:
        if name not in STRATEGIES:
            raise LabError(f"unknown strategy '{name}'; strategies: {', '.join(STRATEGIES)}, or all")
    return tuple(dict.fromkeys(names))


def _settings(args):
    from lab.labels import LabelSettings

    if not 0.0 <= args.prompt_weight <= 1.0:
        raise LabError(f"--prompt-weight must be between 0 and 1, got {args.prompt_weight}")
    return LabelSettings(args.prompt_weight, args.response_template, args.instruction_template)


def _tokenizer(args):
    from lab.models import load_tokenizer

    return load_tokenizer(args.model, args.trust_remote_code)


def run_tokens(args) -> int:
    from lab import examples as ex
    from lab.compare import compare
    from lab.labels import label_example, prepare

    if args.data and args.user:
        raise LabError("give either --data or --user/--assistant, not both")
    if args.data:
        data = ex.read_examples(args.data)
        if not 0 <= args.index < len(data):
            raise LabError(f"--index {args.index} is out of range: the dataset has {len(data)} examples")
        example = data[args.index]
    elif args.user is not None:
        pairs = ([("system", args.system)] if args.system else []) + [("user", args.user)]
        if args.assistant is not None:
            pairs.append(("assistant", args.assistant))
        example = ex.conversation(*pairs)
    else:
        raise LabError("give --data FILE or --user TEXT [--assistant TEXT]")
    strategies, settings, tokenizer = _strategies(args.strategy), _settings(args), _tokenizer(args)
    item = prepare(example, tokenizer, args.format)
    labelled = label_example(item, tokenizer, strategies, settings)
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


def tokens_json(item, labelled) -> dict:
    """The `tokens --json` contract: tokens, then per strategy labels, weights and notes."""
    enc = item.encoded
    return {
        "tokens": [
            {"id": enc.ids[i], "text": enc.pieces[i], "special": enc.special[i], "role": enc.roles[i]}
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


def tokens_table(item, labelled) -> str:
    """A fixed-width table: one row per token, one column per strategy."""
    from lab.tokens import visible

    enc = item.encoded
    names = list(labelled)
    header = ["pos", "id", "token", "role"] + names
    rows = []
    for i in range(len(enc)):
        cells = [str(i), str(enc.ids[i]), visible(enc.pieces[i]) + (" *" if enc.special[i] else ""), enc.roles[i]]
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
    line = lambda r: "  ".join(cell.ljust(w) for cell, w in zip(r, widths)).rstrip()  # noqa: E731
    return "\n".join([line(header)] + [line(r) for r in rows] + ["(* special token; position 0 is never learned)"])


def run_check(args) -> int:
    from lab import examples as ex
    from lab.check import check
    from lab.models import model_vocab_size

    data = ex.read_examples(args.file)
    strategies, settings, tokenizer = _strategies(args.strategy), _settings(args), _tokenizer(args)
    findings = check(
        data, tokenizer, args.format, strategies, settings, max_length=args.max_length or None,
        vocab_size=model_vocab_size(args.model, args.trust_remote_code),
    )
    if args.json:
        print(json.dumps([f.to_json() for f in findings], ensure_ascii=False))
    else:
        for f in findings:
            print(f"{f.code}: {f.message}")
        examples_hit = len({f.example for f in findings if f.example is not None})
        if findings:
            print(f"{len(findings)} findings in {examples_hit} of {len(data)} examples")
        else:
            print(f"no findings in {len(data)} examples")
    return EXIT_FINDINGS if findings else EXIT_OK


def run_ratio(args) -> int:
    from lab import examples as ex
    from lab.ratio import generation_ratio

    data = ex.read_examples(args.file)
    _settings(args)  # validates --prompt-weight
    stats = generation_ratio(data, _tokenizer(args), args.format)
    if args.json:
        print(json.dumps(stats.to_json(), ensure_ascii=False))
    else:
        print(ratio_report(stats, args.file, args.format, args.prompt_weight))
    return EXIT_FINDINGS if stats.skipped or not stats.count else EXIT_OK


def ratio_report(stats, name: str, fmt: str, prompt_weight: float) -> str:
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
    lines += [f"skipped: example {e.index}: {e.skipped}" for e in stats.skipped]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    _quiet()
    try:
        from lab.cli_runs import run_decode, run_inspect, run_runs, run_train

        commands = {"tokens": run_tokens, "check": run_check, "ratio": run_ratio, "train": run_train,
                    "runs": run_runs, "inspect": run_inspect, "decode": run_decode}
        return commands[args.command](args)
    except LabError as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return EXIT_FINDINGS
    except Exception as e:  # a failure of ours: one line unless LAB_DEBUG asks for the traceback
        if os.environ.get("LAB_DEBUG"):
            raise
        print(f"error: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''} "
              "(set LAB_DEBUG=1 for the traceback)", file=sys.stderr)
        return EXIT_FINDINGS
