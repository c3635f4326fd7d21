"""Every finding of `check` triggered by a dataset built for it, and a clean dataset with none."""

from lab.data.examples import Example, conversation, single_turn
from lab.data.sources import load_sample
from lab.labels.check import Finding, check, group_findings
from lab.labels.token_labels import LabelSettings
from tests.conftest import DOG, tokenizer_copy


def codes(findings):
    return [(f.example, f.code) for f in findings]


def test_clean_dataset_has_no_findings(tokenizer, tmp_path):
    tok = tokenizer_copy(tokenizer, tmp_path, pad_token="<|endoftext|>")  # pad != eos
    data = load_sample("spanish") + load_sample("multiturn")
    assert check(load_sample("spanish"), tok, "classic", vocab_size=len(tok)) == []
    assert check(data, tokenizer, "classic", strategies=("special-mask", "trl-completion")) == []
    # The old collator learns the `\n\n` of the next `### Human:` after every answer but the last
    found = check(data, tok, "classic", vocab_size=len(tok))
    assert codes(found) == [(i, "prompt-trained") for i in range(5, 10)]
    assert found[0].message == (
        "example 5: response-template learns 2 user tokens (token 35 first): a completion-only mask should learn "
        "the answers alone"
    )


def test_prompt_tokens_learned_by_a_completion_only_mask_are_found(tokenizer):
    """special-mask meets `<|im_start|>` at every turn of a chat template: it learns the system and user turns."""
    found = check([DOG], tokenizer, "chat-template", strategies=("special-mask", "trl-completion", "copy"))
    # SmolLM2's template also writes its default system prompt: the audit's injected-text
    assert codes(found) == [(0, "prompt-trained"), (0, "injected-text")] and found[0].strategy == "special-mask"
    assert "special-mask learns 32 system/user tokens" in found[0].message  # 19 of the system turn, 13 of the user's


def test_planted_problems(tokenizer):
    long_answer = " ".join(["word"] * 60)
    data = [
        DOG,  # 0: eos masked (pad == eos)
        conversation(("user", "Hello?")),  # 1: no assistant turn
        conversation(("user", "  "), ("assistant", "ok")),  # 2: empty turn
        single_turn("Write sixty words.", long_answer),  # 3: cut by max length
    ]
    found = check(data, tokenizer, "classic", strategies=("special-mask", "response-template"), max_length=30)
    assert codes(found) == [
        (0, "eos-masked"),
        (1, "fully-masked"),
        (2, "empty-turn"),
        (2, "eos-masked"),
        (3, "eos-masked"),
        (3, "truncated"),
    ]
    by_code = {(f.example, f.code): f.message for f in found}
    assert by_code[(1, "fully-masked")] == "example 1 has no assistant turn: nothing to learn"
    assert by_code[(2, "empty-turn")] == "example 2: turn 0 (user) is empty"
    assert by_code[(3, "truncated")] == "example 3 has 76 tokens: max length 30 cuts off 46 of its 61 completion tokens"
    assert "never learns to stop" in by_code[(0, "eos-masked")]


def test_template_not_found(tokenizer):
    found = check(
        [DOG],
        tokenizer,
        "classic",
        strategies=("response-template",),
        settings=LabelSettings(response_template="Assistant:"),
    )
    assert codes(found) == [(0, "template-not-found")]
    assert "its ids alone are" in found[0].message and "in this text it tokenizes as [20108, 42]" in found[0].message


def test_no_generation_tags_and_out_of_range_ids(tokenizer):
    found = check([DOG], tokenizer, "chat-template", strategies=("trl-assistant", "trl-completion"), vocab_size=9000)
    assert codes(found) == [(None, "no-generation-tags"), (0, "injected-text"), (0, "id-out-of-range")]
    assert "token ids 9531, 9690, 11173, 19712, 22676 are outside" in found[2].message
    assert "piece id is out of range" in found[2].message


def test_fully_masked_under_one_strategy(tokenizer):
    text_row = Example(text="no markers and no special tokens here")
    found = check([text_row], tokenizer, "classic", strategies=("special-mask",))
    assert codes(found) == [(0, "fully-masked")]


def test_a_conversation_the_chat_template_refuses_is_unrenderable(tokenizer, tmp_path):
    no_system = (
        "{% for m in messages %}{% if m['role'] == 'system' %}{{ raise_exception('System role not supported') }}"
        "{% endif %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
        "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
    )
    tok = tokenizer_copy(tokenizer, tmp_path, chat_template=no_system)
    with_system = single_turn("Say hi.", "hi", system="Be brief.")
    found = check([with_system, DOG], tok, "chat-template", strategies=("special-mask",))
    assert codes(found) == [(0, "unrenderable"), (1, "prompt-trained")]
    assert found[0].message == (
        "example 0: the chat template cannot render this conversation: System role not supported"
    )


def test_findings_are_grouped_by_code_with_the_examples_they_hit(tokenizer):
    data = load_sample("spanish") + [conversation(("user", "Hello?"))]
    groups = group_findings(check(data, tokenizer, "classic", strategies=("special-mask", "response-template")))
    assert [(g.code, g.examples, g.strategies) for g in groups] == [
        ("fully-masked", (5,), ()),
        ("eos-masked", (0, 1, 2, 3, 4), ("response-template",)),
    ]
    assert (
        groups[1].sentence().startswith("`eos-masked` in 5 examples (#0, #1, #2, #3, #4), e.g. example 0: pad == eos")
    )
    assert (
        groups[0].sentence()
        == "`fully-masked` in 1 example (#5), e.g. example 5 has no assistant turn: nothing to learn"
    )
    many = group_findings([Finding(k, "truncated", f"example {k} is cut") for k in range(20)])
    assert many[0].sentence(shown=3) == "`truncated` in 20 examples (#0, #1, #2, …), e.g. example 0 is cut"
