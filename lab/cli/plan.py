"""`python -m lab plan`: will a fine-tune fit, counted from the model's config (nothing is loaded)."""

from __future__ import annotations

import json

from lab.cli.common import EXIT_FINDINGS, EXIT_OK
from lab.models.plan import PARTS, PLAN_DTYPES, PLAN_METHODS, gib, map_summary, plan
from lab.models.references import model_config
from lab.models.shipped import DEFAULT_MODEL
from lab.train.config import RunConfig


def add_parsers(sub) -> None:
    p = sub.add_parser(
        "plan",
        help="will it fit: the memory of a fine-tune, counted from the model's config; exit 1 when it does not",
    )
    p.add_argument("--model", default=DEFAULT_MODEL, help=f"built-in name, local folder or hub id ({DEFAULT_MODEL})")
    p.add_argument("--trust-remote-code", action="store_true", help="allow a hub model's own code to run")
    p.add_argument("--method", default="full", choices=PLAN_METHODS, help="full, LoRA, or QLoRA on a 4/8-bit base")
    p.add_argument("--dtype", default="fp32", choices=PLAN_DTYPES, help="the dtype weights are held and computed in")
    p.add_argument("--batch-size", type=int, default=1, metavar="B", help="sequences per step (1)")
    p.add_argument("--seq-len", type=int, default=512, metavar="N", help="tokens per sequence (512)")
    p.add_argument("--gradient-checkpointing", action="store_true", help="keep each layer's input only")
    p.add_argument("--lora-r", type=int, default=RunConfig.lora_r, metavar="R", help="LoRA rank")
    p.add_argument(
        "--max-memory",
        metavar="SPEC",
        help="the devices and their memory, e.g. 'cuda:0=24GiB,cpu=64GiB' (default: this machine's first device)",
    )
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(handler=run_plan)


def run_plan(args) -> int:
    result = plan(
        model_config(args.model, args.trust_remote_code),
        args.method,
        args.dtype,
        args.batch_size,
        args.seq_len,
        args.gradient_checkpointing,
        args.max_memory,
        lora_r=args.lora_r,
        name=args.model,
    )
    if args.json:
        print(json.dumps(result.to_json(), indent=2))
        return EXIT_OK if result.fits else EXIT_FINDINGS
    print(
        f"{result.model}: {args.method}, {args.dtype}, batch {args.batch_size} x {args.seq_len} tokens"
        + (", gradient checkpointing" if args.gradient_checkpointing else "")
    )
    print(f"parameters {result.parameters:,}, trained {result.trainable_parameters:,}")
    for part in PARTS:
        print(f"  {part:<12} {gib(result.bytes[part]):>10}")
    print(f"  {'peak':<12} {gib(result.bytes['total']):>10}  (gradients and activations peak apart)")
    for device, modules, count in map_summary(result.device_map):
        print(f"  {device}: {modules}" + (f" ({count} modules)" if count > 1 else ""))
    print(result.sentence())
    return EXIT_OK if result.fits else EXIT_FINDINGS
