"""The template audit: each code fires on a template or row built for it (real TRL templates where one sets
the trap) and not on a clean control."""

import pytest

from lab.data.examples import Example, conversation, single_turn
from lab.labels.audit import AUDIT_CODES
from lab.labels.check import check
from lab.labels.templates import with_template
from tests.conftest import DOG, tokenizer_copy

REASONED = conversation(
    ("user", "2+2?"), ("assistant", "<think>add them</think>4"), ("user", "and 3+3?"), ("assistant", "6")
)
NO_SYSTEM_PROMPT = (
    "{% for m in messages %}{{ '<|im_start|>' + m['role'] + '\\n' + m['content'] + '<|im_end|>\\n' }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)


def audit_codes(data, tokenizer, strategy, **kw):
    found = check(data, tokenizer, kw.pop("fmt", "as-written"), strategies=(strategy,), max_length=None, **kw)
    return {f.code for f in found if f.code in AUDIT_CODES}


@pytest.fixture(scope="module")
def plain_template(tokenizer, tmp_path_factory):
    """SmolLM2's tokenizer with a ChatML template that adds nothing to the messages: the clean control."""
    return tokenizer_copy(tokenizer, tmp_path_factory.mktemp("plain"), chat_template=NO_SYSTEM_PROMPT)


def test_the_clean_control_raises_nothing(plain_template):
    assert audit_codes([DOG, REASONED], plain_template, "trl-completion") == set()


def test_double_bos(tokenizer, tmp_path):
    adds_bos = tokenizer_copy(tokenizer, tmp_path)
    adds_bos.add_bos_token = True  # a tokenizer that puts its bos first, as Gemma's does
    assert adds_bos("x")["input_ids"][0] == adds_bos.bos_token_id
    rendered = Example(text="<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\nyo<|im_end|>\n")
    assert "double-bos" in audit_codes([rendered], adds_bos, "copy")
    assert "double-bos" not in audit_codes([Example(text="user: hi\nassistant: yo")], adds_bos, "copy")


def test_injected_text(tokenizer, plain_template):
    found = check([DOG], tokenizer, "as-written", strategies=("trl-completion",), max_length=None)
    [note] = [f for f in found if f.code == "injected-text"]
    assert "You are a helpful AI assistant named SmolLM" in note.message and "not trained" in note.message
    assert "injected-text" in audit_codes([DOG], with_template(tokenizer, "llama3_1"), "trl-completion")
    assert "injected-text" not in audit_codes([DOG], plain_template, "trl-completion")


def _ends_with(stop_inside: bool) -> str:
    """A template with generation markers whose turns end with `<|endoftext|>` (special, not the eos), inside
    the trained span or just outside it."""
    inside, outside = ("{{ '<|endoftext|>' }}", "") if stop_inside else ("", "{{ '<|endoftext|>' }}")
    return (
        "{% for m in messages %}{% if m['role'] == 'assistant' %}{{ '<|im_start|>assistant\\n' }}"
        "{% generation %}{{ m['content'] }}" + inside + "{% endgeneration %}" + outside + "{{ '\\n' }}"
        "{% else %}{{ '<|im_start|>' + m['role'] + '\\n' + m['content'] + '<|endoftext|>\\n' }}{% endif %}"
        "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
    )


@pytest.mark.parametrize("stop_inside", [False, True])
def test_stop_token_untrained_agrees_with_trls_own_check(stop_inside, tokenizer, tmp_path):
    from trl.chat_template_utils import is_chat_template_stop_token_trained

    tok = tokenizer_copy(tokenizer, tmp_path, chat_template=_ends_with(stop_inside))
    assert is_chat_template_stop_token_trained(tok) == stop_inside
    found = audit_codes([DOG, REASONED], tok, "trl-assistant")
    assert ("stop-token-untrained" in found) == (not stop_inside)
    assert "stop-token-not-eos" in found  # `<|endoftext|>` is not what generation stops on either


def test_stop_token_not_eos(tokenizer, plain_template):
    assert "stop-token-not-eos" in audit_codes([DOG], with_template(tokenizer, "gemma3"), "trl-completion")
    assert "stop-token-not-eos" not in audit_codes([DOG], plain_template, "trl-completion")
    end_of_turn = with_template(tokenizer, "gemma3").convert_tokens_to_ids("<end_of_turn>")
    told = audit_codes([DOG], with_template(tokenizer, "gemma3"), "trl-completion", stop_ids={end_of_turn})
    assert "stop-token-not-eos" not in told  # a generation config that stops on it


def test_not_prefix_preserving_empty_think_and_history(tokenizer, plain_template):
    qwen3 = with_template(tokenizer, "qwen3")
    found = audit_codes([REASONED], qwen3, "trl-completion")
    assert {"not-prefix-preserving", "empty-think-trained", "history-altered"} <= found
    assert "empty-think-trained" in audit_codes([single_turn("2+2?", "4")], qwen3, "trl-completion")
    assert audit_codes([REASONED], plain_template, "trl-completion") == set()
    assert "empty-think-trained" not in audit_codes([DOG], with_template(tokenizer, "qwen2_5"), "trl-completion")
