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


def tokenizer_copy(tokenizer, tmp_path, **changes):
    """A saved-and-reloaded copy of the tokenizer with attributes changed (pad token, chat template)."""
    from transformers import AutoTokenizer

    folder = tmp_path / "tok"
    tokenizer.save_pretrained(folder)
    copy = AutoTokenizer.from_pretrained(folder)
    for name, value in changes.items():
        setattr(copy, name, value)
    return copy
