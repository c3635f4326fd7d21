"""Model references: the shipped model converts once and reloads from cache; errors are one sentence."""

import socket
import time

import pytest

from lab.errors import ModelError
from lab.models import devices, references, shipped


def test_shipped_model_converted_once_and_trainable(tokenizer, monkeypatch):
    folder = references.resolve(None)
    assert folder.kind == "shipped"
    monkeypatch.setattr(shipped, "_convert_shipped", lambda *a: pytest.fail("converted a second time"))
    start = time.perf_counter()
    model = references.load_model()
    print(f"reload from cache: {time.perf_counter() - start:.2f} s")
    assert "quantization_config" not in model.config.to_dict()
    assert getattr(model, "hf_quantizer", None) is None and not getattr(model, "is_quantized", False)
    assert model.lm_head.weight.data_ptr() == model.model.embed_tokens.weight.data_ptr()  # tied
    assert (tokenizer.bos_token, tokenizer.eos_token, tokenizer.pad_token) == (
        "<|im_start|>",
        "<|im_end|>",
        "<|im_end|>",
    )
    prompt = tokenizer.apply_chat_template(
        [{"role": "user", "content": "What is the capital of France?"}],
        add_generation_prompt=True,
        return_tensors="pt",
        return_dict=True,
    )
    out = model.generate(**prompt, max_new_tokens=12, do_sample=False)
    assert "Paris" in tokenizer.decode(out[0][prompt["input_ids"].shape[1] :])


def test_local_folder_and_vocab_size(tiny_model_dir, tokenizer):
    model = references.load_model(str(tiny_model_dir))
    assert model.config.num_hidden_layers == 2
    assert references.model_vocab_size(str(tiny_model_dir)) == len(tokenizer)


def test_unknown_references_fail_in_one_sentence(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(
        ModelError,
        match="cannot load model 'nobody/nothing': it is not a built-in model .*, "
        "not a local folder, and the hub cannot be reached",
    ):
        references.load_tokenizer("nobody/nothing")
    with pytest.raises(ModelError, match="is not a model: it has no config.json"):
        references.resolve(str(tmp_path))
    with pytest.raises(ModelError, match="no model folder"):
        references.resolve("./missing/folder")


def test_memory_note_speaks_only_when_the_copies_would_not_fit():
    import torch

    layer = torch.nn.Linear(10, 10)
    assert devices.memory_note(layer) is None
    assert "copies of this model need" in devices.memory_note(layer, copies=10**9)


def test_quantization_is_read_from_the_config(tiny_model_dir, quantized_model_dir):
    assert references.quantization_of(str(tiny_model_dir)) is None
    assert references.quantization_of(str(quantized_model_dir)) == "bitsandbytes 4-bit"


def test_the_hub_check_opens_a_real_connection_to_the_endpoint(monkeypatch):
    """A listening socket at HF_ENDPOINT counts as reachable, a closed port does not, and HF_HUB_OFFLINE wins."""
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{port}")
        assert references.hub_reachable(timeout=2)
        monkeypatch.setenv("HF_HUB_OFFLINE", "1")
        assert not references.hub_reachable(timeout=2)
    monkeypatch.delenv("HF_HUB_OFFLINE")
    assert not references.hub_reachable(timeout=2)  # the same port, closed now


def test_an_unreachable_hub_fails_fast_in_one_sentence(monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{port}")
    with pytest.raises(ModelError, match="the hub cannot be reached"):  # reached, it would say what it answered
        references.model_config("nobody/nothing-here")


def test_an_invalid_generation_config_is_named_with_its_fix(tiny_model_dir, tmp_path):
    """Seed 001's "the generation config instance is invalid": in transformers 5.23 a value GenerationConfig
    refuses stops the whole model from loading; the sentence names the file, not the weights."""
    import shutil

    folder = tmp_path / "model"
    shutil.copytree(tiny_model_dir, folder)
    (folder / "generation_config.json").write_text('{"do_sample": false, "max_new_tokens": 0}')
    with pytest.raises(ModelError) as refused:
        references.load_model(str(folder), "cpu")
    assert str(refused.value) == (
        f"the generation_config.json of '{folder}' is invalid (`max_new_tokens` must be greater than 0, but is 0.): "
        "fix that value, or delete the file (generation then uses transformers' defaults); the weights are not at "
        "fault"
    )
    (folder / "generation_config.json").unlink()
    assert references.load_model(str(folder), "cpu").generation_config.max_new_tokens is None


def test_offline_a_cached_model_that_fails_to_load_says_why_not_that_the_hub_is_unreachable(tmp_path, monkeypatch):
    """A hub id in the local cache whose config.json is damaged: the real error, not "the hub cannot be reached"."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path))  # read where transformers looks, at each load
    repo = tmp_path / "models--someone--damaged"
    snapshot = repo / "snapshots" / ("0" * 40)
    snapshot.mkdir(parents=True)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("0" * 40)
    (snapshot / "config.json").write_text("{ this is not json")
    with pytest.raises(ModelError) as refused:
        references.model_config("someone/damaged")
    assert "cannot be reached" not in str(refused.value)
    assert str(refused.value).startswith("cannot load the config of 'someone/damaged' from the local hub cache: ")
