"""`python -m lab inspect | decode`: what a model predicts at every token, and how it decodes a prompt."""

from __future__ import annotations

import json
import sys

from lab.cli.common import EXIT_OK, add_label_options
from lab.data.sources import read_examples
from lab.errors import LabError
from lab.labels.formats import apply_chat_template
from lab.labels.strategies import completion_flags, label_example
from lab.labels.token_labels import LabelSettings
from lab.labels.tokens import tokenize_example
from lab.look.decoding import DECODERS, DecodeSettings, Trace, decode, spread
from lab.look.run_models import published_base, tuned_model
from lab.look.teacher_forcing import inspect_example, mean_losses
from lab.models.devices import placement_sentence
from lab.models.references import load_model, load_tokenizer
from lab.models.shipped import DEFAULT_MODEL
from lab.train.config import RunConfig, run_tokenizer
from lab.train.store import RunStore


def add_parsers(sub) -> None:
    inspect = sub.add_parser("inspect", help="teacher-forced next-token predictions of one example, base vs a run")
    inspect.add_argument("--run", metavar="ID", help="a finished run: its model, format and strategy")
    inspect.add_argument("--data", metavar="FILE", help="dataset (default: the run's own examples)")
    inspect.add_argument("--index", type=int, default=0, help="which example (default 0)")
    inspect.add_argument("--top-k", type=int, default=5, metavar="K", help="candidates per position (default 5)")
    inspect.add_argument("--strategy", default="special-mask", help="without --run: which positions count")
    add_label_options(inspect)
    inspect.set_defaults(handler=run_inspect)

    decoding = sub.add_parser("decode", help="greedy, beam search or sampling from one prompt, step by step")
    decoding.add_argument("--prompt", required=True, metavar="TEXT", help="the text to continue")
    decoding.add_argument("--chat", action="store_true", help="wrap the prompt as a user turn in the chat template")
    decoding.add_argument("--run", metavar="ID", help="decode with a finished run's model instead of --model")
    decoding.add_argument("--strategy", default="greedy", choices=DECODERS)
    decoding.add_argument("--max-new-tokens", type=int, default=32)
    decoding.add_argument("--num-beams", type=int, default=4)
    decoding.add_argument("--num-return", type=int, default=1, help="beams to return")
    decoding.add_argument("--length-penalty", type=float, default=1.0)
    decoding.add_argument("--temperature", type=float, default=1.0)
    decoding.add_argument("--top-k", type=int, default=50)
    decoding.add_argument("--top-p", type=float, default=1.0)
    decoding.add_argument("--seed", type=int, default=0)
    decoding.add_argument("--samples", type=int, default=1, help="sample this many times to see the spread")
    decoding.add_argument("--model", default=DEFAULT_MODEL)
    decoding.add_argument("--trust-remote-code", action="store_true")
    decoding.add_argument(
        "--max-memory",
        metavar="SPEC",
        help="place --model across devices with accelerate, e.g. 'cpu=2GiB,disk' or 'cuda:0=24GiB,cpu=64GiB' "
        "(layers that fit nowhere go to disk when 'disk' is named); where each part went is printed on stderr",
    )
    decoding.add_argument("--json", action="store_true")
    decoding.set_defaults(handler=run_decode)


def run_inspect(args) -> int:
    """Teacher-forced predictions of one example, base vs a run's fine-tuned model."""
    store = RunStore()
    run = store.get(args.run) if args.run else None
    config = (
        run.config
        if run
        else RunConfig(model=args.model, format=args.format, template=args.template, strategy=args.strategy)
    )
    data = read_examples(args.data) if args.data else store.examples(run.id) if run else None
    if data is None:
        raise LabError("give --data FILE (or --run ID to use the run's own examples)")
    if not 0 <= args.index < len(data):
        raise LabError(f"--index {args.index} is outside the {len(data)} examples")
    tokenizer = run_tokenizer(config)
    item = tokenize_example(data[args.index], tokenizer, config.format)
    labels = label_example(item, tokenizer, (config.strategy,), LabelSettings(config.prompt_weight))[config.strategy]
    base = published_base(config)
    tuned = None
    if run:
        weights = store.final_weights(run.id)
        if not weights.is_dir():
            raise LabError(f"run {run.id} is {run.status} and has no final weights yet")
        tuned = tuned_model(config, weights)
    positions = inspect_example(item, labels, completion_flags(item, tokenizer), tokenizer, base, tuned, args.top_k)
    if args.json:
        print(json.dumps([p.to_json() for p in positions], ensure_ascii=False))
        return EXIT_OK
    print(
        f"{'pos':>4} {'token':<16} {'trained':<7} {'base p':>8} {'rank':>6} {'loss':>7}"
        + (f" {'tuned p':>8} {'rank':>6} {'loss':>7}  tuned top" if tuned else "  base top")
    )
    for p in positions:
        line = (
            f"{p.position:>4} {p.token!r:<16.16} {'yes' if p.trained else '-':<7} {p.base.prob:8.4f} "
            f"{p.base.rank:6d} {p.base.loss:7.3f}"
        )
        best = p.tuned or p.base
        if p.tuned:
            line += f" {p.tuned.prob:8.4f} {p.tuned.rank:6d} {p.tuned.loss:7.3f}"
        print(line + "  " + " ".join(f"{c.text!r}:{c.prob:.2f}" for c in best.top))
    means = mean_losses(positions)
    print("mean loss: " + ", ".join(f"{k.replace('_', ' ')} {v:.3f}" for k, v in means.items() if v is not None))
    return EXIT_OK


def run_decode(args) -> int:
    """One prompt, one strategy, every step (and every beam) shown."""
    settings = DecodeSettings(
        args.strategy,
        args.max_new_tokens,
        args.num_beams,
        args.num_return,
        args.length_penalty,
        args.temperature,
        args.top_k,
        args.top_p,
        args.seed,
        args.samples,
    ).validate()
    if args.run and args.max_memory:
        raise LabError("--max-memory places a model given with --model, not a run's")
    if args.run:  # asked as the run was trained: under its chat template (lab.look.run_models)
        store = RunStore()
        run = store.get(args.run)
        model = tuned_model(run.config, store.final_weights(run.id))
        tokenizer = run_tokenizer(run.config)
    else:
        model = load_model(args.model, "cpu", trust_remote_code=args.trust_remote_code, max_memory=args.max_memory)
        if args.max_memory:
            print(f"placed: {placement_sentence(model)}", file=sys.stderr)
        tokenizer = load_tokenizer(args.model, args.trust_remote_code)
    prompt = args.prompt
    if args.chat:
        prompt = apply_chat_template(tokenizer, [{"role": "user", "content": args.prompt}], generation_prompt=True)
    traces = decode(model, tokenizer, prompt, settings, add_special_tokens=not args.chat)
    if args.json:
        print(json.dumps([trace_json(t) for t in traces], ensure_ascii=False))
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


def trace_json(trace: Trace) -> dict:
    """The `decode --json` contract for one output."""
    return {
        "text": trace.text,
        "score": trace.score,
        "steps": [
            {
                "token": s.choice.text,
                "id": s.choice.token_id,
                "prob": s.choice.prob,
                "alternatives": [{"token": a.text, "prob": a.prob} for a in s.alternatives],
            }
            for s in trace.steps
        ],
        "beams": [
            [{"beam": c.beam, "token": c.text, "score": c.score, "kept": c.kept} for c in step]
            for step in trace.beam_steps
        ],
    }
