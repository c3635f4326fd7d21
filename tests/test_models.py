"""Model references: the shipped model converts once and reloads from cache; errors are one sentence."""

import time

import pytest

from lab import models
from lab.errors import ModelError


def test_shipped_model_converted_once_and_trainable(tokenizer, monkeypatch):
    folder = models.resolve(None)
    assert folder.kind == "shipped"
    monkeypatch.setattr(models, "_convert_shipped", lambda *a: pytest.fail("converted a second time"))
    start = time.perf_counter()
    model = models.load_model()
    print(f"reload from cache: {time.perf_counter() - start:.2f} s")
    assert "quantization_config" not in model.config.to_dict()
    assert getattr(model, "hf_quantizer", None) is None and not getattr(model, "is_quantized", False)
    assert model.lm_head.weight.data_ptr() == model.model.embed_tokens.weight.data_ptr()  # tied
    assert (tokenizer.bos_token, tokenizer.eos_token, tokenizer.pad_token) == ("<|im_start|>", "<|im_end|>",
                                                                               "<|im_end|>")
    prompt = tokenizer.apply_chat_template([{"role": "user", "content": "What is the capital of France?"}],
                                           add_generation_prompt=True, return_tensors="pt", return_dict=True)
    out = model.generate(**prompt, max_new_tokens=12, do_sample=False)
    assert "Paris" in tokenizer.decode(out[0][prompt["input_ids"].shape[1]:])


def test_local_folder_and_vocab_size(tiny_model_dir, tokenizer):
    model = models.load_model(str(tiny_model_dir))
    assert model.config.num_hidden_layers == 2
    assert models.model_vocab_size(str(tiny_model_dir)) == len(tokenizer)


def test_unknown_references_fail_in_one_sentence(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelError, match="cannot load model 'nobody/nothing': it is not a built-in model .*, "
                                         "not a local folder, and the hub cannot be reached"):
        models.load_tokenizer("nobody/nothing")
    with pytest.raises(ModelError, match="is not a model: it has no config.json"):
        models.resolve(str(tmp_path))
    with pytest.raises(ModelError, match="no model folder"):
        models.resolve("./missing/folder")


def test_memory_note_speaks_only_when_the_copies_would_not_fit():
    import torch

    from lab.models import memory_note

    layer = torch.nn.Linear(10, 10)
    assert memory_note(layer) is None
    assert "copies of this model need" in memory_note(layer, copies=10**9)


def test_quantization_is_read_from_the_config(tiny_model_dir, quantized_model_dir):
    assert models.quantization_of(str(tiny_model_dir)) is None
    assert models.quantization_of(str(quantized_model_dir)) == "bitsandbytes 4-bit"
