"""Gemma 3's traps, on its real tokenizer with TRL's `gemma3` template: the labels equal what TRL trains on, and
the audit names what SmolLM2 never shows (a second bos, an answer that ends with `<end_of_turn>`, no system
role, pad not eos)."""

from lab.data.examples import Example, conversation
from lab.labels.audit import AUDIT_CODES
from lab.labels.check import check
from lab.labels.strategies import label_all
from lab.labels.token_labels import LabelSettings
from lab.labels.tokens import tokenize_example
from lab.models.references import generation_stop_ids
from tests.conftest import APPLES, DOG, tokenizer_copy
from tests.labels.trl_reference import completion_only_019, sft_batch

SYSTEM = conversation(("system", "Answer in one word."), ("user", "Capital of France?"), ("assistant", "Paris"))


def test_trl_assistant_is_the_mask_trl_trains_on(gemma_tokenizer, gemma_tiny_dir, tmp_path):
    items = [tokenize_example(e, gemma_tokenizer, "as-written") for e in (DOG, APPLES, SYSTEM)]
    ours = label_all(items, gemma_tokenizer, ["trl-assistant"])
    tok = tokenizer_copy(gemma_tokenizer, tmp_path)
    trained = sft_batch(
        gemma_tiny_dir, tok, [i.rendered.trl_messages_row for i in items], tmp_path, assistant_only_loss=True
    )
    end_of_turn = gemma_tokenizer.convert_tokens_to_ids("<end_of_turn>")
    for item, labels in zip(items, ours):
        got = list(labels["trl-assistant"].labels)
        assert trained[item.encoded.ids] == got
        answers_end = [
            k for k, t in enumerate(item.encoded.ids) if t == end_of_turn and item.encoded.roles[k] == "assistant"
        ]
        assert answers_end and all(got[k] == end_of_turn for k in answers_end)  # the stop token is trained


def test_the_system_message_is_folded_into_the_first_user_turn(gemma_tokenizer):
    item = tokenize_example(SYSTEM, gemma_tokenizer, "as-written")
    text = item.rendered.text
    assert text == gemma_tokenizer.apply_chat_template(SYSTEM.conversation.messages(), tokenize=False)
    system = [s for s in item.rendered.segments if s.kind == "content" and s.role == "system"]
    assert [text[s.start : s.end] for s in system] == ["Answer in one word."]
    assert text.index("<start_of_turn>user") < system[0].start  # inside the user turn
    assert any("no system role: turn 0 is written into turn 1" in n for n in item.rendered.notes)


def test_a_rendered_text_row_starts_with_two_bos_as_trl_trains_it(gemma_tokenizer, gemma_tiny_dir, tmp_path):
    rendered = gemma_tokenizer.apply_chat_template(DOG.conversation.messages(), tokenize=False)
    rows = [{"text": rendered}, {"text": "Dogs are called perros in Spanish."}]
    items = [tokenize_example(Example(text=r["text"]), gemma_tokenizer, "as-written") for r in rows]
    trained = sft_batch(gemma_tiny_dir, tokenizer_copy(gemma_tokenizer, tmp_path), rows, tmp_path)
    ours = label_all(items, gemma_tokenizer, ["copy"])
    for item, labels in zip(items, ours):
        assert trained[item.encoded.ids] == list(labels["copy"].labels)
    assert list(items[0].encoded.ids[:2]) == [gemma_tokenizer.bos_token_id] * 2
    found = [
        f
        for f in check(
            [Example(text=r["text"]) for r in rows], gemma_tokenizer, "as-written", ("copy",), max_length=None
        )
        if f.code == "double-bos"
    ]
    assert [f.example for f in found] == [0]  # the prose row, with one bos, is the control


def test_answers_end_with_a_token_generation_does_not_stop_on(gemma_tokenizer):
    stops = generation_stop_ids("gemma3-270m")
    found = check([DOG], gemma_tokenizer, "as-written", ("trl-completion",), max_length=None, stop_ids=stops)
    [note] = [f for f in found if f.code == "stop-token-not-eos"]
    assert "`<end_of_turn>`" in note.message and "`<eos>`" in note.message
    told = stops | {gemma_tokenizer.convert_tokens_to_ids("<end_of_turn>")}  # a generation config that stops on it
    found = check([DOG], gemma_tokenizer, "as-written", ("trl-completion",), max_length=None, stop_ids=told)
    assert not {f.code for f in found} & set(AUDIT_CODES)


def test_pad_is_not_eos_so_the_old_collator_trains_the_eos(gemma_tokenizer):
    item = tokenize_example(DOG, gemma_tokenizer, "classic")
    settings = LabelSettings(response_template="### Assistant:", instruction_template="### Human:")
    [ours] = label_all([item], gemma_tokenizer, ["response-template"], settings)
    theirs = completion_only_019(list(item.encoded.ids), gemma_tokenizer, "### Assistant:", "### Human:")
    assert list(ours["response-template"].labels) == theirs
    assert theirs[-1] == gemma_tokenizer.eos_token_id  # SmolLM2 (pad == eos) masks it: see test_strategies


def test_special_mask_skips_the_bos_that_opens_the_whole_text(gemma_tokenizer, tokenizer):
    """Gemma writes `<bos>` at token 0: the seed's mask must go on to the bos before the answer, or it trains the
    whole prompt (21 of 22 tokens before). Expected: the answer's own tokens and the eos, found from the roles."""
    for tok in (gemma_tokenizer, tokenizer):
        item = tokenize_example(DOG, tok, "classic")
        labels = label_all([item], tok, ["special-mask"])[0]["special-mask"]
        enc = item.encoded
        answer = [k for k in range(len(enc)) if enc.roles[k] == "assistant" and enc.kinds[k] == "content"]
        expected = answer + [answer[-1] + 1]  # the answer, then the eos that closes it
        assert enc.ids[expected[-1]] == tok.eos_token_id
        assert [k for k in range(len(enc)) if labels.trained(k)] == expected
    gemma_chat = tokenize_example(DOG, gemma_tokenizer, "chat-template")
    assert gemma_chat.encoded.ids[0] == gemma_tokenizer.bos_token_id
    labels = label_all([gemma_chat], gemma_tokenizer, ["special-mask"])[0]["special-mask"]
    assert labels.counted == 0
    assert "is the one that opens the whole text (token 0)" in labels.notes[0].text
