"""Literal labels of every strategy on the seed example, a multi-turn example and a chat-template example."""

import pytest

from lab.data.examples import conversation
from lab.data.sources import load_sample
from lab.labels.compare import compare
from lab.labels.strategies import STRATEGIES, label_all, label_example
from lab.labels.token_labels import LabelSettings
from lab.labels.tokens import tokenize_example
from tests.conftest import APPLES, DOG, tokenizer_copy
from tests.labels.trl_reference import sft_batch

M = -100  # the ignore label, written out so that the lists read as TRL prints them
GENERATION_TEMPLATE = (
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
    "{{ '<|im_start|>system\\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\\n' }}"
    "{% endif %}{% if message['role'] == 'assistant' %}{{ '<|im_start|>assistant\\n' }}{% generation %}"
    "{{ message['content'] + '<|im_end|>' }}{% endgeneration %}{{ '\\n' }}{% else %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}{% endif %}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)


def labels_of(example, tokenizer, fmt, **settings):
    item = tokenize_example(example, tokenizer, fmt)
    return item, label_example(item, tokenizer, STRATEGIES, LabelSettings(**settings))


# Literal token lists, laid out as they read, not one number per line:
# fmt: off
def test_seed_example_classic(tokenizer):
    item, got = labels_of(DOG, tokenizer, "classic")
    ids = [198, 198, 3757, 4996, 42, 1073, 536, 346, 1643, 476, 22676, 18, 281, 5071, 47,
           198, 198, 3757, 20108, 42, 1, 567, 291, 2]
    assert list(item.encoded.ids) == ids
    assert list(got["copy"].labels) == ids
    assert list(got["special-mask"].labels) == [M] * 21 + [567, 291, 2]
    assert list(got["response-template"].labels) == [M] * 20 + [1, 567, 291, M]  # pad == eos masks the eos
    assert list(got["trl-completion"].labels) == [M] * 21 + [567, 291, 2]
    assert not got["trl-assistant"].available
    assert list(got["prompt-weight"].labels) == ids
    assert list(got["prompt-weight"].weights) == [0.1] * 21 + [1.0] * 3
    assert [n.code for n in got["response-template"].notes] == ["eos-masked"]
    assert got["special-mask"].counted == 3 and got["copy"].counted == 23


def test_multi_turn_classic(tokenizer):
    item, got = labels_of(APPLES, tokenizer, "classic", prompt_weight=0.25)
    assert list(item.encoded.ids) == [
        198, 198, 3757, 4996, 42, 216, 35, 13855, 1232, 216, 36, 47, 198, 198, 3757, 20108, 42, 1, 216, 39, 2,
        198, 198, 3757, 4996, 42, 18253, 216, 34, 47, 198, 198, 3757, 20108, 42, 1, 216, 37, 2]
    assert list(got["special-mask"].labels) == [M] * 18 + [216, 39, 2] + [M] * 15 + [216, 37, 2]
    # The old collator keeps what lies between an answer and the next `### Human:` (the two newlines).
    assert list(got["response-template"].labels) == (
        [M] * 17 + [1, 216, 39, M, 198, 198] + [M] * 12 + [1, 216, 37, M])
    assert list(got["trl-completion"].labels) == [M] * 36 + [216, 37, 2]  # the last answer only
    assert list(got["prompt-weight"].weights) == [0.25] * 18 + [1.0] * 3 + [0.25] * 15 + [1.0] * 3


def test_chat_template(tokenizer):
    item, got = labels_of(DOG, tokenizer, "chat-template")
    assert len(item.encoded) == 44
    assert list(item.encoded.ids[-8:]) == [1, 520, 9531, 198, 456, 291, 2, 198]
    assert list(got["trl-completion"].labels) == [M] * 40 + [456, 291, 2, 198]
    assert list(got["response-template"].labels) == [M] * 40 + [456, 291, M, 198]
    sm = got["special-mask"]
    assert sm.labels[:3] == (M, 9690, 198) and "opens every turn" in sm.notes[0].text
    assert list(got["prompt-weight"].weights) == [0.1] * 40 + [1.0] * 4
    assert not got["trl-assistant"].available
    assert "{% generation %}" in got["trl-assistant"].notes[0].text
# fmt: on


def test_trl_assistant_with_generation_markers(tokenizer, tmp_path):
    tok = tokenizer_copy(tokenizer, tmp_path, chat_template=GENERATION_TEMPLATE)
    item, got = labels_of(APPLES, tok, "chat-template")
    labels = got["trl-assistant"]
    assert labels.available
    learned = [item.encoded.pieces[i] for i in range(len(item.encoded)) if labels.trained(i)]
    assert learned == ["7", "<|im_end|>", "5", "<|im_end|>"]  # both answers, the newline after them not


def test_response_template_not_found_shows_both_id_lists(tokenizer):
    item, got = labels_of(DOG, tokenizer, "classic", response_template="Assistant:")
    note = got["response-template"].notes[0]
    assert note.code == "template-not-found"
    alone = tokenizer.encode("Assistant:", add_special_tokens=False)
    assert f"its ids alone are {alone}" in note.text and "[20108, 42]" in note.text
    assert set(got["response-template"].labels) == {M}


def test_no_assistant_turn_is_a_note_not_a_crash(tokenizer):
    item, got = labels_of(conversation(("user", "hello?")), tokenizer, "classic")
    assert any(n.code == "fully-masked" for n in got["special-mask"].notes)
    assert not got["trl-completion"].available


def test_compare_in_words(tokenizer):
    item, got = labels_of(DOG, tokenizer, "classic")
    sentences = [d.sentence() for d in compare(item, got, tokenizer)]
    assert (
        sentences[0] == "tokens 1-4 (`↵`, `###`, `·Human`, `:`) count for copy and prompt-weight only: "
        "user template tokens (prompt)"
    )
    assert any(
        s.startswith("token 20 (`<|im_start|>`) count for all but special-mask and trl-completion") for s in sentences
    )
    assert sentences[-1] == (
        "token 23 (`<|im_end|>`) count for all but response-template: the eos that ends the "
        "answer, which the old collator masks as padding (pad == eos)"
    )


@pytest.mark.parametrize("fmt", ["classic", "chat-template"])
def test_trl_completion_equals_what_sfttrainer_trains_on(fmt, tokenizer, tiny_model_dir, tmp_path):
    data = [DOG, APPLES] + load_sample("multiturn")[:2]
    items = [tokenize_example(e, tokenizer, fmt) for e in data]
    ours = label_all(items, tokenizer, ["trl-completion"])
    tok = tokenizer_copy(tokenizer, tmp_path)
    trained = sft_batch(
        tiny_model_dir, tok, [i.rendered.trl_completion_row for i in items], tmp_path, completion_only_loss=True
    )
    for item, labels in zip(items, ours):
        assert trained[item.encoded.ids] == list(labels["trl-completion"].labels)


def test_trl_assistant_equals_what_sfttrainer_trains_on(tokenizer, tiny_model_dir, tmp_path):
    tok = tokenizer_copy(tokenizer, tmp_path, chat_template=GENERATION_TEMPLATE)
    data = [DOG, APPLES, load_sample("multiturn")[1]]
    items = [tokenize_example(e, tok, "chat-template") for e in data]
    ours = label_all(items, tok, ["trl-assistant"])
    trained = sft_batch(
        tiny_model_dir, tok, [i.rendered.trl_messages_row for i in items], tmp_path, assistant_only_loss=True
    )
    for item, labels in zip(items, ours):
        assert labels["trl-assistant"].available
        assert trained[item.encoded.ids] == list(labels["trl-assistant"].labels)
