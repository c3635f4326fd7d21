"""`python -m lab train` and `python -m lab runs`: runs in the same store the app uses."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import typing
from dataclasses import MISSING, fields

from tqdm import tqdm

from lab.cli.common import EXIT_FINDINGS, EXIT_OK
from lab.data.sources import read_examples
from lab.errors import LabError
from lab.train.config import RunConfig
from lab.train.execute import execute
from lab.train.fit import memory_problem
from lab.train.run import Run, what_resume_does
from lab.train.run_files import read_precision
from lab.train.store import RunStore


def add_parsers(sub) -> None:
    train = sub.add_parser("train", help="fine-tune in the foreground; the run lands in the same store as the app's")
    train.add_argument(
        "--data", metavar="FILE", required=True, help="a dataset file or folder, a hub id, sample:NAME or chatterbot:…"
    )
    train.add_argument("--config", metavar="JSON", help="a run.json of RunConfig fields; flags override it")
    run_config_flags(train)
    train.add_argument("--json", action="store_true", help="print the finished run as JSON")
    train.set_defaults(handler=run_train)

    runs = sub.add_parser("runs", help="list, show, stop, resume or delete runs")
    runs.add_argument("action", nargs="?", default="list", choices=("list", "show", "delete", "stop", "resume"))
    runs.add_argument("run_id", nargs="?", metavar="ID")
    runs.add_argument("--json", action="store_true", help="machine-readable output")
    runs.set_defaults(handler=run_runs)


def run_config_flags(p: argparse.ArgumentParser) -> None:
    """One flag per RunConfig field (--prompt-weight, --batch-size, ...) with the field's help; None when not
    given, so that --config and the field defaults fill the rest."""
    hints = typing.get_type_hints(RunConfig)
    for f in fields(RunConfig):
        flag = "--" + f.name.replace("_", "-")
        default = "" if f.default in (MISSING, None) else f" (default {_shown(f.default)})"
        text = f.metadata["help"] + default
        kind = next((t for t in typing.get_args(hints[f.name]) if t is not type(None)), hints[f.name])
        if kind is bool:
            p.add_argument(flag, action="store_true", default=None, help=text)
        elif f.name == "lora_targets":
            p.add_argument(flag, nargs="+", default=None, metavar="MODULE", help=text)
        else:
            p.add_argument(
                flag, type=kind if kind in (int, float) else str, default=None, metavar=f.name.upper(), help=text
            )


def _shown(value) -> str:
    return " ".join(value) if isinstance(value, tuple) else f"{value:g}" if isinstance(value, float) else str(value)


def run_config(args) -> RunConfig:
    base = {}
    if args.config:
        try:
            with open(args.config, encoding="utf-8") as f:
                base = json.load(f)
        except (OSError, ValueError) as e:
            raise LabError(f"--config {args.config}: {e}") from None
        if not isinstance(base, dict):
            raise LabError(f"--config {args.config}: a run's settings are a JSON object of fields, not a list")
    given = {f.name: getattr(args, f.name) for f in fields(RunConfig) if getattr(args, f.name, None) is not None}
    return RunConfig.from_json(base | given).validate()


def run_train(args) -> int:
    config = run_config(args)
    data = read_examples(args.data)
    store = RunStore()
    store.mark_interrupted()
    problem = memory_problem(config)
    if problem:
        raise LabError(problem)
    return in_foreground(store, store.create(config, data), args.json)


def in_foreground(store: RunStore, run_id: str, as_json: bool) -> int:
    """Train a queued run in this process with a progress bar; 0 when it finished, 1 when it stopped or failed."""
    bar = tqdm(desc=f"run {run_id}", unit="step", disable=as_json, file=sys.stderr)

    def on_step(step) -> None:
        bar.total = step.total_steps
        bar.n = step.step
        bar.set_postfix(loss=f"{step.loss:.3f}", refresh=False)
        bar.refresh()

    try:
        status = execute(store, run_id, on_step)
    except KeyboardInterrupt:
        run = store.get(run_id)
        store.set_status(
            run_id,
            "interrupted",
            f"interrupted from the keyboard at step {run.step}; {what_resume_does(run.step, run.checkpoint_step)}"
            f" (`python -m lab runs resume {run_id}`)",
            finished=time.time(),
        )
        raise
    finally:
        bar.close()
    run = store.get(run_id)
    print(json.dumps(run_json(run, store)) if as_json else run_line(run, store))
    return EXIT_OK if status == "done" else EXIT_FINDINGS


def run_json(run: Run, store: RunStore) -> dict:
    last = (store.metrics(run.id) or [{}])[-1]
    return {
        "id": run.id,
        "status": run.status,
        "message": run.message,
        "step": run.step,
        "total_steps": run.total_steps,
        "duration_s": run.seconds(last),
        "loss": last.get("loss"),
        "prompt_loss": last.get("prompt_loss"),
        "completion_loss": last.get("completion_loss"),
        "config": run.config.to_json(),
        "precision": read_precision(store.run_folder(run.id)),
        "folder": str(store.run_folder(run.id)),
    }


def run_line(run: Run, store: RunStore) -> str:
    last = (store.metrics(run.id) or [{}])[-1]
    losses = " ".join(
        f"{k}={last[k]:.4f}" for k in ("loss", "prompt_loss", "completion_loss") if last.get(k) is not None
    )
    seconds = run.seconds(last)
    took = f"{seconds:.1f}s" if seconds is not None else "-"
    return (
        f"{run.id}  {run.status:<11} {run.config.strategy:<17} {run.config.method_shown:<4} step {run.step}/"
        f"{run.total_steps}  {took}  {losses}" + (f"  ({run.message})" if run.message else "")
    )


def run_runs(args) -> int:
    store = RunStore()
    store.mark_interrupted()
    if args.action == "list":
        runs = store.list()
        print(
            json.dumps([run_json(r, store) for r in runs])
            if args.json
            else "\n".join(run_line(r, store) for r in runs) or "no runs yet"
        )
        return EXIT_OK
    if not args.run_id:
        raise LabError(f"`runs {args.action}` needs a run id (see `python -m lab runs`)")
    if args.action == "delete":
        store.delete(args.run_id)
        print(f"deleted {args.run_id}")
    elif args.action == "resume":
        store.prepare_resume(args.run_id, os.getpid())
        return in_foreground(store, args.run_id, args.json)
    elif args.action == "stop":
        store.request_stop(args.run_id)
        print(f"asked run {args.run_id} to stop")
    else:
        run = store.get(args.run_id)
        out = run_json(run, store) | {"metrics": store.metrics(run.id)}
        precision = read_precision(store.run_folder(run.id))
        shown = ""
        if precision and not args.json:
            shown = f"\nprecision: {precision['why']}" + (
                f"\nplacement: {precision['placement']}" if precision.get("placement") else ""
            )
        print(json.dumps(out) if args.json else run_line(run, store) + shown + "\n" + json.dumps(run.config.to_json()))
    return EXIT_OK
