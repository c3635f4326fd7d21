"""`python -m lab templates`: TRL's chat templates by name, each audited on a model's tokenizer; with `--data`,
one conversation of a dataset under several templates side by side."""

from __future__ import annotations

import json

from lab.cli.common import EXIT_OK, example_at
from lab.labels.side_by_side import SIDE_BY_SIDE, under_templates
from lab.labels.strategies import STRATEGIES
from lab.labels.template_audit import PROBES, audit_templates
from lab.labels.templates import template_choices
from lab.labels.token_labels import DEFAULT_PROMPT_WEIGHT
from lab.models.references import generation_stop_ids, load_tokenizer
from lab.models.shipped import DEFAULT_MODEL


def add_parsers(sub) -> None:
    p = sub.add_parser("templates", help="TRL's chat templates, each audited on a model's tokenizer")
    p.add_argument("--model", default=DEFAULT_MODEL, help=f"built-in name, local folder or hub id ({DEFAULT_MODEL})")
    p.add_argument("--trust-remote-code", action="store_true", help="allow a hub model's own code to run")
    p.add_argument("--only", nargs="+", metavar="NAME", choices=template_choices(), help="these templates only")
    p.add_argument(
        "--data",
        metavar="FILE",
        help=f"one conversation of this dataset (or sample:NAME) under several templates, side by side (default "
        f"templates: {', '.join(SIDE_BY_SIDE)})",
    )
    p.add_argument("--index", type=int, default=0, help="which example of --data (default 0)")
    p.add_argument("--strategy", default="trl-completion", choices=STRATEGIES, help="with --data: the labels to count")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(handler=run_templates)


def run_templates(args) -> int:
    tokenizer = load_tokenizer(args.model, args.trust_remote_code)
    stops = generation_stop_ids(args.model, args.trust_remote_code)
    if args.data:
        return _side_by_side(args, tokenizer, stops)
    audits = audit_templates(tokenizer, args.only, stops)
    if args.json:
        print(json.dumps([a.to_json() for a in audits], ensure_ascii=False, indent=1))
        return EXIT_OK
    print(f"{len(audits)} templates on {args.model}'s tokenizer, {len(PROBES)} probe conversations each")
    print(f"{'template':<24} {'added':>5}  {'assistant-only':<14} audit")
    for a in audits:
        found = a.error or (", ".join(a.codes) if a.codes else "clean")
        print(f"{a.name:<24} {len(a.added):>5}  {'yes' if a.assistant_only else 'no':<14} {found}")
    print("added: control tokens the tokenizer lacked (added as special tokens); assistant-only: TRL can train")
    print("assistant_only_loss with it (generation markers, or a training version TRL swaps in)")
    return EXIT_OK


def _side_by_side(args, tokenizer, stops) -> int:
    views = under_templates(
        example_at(args.data, args.index),
        tokenizer,
        tuple(args.only or SIDE_BY_SIDE),
        args.strategy,
        DEFAULT_PROMPT_WEIGHT,
        stops,
    )
    if args.json:
        print(json.dumps([v.to_json() for v in views], ensure_ascii=False, indent=1))
        return EXIT_OK
    print(f"example {args.index} of {args.data} on {args.model}'s tokenizer, {args.strategy} labels")
    print(f"{'template':<20} {'tokens':>6} {'trained':>7} {'outside':>7}  {'answers end with':<20} audit")
    for v in views:
        if v.error:
            print(f"{v.name:<20} cannot render it: {v.error}")
            continue
        trained = "n/a" if v.trained is None else str(v.trained)
        audit = ", ".join(v.codes) if v.trained is not None else next((n.text for n in v.notes), "")
        print(
            f"{v.name:<20} {v.tokens:>6} {trained:>7} {v.prompt_trained:>7}  {', '.join(v.stop_tokens):<20} "
            f"{audit or 'clean'}"
        )
    print("trained: tokens the strategy learns (n/a: it cannot label this conversation under that template, and")
    print("why); outside: of them, tokens outside the answers")
    return EXIT_OK
