"""Rows as written: text and prompt-completion rows give the ids and labels TRL trains on, strategy by strategy
(TRL 1.16's own SFTTrainer for ids and its losses; TRL 0.19.1's collator for response-template)."""

import pytest

from lab.data.sources import example_from_row
from lab.labels.strategies import label_all
from lab.labels.token_labels import LabelSettings
from lab.labels.tokens import tokenize_example
from tests.conftest import tokenizer_copy
from tests.labels.trl_reference import completion_only_019, sft_batch

# Held-out text rows, none of them in the samples: seed 000's rendering, a drifted one (one space, no bos),
# one with no eos, two answers, plain prose, and newline markers.
TEXTS = [
    '\n\n### Human: How do you say "dog" in Spanish?\n\n### Assistant:<|im_start|> perro<|im_end|>',
    '### Human: How do you say "house" in Spanish? ### Assistant: casa<|im_end|>',
    "\n\n### Human: What is 2+2?\n\n### Assistant: 4",
    "\n\n### Human: 3 apples + 4?\n\n### Assistant:<|im_start|> 7<|im_end|>\n\n### Human: minus 2?"
    "\n\n### Assistant:<|im_start|> 5<|im_end|>",
    "Once upon a time there was a dog.",
    '### Human:\nTranslate "cat"\n### Assistant:\ngato',
]
PAIRS = [
    ("2+2=", " 4"),
    ('How do you say "day" in Spanish? ', "día<|im_end|>"),
    ("Q: capital of France?\nA:", " Paris"),
]


def _items(rows, tokenizer):
    return [tokenize_example(example_from_row(row, f"row {k}"), tokenizer, "as-written") for k, row in enumerate(rows)]


def test_text_rows_are_kept_character_for_character(tokenizer):
    for text, item in zip(TEXTS, _items([{"text": t} for t in TEXTS], tokenizer)):
        eos = "" if text.endswith("<|im_end|>") else "<|im_end|>"
        assert item.rendered.text == text + eos
        assert "".join(item.rendered.text[s.start : s.end] for s in item.rendered.segments) == text + eos


@pytest.mark.parametrize("loss", ["trl-completion", "copy"])
def test_text_rows_train_what_sfttrainer_trains(loss, tokenizer, tiny_model_dir, tmp_path):
    rows = [{"text": t} for t in TEXTS]
    items = _items(rows, tokenizer)
    ours = label_all(items, tokenizer, [loss])
    trained = sft_batch(
        tiny_model_dir, tokenizer_copy(tokenizer, tmp_path), rows, tmp_path, completion_only_loss=loss != "copy"
    )
    assert len(trained) == len(TEXTS)
    for item, labels in zip(items, ours):
        assert trained[item.encoded.ids] == list(labels[loss].labels)


@pytest.mark.parametrize("instruction", ["### Human:", ""])
def test_text_rows_under_the_old_collator(instruction, tokenizer):
    items = _items([{"text": t} for t in TEXTS], tokenizer)
    settings = LabelSettings(response_template="### Assistant:", instruction_template=instruction)
    ours = label_all(items, tokenizer, ["response-template"], settings)
    found = 0
    for item, labels in zip(items, ours):
        theirs = completion_only_019(list(item.encoded.ids), tokenizer, "### Assistant:", instruction or None)
        assert list(labels["response-template"].labels) == theirs
        found += any(label != -100 for label in theirs)
    assert found >= 2  # the drifted and the prose rows are masked whole; the others learn their answers


def test_prompt_completion_rows_train_what_sfttrainer_trains(tokenizer, tiny_model_dir, tmp_path):
    rows = [{"prompt": p, "completion": c} for p, c in PAIRS]
    items = _items(rows, tokenizer)
    assert [i.rendered.text for i in items] == [p + c.removesuffix("<|im_end|>") + "<|im_end|>" for p, c in PAIRS]
    ours = label_all(items, tokenizer, ["trl-completion", "copy"])
    tok = tokenizer_copy(tokenizer, tmp_path)
    completion = sft_batch(tiny_model_dir, tok, rows, tmp_path, completion_only_loss=True)
    everything = sft_batch(tiny_model_dir, tok, rows, tmp_path, completion_only_loss=False)
    for item, labels in zip(items, ours):
        assert completion[item.encoded.ids] == list(labels["trl-completion"].labels)
        assert everything[item.encoded.ids] == list(labels["copy"].labels)
        assert not label_all([item], tokenizer, ["trl-assistant"])[0]["trl-assistant"].available
