"""`python -m lab export`: a run as a model others load, and as the same run on TRL's CLI."""

from __future__ import annotations

import json

from lab.cli.common import EXIT_OK
from lab.errors import LabError
from lab.ship.export import GGUF_NOTE, export_model
from lab.ship.handoff import trl_handoff, write_handoff
from lab.train.store import RunStore


def add_parsers(sub) -> None:
    export = sub.add_parser("export", help="a finished run as a model folder, and/or as a TRL CLI run")
    export.add_argument("--run", metavar="ID", required=True, help="a finished run")
    export.add_argument("--out", metavar="DIR", help="write the model here (a new or empty folder)")
    export.add_argument("--merge", action="store_true", help="LoRA runs: merge the adapter into the base")
    export.add_argument("--trl", metavar="DIR", help="write data.jsonl, sft.yaml and launch.sh here")
    export.add_argument("--json", action="store_true", help="machine-readable output")
    export.set_defaults(handler=run_export)


def run_export(args) -> int:
    if not args.out and not args.trl:
        raise LabError("give --out DIR (the model), --trl DIR (the TRL CLI run), or both")
    store = RunStore()
    out = {}
    if args.out:
        exported = export_model(store, args.run, args.out, merge=args.merge)
        out["model"] = {"folder": str(exported.folder), "weights": exported.weights, "files": list(exported.files)}
    if args.trl:
        handoff = trl_handoff(store, args.run)
        written = write_handoff(handoff, args.trl)
        out["trl"] = {
            "folder": args.trl,
            "files": [p.name for p in written],
            "loss": handoff.setting,
            "differs": handoff.differs,
            "parameters": handoff.parameters,
        }
    if args.json:
        print(json.dumps(out, ensure_ascii=False))
        return EXIT_OK
    if "model" in out:
        print(f"model: {out['model']['folder']} ({out['model']['weights']}): {', '.join(out['model']['files'])}")
        print(GGUF_NOTE)
    if "trl" in out:
        print(f"trl: {args.trl}: {', '.join(out['trl']['files'])}; loss {handoff.setting}")
        print(f"differs: {handoff.differs}" if handoff.differs else "TRL trains exactly the labels the run trained")
        print(f"run it: {args.trl}/launch.sh")
    return EXIT_OK
