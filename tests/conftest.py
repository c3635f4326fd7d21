"""Shared fixtures: the shipped tokenizers (converted once into a test home), tiny random models, and the
conversations many tests label (seed 000's question, a two-answer sum)."""

import html
import os
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# One lab home for the whole test run, kept between local runs so the shipped model converts once.
os.environ.setdefault("SFT_LAB_HOME", str(ROOT / ".cache" / "test-home"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")  # tests never wait on the network
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from lab.data.examples import conversation, single_turn  # noqa: E402  (after the environment is set)

# Seed 000's rendering and labels (RunConfig's defaults are TRL's: as-written, trl-completion): the runs whose
# expected numbers were measured on the seed lesson ask for it.
SEED = {"format": "classic", "strategy": "special-mask"}
DOG = single_turn('How do you say "dog" in Spanish?', "perro")  # seed 000's question and answer
APPLES = conversation(("user", "3 apples + 4?"), ("assistant", "7"), ("user", "minus 2?"), ("assistant", "5"))


@pytest.fixture(scope="session")
def tokenizer():
    from lab.models.references import load_tokenizer

    return load_tokenizer()


@pytest.fixture(scope="session")
def gemma_tokenizer():
    """Gemma 3 270M's tokenizer (262,144 tokens; its chat template TRL's `gemma3`), converted once per home."""
    from lab.models.references import load_tokenizer

    return load_tokenizer("gemma3-270m")


@pytest.fixture(scope="session")
def gemma_tiny_dir(gemma_tokenizer, tmp_path_factory) -> Path:
    """A 2-layer random Llama with Gemma 3's tokenizer, as a local model folder."""
    from lab.models.tiny import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("gemma-tiny") / "model", gemma_tokenizer, hidden=32)


@pytest.fixture(scope="session")
def tiny_model_dir(tokenizer, tmp_path_factory) -> Path:
    """A 2-layer random Llama with the shipped tokenizer, as a local model folder."""
    from lab.models.tiny import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("tiny") / "model", tokenizer)


@pytest.fixture(scope="session")
def tiny(tiny_model_dir):
    """The tiny model loaded in fp32, for tests that only read it (never train it: it is shared)."""
    import torch

    from lab.models.references import load_model

    return load_model(str(tiny_model_dir), "cpu", dtype=torch.float32)


@pytest.fixture(scope="session")
def quantized_model_dir(tiny_model_dir, tmp_path_factory) -> Path:
    """The tiny model's folder with a bitsandbytes 4-bit `quantization_config` in its config, as a quantized
    checkpoint on the hub has (the weights stay fp32: nothing here can load a real 4-bit model on CPU)."""
    import json
    import shutil

    folder = tmp_path_factory.mktemp("quantized") / "model"
    shutil.copytree(tiny_model_dir, folder)
    config = json.loads((folder / "config.json").read_text())
    config["quantization_config"] = {"quant_method": "bitsandbytes", "load_in_4bit": True, "bnb_4bit_quant_type": "nf4"}
    (folder / "config.json").write_text(json.dumps(config))
    return folder


def chip_texts(page_html: str, raw: bool = False) -> list[str]:
    """The text of every token chip in a page's HTML (whitespace as the chips show it), in order; `raw` keeps
    it as written in the HTML, escaped."""
    chip = r'<div class="sl-c sl-(?:user|assistant|system|text)[^"]*" title="[^"]*"><div class="t">(.*?)</div>'
    texts = re.findall(chip, page_html)
    return texts if raw else [html.unescape(text) for text in texts]


def shown_texts(htmls: list[str]) -> list[str]:
    """The texts shown by `text_view` in some HTML elements, in order, as plain text (↵ marks dropped)."""
    views = [part for h in htmls for part in h.split('class="sl-text-view">')[1:]]
    return [html.unescape(re.sub(r"<[^>]+>", "", v.split("</div>")[0])).replace("↵\n", "\n") for v in views]


def fresh_lab_home(tmp_path: Path) -> Path:
    """An empty lab home whose models/ is the test run's, so that the shipped model converts once per run, and
    which knows this machine's bf16 verdict for the shipped model (measured once per test run: on a busy 2-core
    machine the probe took 40 s, at every first visit of a Train page)."""
    import shutil

    from lab.common import lab_home

    home = tmp_path / "home"
    home.mkdir()
    (home / "models").symlink_to(lab_home() / "models")
    shutil.copy(shipped_hardware_verdict(), home / "hardware.json")
    return home


def shipped_hardware_verdict() -> Path:
    """The test run's hardware.json, holding the bf16 probe at the shipped model's shape (measured if absent)."""
    from lab.common import lab_home
    from lab.models.references import model_config
    from lab.train.hardware import bf16_probe, model_shape

    bf16_probe(model_shape(model_config()))  # read back when it is there
    return lab_home() / "hardware.json"


@pytest.fixture
def app_home(tokenizer, tmp_path, monkeypatch) -> Path:
    """A fresh SFT_LAB_HOME for the app under test, sharing the converted shipped model."""
    home = fresh_lab_home(tmp_path)
    monkeypatch.setenv("SFT_LAB_HOME", str(home))
    return home


def tokenizer_copy(tokenizer, tmp_path, **changes):
    """A saved-and-reloaded copy of the tokenizer with attributes changed (pad token, chat template)."""
    from transformers import AutoTokenizer

    folder = tmp_path / "tok"
    tokenizer.save_pretrained(folder)
    copy = AutoTokenizer.from_pretrained(folder)
    for name, value in changes.items():
        setattr(copy, name, value)
    return copy


def plain(markdown: str) -> str:
    """What a viewer reads in markdown the app escaped (`app_state.markdown_text`): the backslashes dropped."""
    return re.sub(r"\\([\\`*_{}\[\]()#+\-.!|<>~$])", r"\1", markdown)
