"""One conversation under several templates: each makes the tokens transformers makes with that template, ends
its answers with the template's own turn token, and raises what `check` raises under it."""

import pytest

from lab.data.examples import Example
from lab.data.sources import load_sample
from lab.errors import LabError
from lab.labels.audit import AUDIT_CODES
from lab.labels.check import check
from lab.labels.side_by_side import SIDE_BY_SIDE, under_templates
from lab.labels.templates import with_template

ENDS = {  # the token each template writes right after an answer, read from its Jinja text
    "model": ["<|im_end|>"],  # SmolLM2's ChatML
    "gemma3": ["<end_of_turn>"],
    "llama3_1": ["<|eot_id|>"],
    "qwen3": ["<|im_end|>"],
    "gptoss": ["<|end|>", "<|return|>"],  # an earlier answer ends with <|end|>, the last with <|return|>
}


@pytest.mark.parametrize("strategy", ["trl-completion", "response-template"])
def test_each_template_tokenizes_as_transformers_does_and_audits_as_check_does(strategy, tokenizer):
    example = load_sample("multiturn")[1]  # a system turn and two answers
    views = under_templates(example, tokenizer, SIDE_BY_SIDE, strategy)
    assert [v.name for v in views] == list(SIDE_BY_SIDE)
    for v in views:
        tok = with_template(tokenizer, v.name)
        ids = tok.apply_chat_template(example.conversation.messages(), tokenize=True, return_dict=True)["input_ids"]
        assert v.tokens == len(ids) and list(v.item.encoded.ids) == list(ids), v.name
        assert list(v.stop_tokens) == ENDS[v.name]
        found = check([example], tok, "chat-template", (strategy,), max_length=None)
        assert set(v.codes) & set(AUDIT_CODES) == {f.code for f in found if f.code in AUDIT_CODES}, v.name
        assert v.trained == sum(1 for x in v.labels.labels if x != -100)
    by_name = {v.name: v for v in views}
    assert by_name["gemma3"].added == ("<start_of_turn>", "<end_of_turn>")
    assert "injected-text" in by_name["llama3_1"].codes  # its "Cutting Knowledge Date" lines


def test_what_cannot_be_shown_is_said(tokenizer):
    example = load_sample("multiturn")[1]
    gemma, model = under_templates(example, tokenizer, ("gemma", "model"), "trl-assistant")
    assert "System role not supported" in gemma.error and gemma.item is None
    assert model.trained is None  # SmolLM2's template has no generation markers and TRL has no training version
    assert "no {% generation %} markers" in model.notes[0].text
    with pytest.raises(LabError, match="a text row is trained as written"):
        under_templates(Example(text="### Human: hi ### Assistant: yo"), tokenizer)
