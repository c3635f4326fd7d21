import pytest

from lab.data.examples import conversation
from lab.errors import FormatError
from lab.labels.formats import default_templates, render
from tests.conftest import DOG


def test_classic_single_turn_is_the_seed_text(tokenizer):
    r = render(DOG, tokenizer, "classic")
    assert r.text == '\n\n### Human: How do you say "dog" in Spanish?\n\n### Assistant:<|im_start|> perro<|im_end|>'
    assert [(r.text[s.start : s.end], s.role, s.kind) for s in r.segments] == [
        ("\n\n### Human: ", "user", "template"),
        ('How do you say "dog" in Spanish?', "user", "content"),
        ("\n\n### Assistant:", "assistant", "template"),
        ("<|im_start|>", "assistant", "special"),
        (" ", "assistant", "template"),
        ("perro", "assistant", "content"),
        ("<|im_end|>", "assistant", "special"),
    ]
    assert [r.text[a:b] for a, b in r.completion_spans] == [" perro<|im_end|>"]
    assert r.trl_completion_row == {"prompt": r.text[: r.text.index(" perro")], "completion": " perro<|im_end|>"}


def test_classic_multi_turn_eos_before_each_later_human(tokenizer):
    e = conversation(("system", "Be brief."), ("user", "a"), ("assistant", "b"), ("user", "c"), ("user", "d"))
    assert render(e, tokenizer, "classic").text == (
        "\n\n### System: Be brief.\n\n### Human: a\n\n### Assistant:<|im_start|> b<|im_end|>"
        "\n\n### Human: c<|im_end|>\n\n### Human: d<|im_end|>"
    )


def test_chat_template_spans(tokenizer):
    r = render(DOG, tokenizer, "chat-template")
    assert r.text == (
        "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n"
        '<|im_start|>user\nHow do you say "dog" in Spanish?<|im_end|>\n<|im_start|>assistant\nperro<|im_end|>\n'
    )
    assert [r.text[a:b] for a, b in r.completion_spans] == ["perro<|im_end|>\n"]
    assert {s.role for s in r.segments if s.turn == -1} == {"system"}
    assert "default system prompt" in r.notes[0]
    content = [(r.text[s.start : s.end], s.role) for s in r.segments if s.kind == "content"]
    assert content == [('How do you say "dog" in Spanish?', "user"), ("perro", "assistant")]
    assert r.trl_completion_row["completion"] == [{"role": "assistant", "content": "perro"}]


def test_default_templates(tokenizer):
    assert default_templates(tokenizer, "classic") == ("### Assistant:", "### Human:")
    assert default_templates(tokenizer, "chat-template") == ("<|im_start|>assistant\n", "<|im_start|>user\n")


def test_unknown_format(tokenizer):
    with pytest.raises(FormatError, match="unknown format"):
        render(DOG, tokenizer, "markdown")
