"""`python -m lab ...`: the same library calls as the pages.

Exit codes: 0 success (`check`: no findings; `ratio`: every example counted), 1 findings, skipped examples or
a failure, 2 bad input. Errors a person can fix are one line on stderr, never a traceback.
"""

from __future__ import annotations

import os
import sys

from lab.cli import labels, look, plan, runs, ship, templates
from lab.cli.common import EXIT_BAD_INPUT, EXIT_FINDINGS, Parser, quiet
from lab.common import first_line
from lab.errors import LabError


def build_parser() -> Parser:
    parser = Parser(prog="python -m lab", description="SFT Lab: what a fine-tune learns from chat data")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    labels.add_parsers(sub)
    runs.add_parsers(sub)
    look.add_parsers(sub)
    ship.add_parsers(sub)
    plan.add_parsers(sub)
    templates.add_parsers(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    quiet()
    try:
        return args.handler(args)
    except LabError as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return EXIT_FINDINGS
    except Exception as e:  # a failure of ours: one line unless LAB_DEBUG asks for the traceback
        if os.environ.get("LAB_DEBUG"):
            raise
        print(f"error: {type(e).__name__}: {first_line(e)} (set LAB_DEBUG=1 for the traceback)", file=sys.stderr)
        return EXIT_FINDINGS
