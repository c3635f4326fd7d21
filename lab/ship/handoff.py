"""The same run at scale, on engines people already use: TRL's CLI (`trl sft --config sft.yaml`) under
`accelerate` (DDP, FSDP, DeepSpeed ZeRO). The lab writes the data, the config and the commands; it never runs a
distributed trainer of its own.

A strategy TRL trains exactly (trl-completion, trl-assistant, copy) keeps its labels; the others become the
nearest TRL setting, and the hand-off says in one sentence what TRL then trains differently, counted on the
run's own examples with TRL's own preparation.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import yaml

from lab.common import IGNORE_INDEX
from lab.data.examples import Example
from lab.errors import FormatError, LabError
from lab.labels.formats import render
from lab.labels.strategies import label_all
from lab.labels.token_labels import LabelSettings
from lab.labels.tokens import tokenize_example
from lab.labels.trl_labels import one_shape, trl_prepare
from lab.models.references import model_config, resolve
from lab.models.shipped import SHIPPED
from lab.ship.export import new_folder
from lab.train.config import RunConfig, run_tokenizer
from lab.train.store import RunStore

# What TRL keeps of each strategy, and why the labels may differ (counted per run by `_differences`).
NEAREST = {
    "copy": ("every token (completion_only_loss: false)", ""),
    "special-mask": ("completion_only_loss", "TRL's prompt-completion rows have one completion, the last answer"),
    "response-template": (
        "completion_only_loss",
        "TRL learns each answer's eos, which the old collator masked "
        "with pad == eos, and none of the template text after an answer",
    ),
    "trl-completion": ("completion_only_loss", ""),
    "trl-assistant": ("assistant_only_loss", ""),
    "prompt-weight": ("completion_only_loss", "TRL has no prompt-loss weight: prompt tokens weigh 0 there"),
}


@dataclass(frozen=True)
class TrlHandoff:
    """The files of the hand-off (name -> text), the TRL loss setting, and what differs from the run."""

    files: dict[str, str]
    setting: str
    differs: str  # empty when TRL trains exactly the run's labels
    parameters: int


def trl_rows(examples: list[Example], tokenizer, config: RunConfig) -> tuple[list[dict], list[int]]:
    """The rows TRL reads for the run's examples: conversations for assistant-only loss, else prompt-completion
    (strings in classic, message lists with a chat template); and the examples they came from."""
    rows, kept = [], []
    for i, example in enumerate(examples):
        try:
            rendered = render(example, tokenizer, config.format)
        except FormatError:
            continue  # the run left it out too
        row = rendered.trl_messages_row if config.strategy == "trl-assistant" else rendered.trl_completion_row
        if row is not None:
            rows.append(row)
            kept.append(i)
    if not rows:
        raise LabError("no example of the run has an answer TRL could train on")
    one_shape(rows)
    return rows, kept


def _differences(rows, kept, examples, tokenizer, config: RunConfig, settings: dict) -> str:
    """Tokens TRL trains that the run did not, and the other way round, counted over the run's examples."""
    prepared = trl_prepare(
        rows, tokenizer, bool(settings.get("assistant_only_loss")), settings.get("completion_only_loss")
    )
    items = [tokenize_example(examples[k], tokenizer, config.format) for k in kept]
    ours = label_all(items, tokenizer, (config.strategy,), LabelSettings(config.prompt_weight))
    added = dropped = hit = 0
    for row, item, labels in zip(prepared, items, ours):
        lab = labels[config.strategy]
        if list(row["input_ids"]) != list(item.encoded.ids):
            hit += 1
            continue
        theirs = [label != IGNORE_INDEX for label in row["labels"]]
        mine = [lab.trained(i) for i in range(len(theirs))]
        added += sum(t and not m for t, m in zip(theirs[1:], mine[1:]))
        dropped += sum(m and not t for t, m in zip(theirs[1:], mine[1:]))
        hit += any(t != m for t, m in zip(theirs[1:], mine[1:]))
    if not hit:
        return ""
    reason = NEAREST[config.strategy][1] or "TRL tokenizes or labels these rows differently"
    return (
        f"{reason}: in {hit} of {len(items)} examples TRL learns {added} tokens the run did not and leaves "
        f"out {dropped} it learned"
    )


def _parameters(ref: str, trust_remote_code: bool) -> int:
    """Parameters of the base model, counted on the meta device from its config (no weights loaded)."""
    from accelerate import init_empty_weights  # heavy: only a hand-off counts parameters
    from transformers import AutoModelForCausalLM

    with init_empty_weights():
        model = AutoModelForCausalLM.from_config(model_config(ref, trust_remote_code))
    return sum(p.numel() for p in model.parameters())


def _which_launcher(parameters: int) -> str:
    if parameters < 1_500_000_000:
        return "multi_gpu: a whole copy fits on each GPU, so plain data parallelism (DDP) is fastest"
    if parameters < 15_000_000_000:
        return "fsdp2 or zero2: shard the gradients and optimizer state, which outgrow a GPU before the weights do"
    return "zero3 or fsdp2: shard the weights too"


