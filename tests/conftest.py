"""Shared fixtures: the shipped tokenizer (converted once into a test home) and tiny random models."""

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# One lab home for the whole test run, kept between local runs so the shipped model converts once.
os.environ.setdefault("SFT_LAB_HOME", str(ROOT / ".cache" / "test-home"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")  # tests never wait on the network
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(scope="session")
def tokenizer():
    from lab.models import load_tokenizer

    return load_tokenizer()


@pytest.fixture(scope="session")
def tiny_model_dir(tokenizer, tmp_path_factory) -> Path:
    """A 2-layer random Llama with the shipped tokenizer, as a local model folder."""
    from lab.models import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("tiny") / "model", tokenizer)


@pytest.fixture(scope="session")
def quantized_model_dir(tiny_model_dir, tmp_path_factory) -> Path:
    """The tiny model's folder with a bitsandbytes 4-bit `quantization_config` in its config, as a quantized
    checkpoint on the hub has (the weights stay fp32: nothing here can load a real 4-bit model on CPU)."""
    import json
    import shutil

    folder = tmp_path_factory.mktemp("quantized") / "model"
    shutil.copytree(tiny_model_dir, folder)
    config = json.loads((folder / "config.json").read_text())
    config["quantization_config"] = {"quant_method": "bitsandbytes", "load_in_4bit": True,
                                     "bnb_4bit_quant_type": "nf4"}
    (folder / "config.json").write_text(json.dumps(config))
    return folder


def tokenizer_copy(tokenizer, tmp_path, **changes):
    """A saved-and-reloaded copy of the tokenizer with attributes changed (pad token, chat template)."""
    from transformers import AutoTokenizer

    folder = tmp_path / "tok"
    tokenizer.save_pretrained(folder)
    copy = AutoTokenizer.from_pretrained(folder)
    for name, value in changes.items():
        setattr(copy, name, value)
    return copy
