"""`python -m lab train` and `python -m lab runs`: runs in the same store the app uses."""

from __future__ import annotations

import argparse
import json
import sys

from lab.errors import LabError

EXIT_OK, EXIT_FINDINGS = 0, 1


def run_config_flags(p: argparse.ArgumentParser) -> None:
    """One flag per RunConfig field (--prompt-weight, --batch-size, ...), None when not given."""
    from dataclasses import fields

    from lab.training import RunConfig

    for f in fields(RunConfig):
        flag = "--" + f.name.replace("_", "-")
        if f.type in ("bool", bool):
            p.add_argument(flag, action="store_true", default=None)
        elif f.name == "lora_targets":
            p.add_argument(flag, nargs="+", default=None, metavar="MODULE")
        else:
            kind = {"int": int, "float": float}.get(str(f.type), str)
            p.add_argument(flag, type=kind, default=None, metavar=f.name.upper())


def run_config(args):
    from dataclasses import fields

    from lab.training import RunConfig

    base = {}
    if args.config:
        try:
            with open(args.config, encoding="utf-8") as f:
                base = json.load(f)
        except (OSError, ValueError) as e:
            raise LabError(f"--config {args.config}: {e}") from None
    given = {f.name: getattr(args, f.name) for f in fields(RunConfig) if getattr(args, f.name, None) is not None}
    return RunConfig.from_json(base | given).validate()


def run_train(args) -> int:
    from tqdm import tqdm

    from lab import examples as ex
    from lab.execute import execute
    from lab.runs import RunStore

    config = run_config(args)
    data = ex.read_examples(args.data)
    store = RunStore()
    store.mark_interrupted()
    run_id = store.create(config, data)
    bar = tqdm(desc=f"run {run_id}", unit="step", disable=args.json, file=sys.stderr)

    def on_step(step) -> None:
        bar.total = step.total_steps
        bar.n = step.step
        bar.set_postfix(loss=f"{step.loss:.3f}", refresh=False)
        bar.refresh()

    try:
        status = execute(store, run_id, on_step)
    except KeyboardInterrupt:
        store.set_status(run_id, "interrupted", "interrupted from the keyboard; resume from the app")
        raise
    finally:
        bar.close()
    run = store.get(run_id)
    print(json.dumps(run_json(run, store)) if args.json else run_line(run, store))
    return EXIT_OK if status == "done" else EXIT_FINDINGS


def run_json(run, store) -> dict:
    last = (store.metrics(run.id) or [{}])[-1]
    return {"id": run.id, "status": run.status, "message": run.message, "step": run.step,
            "total_steps": run.total_steps, "duration_s": run.duration, "loss": last.get("loss"),
            "prompt_loss": last.get("prompt_loss"), "completion_loss": last.get("completion_loss"),
            "config": run.config.to_json(), "folder": str(store.run_folder(run.id))}


def run_line(run, store) -> str:
    last = (store.metrics(run.id) or [{}])[-1]
    losses = " ".join(f"{k}={last[k]:.4f}" for k in ("loss", "prompt_loss", "completion_loss")
                      if last.get(k) is not None)
    took = f"{run.duration:.1f}s" if run.duration is not None else "-"
    return (f"{run.id}  {run.status:<11} {run.config.strategy:<17} {run.config.method:<4} step {run.step}/"
            f"{run.total_steps}  {took}  {losses}" + (f"  ({run.message})" if run.message else ""))


def run_runs(args) -> int:
    from lab.runs import RunStore

    store = RunStore()
    store.mark_interrupted()
    if args.action == "list":
        runs = store.list()
        print(json.dumps([run_json(r, store) for r in runs]) if args.json else
              "\n".join(run_line(r, store) for r in runs) or "no runs yet")
        return EXIT_OK
    if not args.run_id:
        raise LabError(f"`runs {args.action}` needs a run id (see `python -m lab runs`)")
    if args.action == "delete":
        store.delete(args.run_id)
        print(f"deleted {args.run_id}")
    elif args.action == "stop":
        store.request_stop(args.run_id)
        print(f"asked run {args.run_id} to stop")
    else:
        run = store.get(args.run_id)
        out = run_json(run, store) | {"metrics": store.metrics(run.id)}
        print(json.dumps(out) if args.json else run_line(run, store) + "\n" + json.dumps(run.config.to_json()))
    return EXIT_OK