def trl_handoff(store: RunStore, run_id: str) -> TrlHandoff:
    """The data, `sft.yaml` and `launch.sh` that run a finished run's settings with TRL's CLI."""
    run = store.get(run_id)
    config = run.config
    tokenizer = run_tokenizer(config)
    examples = store.examples(run_id)
    rows, kept = trl_rows(examples, tokenizer, config)
    setting = NEAREST[config.strategy][0]
    loss = (
        {"assistant_only_loss": True}
        if setting == "assistant_only_loss"
        else {"completion_only_loss": setting == "completion_only_loss"}
    )
    differs = _differences(rows, kept, examples, tokenizer, config, loss)
    parameters = _parameters(config.model, config.trust_remote_code)
    settings = {
        "model_name_or_path": resolve(config.model).location,
        "trust_remote_code": config.trust_remote_code,
        "datasets": [{"path": "json", "data_files": "data.jsonl", "split": "train"}],
        "output_dir": "output",
        **loss,
        "num_train_epochs": config.epochs,
        "learning_rate": config.lr,
        "lr_scheduler_type": "linear",
        "warmup_steps": 0,
        "weight_decay": 0.0,
        "per_device_train_batch_size": config.batch_size,
        "gradient_accumulation_steps": config.grad_accum,
        "max_length": config.max_length,
        "seed": config.seed,
        "logging_steps": config.logging_steps,
        "bf16": config.dtype != "fp32",
        "save_strategy": "no",
        "report_to": "none",
    }
    files = {}
    if config.format != "classic" and any(isinstance(r.get("prompt", r.get("messages")), list) for r in rows):
        settings["chat_template_path"] = "chat_template.jinja"
        files["chat_template.jinja"] = tokenizer.chat_template
    if config.method == "lora":
        settings |= {
            "use_peft": True,
            "lora_r": config.lora_r,
            "lora_alpha": config.lora_alpha,
            "lora_dropout": 0.0,
            "lora_target_modules": list(config.lora_targets),
        }
    if config.quantization == "4bit":  # QLoRA as the run trained it: NF4 with double quantization
        settings |= {"load_in_4bit": True, "bnb_4bit_quant_type": "nf4", "use_bnb_nested_quant": True}
    elif config.quantization == "8bit":
        settings |= {"load_in_8bit": True}
    original = SHIPPED[config.model].hub_id if config.model in SHIPPED else None
    header = [
        f"# SFT Lab run {run_id} ({config.strategy}, {config.method}) for `trl sft --config sft.yaml`.",
        f"# Its loss: {setting}."
        + (f" What differs from the run: {differs}." if differs else " TRL trains exactly the labels the run trained."),
    ]
    if original:
        header.append(
            f"# model_name_or_path is this machine's copy; elsewhere use {original} (the lab's copy "
            "is dequantized from a GGUF)."
        )
    files["sft.yaml"] = "\n".join(header) + "\n" + yaml.safe_dump(settings, sort_keys=False, allow_unicode=True)
    files["data.jsonl"] = "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
    files["launch.sh"] = _launch_script(run_id, parameters)
    return TrlHandoff(files, setting, differs, parameters)


def _launch_script(run_id: str, parameters: int) -> str:
    return f"""#!/usr/bin/env bash
# SFT Lab run {run_id} at scale with TRL's CLI. Extra arguments go to trl (or to accelerate when trl does not
# know them), e.g. `./launch.sh --max_steps 10`.
set -euo pipefail
cd "$(dirname "$0")"

# One GPU:
trl sft --config sft.yaml "$@"

# Several GPUs of one machine, through accelerate with TRL's own configs (set --num_processes to the GPUs):
#   trl sft --config sft.yaml --accelerate_config multi_gpu --num_processes 8   # DDP: a copy of the model per GPU
#   trl sft --config sft.yaml --accelerate_config fsdp2 --num_processes 8       # FSDP2: weights, grads, state sharded
#   trl sft --config sft.yaml --accelerate_config zero2 --num_processes 8       # DeepSpeed ZeRO-2 (needs deepspeed)
#   trl sft --config sft.yaml --accelerate_config zero3 --num_processes 8       # DeepSpeed ZeRO-3
# For this model ({parameters / 1e6:.0f}M parameters): {_which_launcher(parameters)}.
# On CPUs, two processes over gloo (a rehearsal of the hand-off):
#   trl sft --config sft.yaml --use_cpu true --bf16 false --multi_gpu --num_processes 2
# torch's gloo teardown can hang after "Model saved" (pytorch/pytorch#56297): output/ is then complete,
# and Ctrl-C ends the ranks (here within about 30 s).
"""


def write_handoff(handoff: TrlHandoff, out: str | Path) -> list[Path]:
    """Write the hand-off's files into `out`, a new or empty folder."""
    out = Path(out)
    new_folder(out)
    written = []
    for name, text in handoff.files.items():
        path = out / name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    (out / "launch.sh").chmod(0o755)
    return written
