"""A model larger than its memory: accelerate's device map over a max_memory, layers that fit nowhere offloaded to
disk, the placement said in words, and the same greedy tokens as the model held whole in memory."""

import json

import pytest
import torch

from lab.errors import ModelError
from lab.models import DEFAULT_MODEL, parse_max_memory, placement, placement_sentence
from lab.models.plan import weight_bytes
from lab.models.references import load_model
from tests.cli.conftest import run_cli

PROMPT = "The capital of France is"


def test_max_memory_is_read_as_accelerate_takes_it_and_mistakes_are_sentences():
    assert parse_max_memory("cuda:1=24GiB, cpu=2GiB,disk") == ({1: "24GiB", "cpu": "2GiB"}, True)
    assert parse_max_memory("cuda=8GB") == ({0: "8GB"}, False)
    for text, sentence in [
        ("gpu=1", "is not DEVICE=SIZE"),
        ("tpu=2GiB", "the devices are cpu, cuda:N and disk"),
        ("disk", "names no device"),
        ("cuda:x=2GiB", "a GPU is cuda or cuda:N"),
    ]:
        with pytest.raises(ModelError, match=sentence):
            parse_max_memory(text)


def greedy(model, tokenizer, new: int = 8) -> list[int]:
    inputs = tokenizer(PROMPT, return_tensors="pt")
    with torch.no_grad():
        out = model.generate(**inputs, do_sample=False, max_new_tokens=new, min_new_tokens=new)
    return out[0, inputs["input_ids"].shape[1] :].tolist()


def test_a_model_that_does_not_fit_goes_partly_to_disk_and_answers_as_in_memory(tokenizer):
    whole = load_model(DEFAULT_MODEL, "cpu", dtype=torch.float32)
    offloaded = load_model(DEFAULT_MODEL, "cpu", dtype=torch.float32, max_memory="cpu=300MiB,disk")
    where = {device: (names, size) for device, names, size in placement(offloaded)}
    assert set(where) == {"cpu", "disk"}
    assert where["cpu"][1] <= 300 * 2**20 and "model.layers.29" in where["disk"][0]
    assert where["cpu"][1] + where["disk"][1] == weight_bytes(DEFAULT_MODEL)  # every weight, once
    assert placement_sentence(offloaded).startswith("cpu: 15 modules (model.embed_tokens ... model.layers.12)")
    assert greedy(offloaded, tokenizer) == greedy(whole, tokenizer)
    with pytest.raises(ModelError, match=r"does not fit in max memory cpu=100MiB: .* or add ',disk'"):
        load_model(DEFAULT_MODEL, "cpu", max_memory="cpu=100MiB")


def test_the_cli_decodes_an_offloaded_model_to_the_same_tokens_and_says_where_it_sits():
    args = ["decode", "--prompt", PROMPT, "--max-new-tokens", "6", "--json"]
    whole, offloaded = run_cli(*args), run_cli(*args, "--max-memory", "cpu=300MiB,disk")
    assert whole.returncode == offloaded.returncode == 0, offloaded.stderr
    assert json.loads(offloaded.stdout)[0]["text"] == json.loads(whole.stdout)[0]["text"]
    assert "placed: cpu: 15 modules" in offloaded.stderr and "; disk: 19 modules" in offloaded.stderr
    refused = run_cli("decode", "--prompt", PROMPT, "--run", "x", "--max-memory", "cpu=1GiB")
    assert refused.returncode == 2 and "--max-memory places a model given with --model" in refused.stderr
