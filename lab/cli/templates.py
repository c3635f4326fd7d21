"""`python -m lab templates`: TRL's chat templates by name, each audited on a model's tokenizer."""

from __future__ import annotations

import json

from lab.cli.common import EXIT_OK
from lab.labels.template_audit import PROBES, audit_templates
from lab.labels.templates import template_choices
from lab.models.references import generation_stop_ids, load_tokenizer
from lab.models.shipped import DEFAULT_MODEL


def add_parsers(sub) -> None:
    p = sub.add_parser("templates", help="TRL's chat templates, each audited on a model's tokenizer")
    p.add_argument("--model", default=DEFAULT_MODEL, help=f"built-in name, local folder or hub id ({DEFAULT_MODEL})")
    p.add_argument("--trust-remote-code", action="store_true", help="allow a hub model's own code to run")
    p.add_argument("--only", nargs="+", metavar="NAME", choices=template_choices(), help="audit these templates only")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(handler=run_templates)


def run_templates(args) -> int:
    tokenizer = load_tokenizer(args.model, args.trust_remote_code)
    audits = audit_templates(tokenizer, args.only, generation_stop_ids(args.model, args.trust_remote_code))
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