def run_inspect(args) -> int:
    """`python -m lab inspect`: teacher-forced predictions of one example, base vs a run's fine-tuned model."""
    from lab import examples as ex
    from lab.inspect import inspect_example, mean_losses
    from lab.labels import LabelSettings, completion_flags, label_example, prepare
    from lab.models import load_model, load_tokenizer
    from lab.runs import RunStore
    from lab.training import RunConfig, load_trained

    store = RunStore()
    run = store.get(args.run) if args.run else None
    config = run.config if run else RunConfig(model=args.model, format=args.format, strategy=args.strategy)
    data = ex.read_examples(args.data) if args.data else store.examples(run.id) if run else None
    if data is None:
        raise LabError("give --data FILE (or --run ID to use the run's own examples)")
    if not 0 <= args.index < len(data):
        raise LabError(f"--index {args.index} is outside the {len(data)} examples")
    tokenizer = load_tokenizer(config.model, config.trust_remote_code)
    item = prepare(data[args.index], tokenizer, config.format)
    labels = label_example(item, tokenizer, (config.strategy,), LabelSettings(config.prompt_weight))[config.strategy]
    base = load_model(config.model, "cpu", trust_remote_code=config.trust_remote_code)
    tuned = None
    if run:
        weights = store.run_folder(run.id) / "final"
        if not weights.is_dir():
            raise LabError(f"run {run.id} is {run.status} and has no final weights yet")
        tuned = load_trained(config, weights, "cpu")
    positions = inspect_example(item, labels, completion_flags(item, tokenizer), tokenizer, base, tuned, args.top_k)
    if args.json:
        print(json.dumps([p.to_json() for p in positions], ensure_ascii=False))
        return EXIT_OK
    print(f"{'pos':>4} {'token':<16} {'trained':<7} {'base p':>8} {'rank':>6} {'loss':>7}"
          + (f" {'tuned p':>8} {'rank':>6} {'loss':>7}  tuned top" if tuned else "  base top"))
    for p in positions:
        line = (f"{p.position:>4} {p.token!r:<16.16} {'yes' if p.trained else '-':<7} {p.base.prob:8.4f} "
                f"{p.base.rank:6d} {p.base.loss:7.3f}")
        best = p.tuned or p.base
        if p.tuned:
            line += f" {p.tuned.prob:8.4f} {p.tuned.rank:6d} {p.tuned.loss:7.3f}"
        print(line + "  " + " ".join(f"{c.text!r}:{c.prob:.2f}" for c in best.top))
    means = mean_losses(positions)
    print("mean loss: " + ", ".join(f"{k.replace('_', ' ')} {v:.3f}" for k, v in means.items() if v is not None))
    return EXIT_OK


def run_decode(args) -> int:
    """`python -m lab decode`: one prompt, one strategy, every step (and every beam) shown."""
    from lab.decoding import DecodeSettings, decode, spread
    from lab.models import load_model, load_tokenizer
    from lab.runs import RunStore
    from lab.training import load_trained

    settings = DecodeSettings(args.strategy, args.max_new_tokens, args.num_beams, args.num_return,
                              args.length_penalty, args.temperature, args.top_k, args.top_p, args.seed,
                              args.samples).validate()
    if args.run:
        store = RunStore()
        run = store.get(args.run)
        model_ref, trust = run.config.model, run.config.trust_remote_code
        model = load_trained(run.config, store.run_folder(run.id) / "final", "cpu")
    else:
        model_ref, trust = args.model, args.trust_remote_code
        model = load_model(model_ref, "cpu", trust_remote_code=trust)
    tokenizer = load_tokenizer(model_ref, trust)
    prompt = args.prompt
    if args.chat:
        from lab.formats import apply_chat_template

        prompt = apply_chat_template(tokenizer, [{"role": "user", "content": args.prompt}], generation_prompt=True)
    traces = decode(model, tokenizer, prompt, settings, add_special_tokens=not args.chat)
    if args.json:
        print(json.dumps([{"text": t.text, "score": t.score, "steps": [
            {"token": s.choice.text, "id": s.choice.token_id, "prob": s.choice.prob,
             "alternatives": [{"token": a.text, "prob": a.prob} for a in s.alternatives]} for s in t.steps],
            "beams": [[{"beam": c.beam, "token": c.text, "score": c.score, "kept": c.kept} for c in step]
                      for step in t.beam_steps]} for t in traces], ensure_ascii=False))
        return EXIT_OK
    for k, trace in enumerate(traces):
        label = f"beam {k}: score {trace.score:.3f}" if trace.score is not None else f"output {k}"
        print(f"{label}: {trace.text!r}")
        for s, step in enumerate(trace.steps):
            others = "  ".join(f"{a.text!r} {a.prob:.3f}" for a in step.alternatives)
            print(f"  {s:>3} {step.choice.text!r:<16} {step.choice.prob:.3f}   {others}")
    if settings.strategy == "sample" and settings.samples > 1:
        print("spread: " + "; ".join(f"{count}x {text!r}" for text, count in spread(traces)))
    return EXIT_OK
