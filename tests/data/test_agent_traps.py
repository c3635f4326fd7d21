"""The traps of agentic and reasoning data, each found on a row that has it and not on a control row that does
not: a tool's result trained, a key the template drops, reasoning stripped from the history, an empty think
block trained, a text row's eos masked, a weight-0 message trained. And the edits of what agent rows hold: each
changes what it edits and keeps every other key, and a malformed tool call is refused in a sentence."""

import json

import pytest

from lab.data.sources import to_jsonl
from lab.errors import DataError
from lab.labels.audit import audit_strategies
from lab.labels.strategies import label_all
from lab.labels.tokens import tokenize_example
from tests.data.test_real_data import AGENT_ROW, OPENAI_ROW, WEATHER_TOOL, _read


def _codes(item, tok, names):
    labelled = label_all([item], tok, names)[0]
    return {(name, note.code) for name, note in audit_strategies(item, labelled, tok)}


def test_tool_output_trained(qwen3_training, tmp_path):
    [example] = _read(tmp_path, [AGENT_ROW])
    item = tokenize_example(example, qwen3_training, "chat-template")
    codes = _codes(item, qwen3_training, ["copy", "trl-assistant"])
    assert ("copy", "tool-output-trained") in codes
    assert ("trl-assistant", "tool-output-trained") not in codes  # the control: a mask that skips tool turns


def test_field_dropped_when_the_template_drops_the_tool_call(tokenizer, qwen3_training, tmp_path):
    [example] = _read(tmp_path, [AGENT_ROW])
    own = tokenize_example(example, tokenizer, "chat-template")  # SmolLM2's own template: no tool calls
    assert "get_weather" not in own.rendered.text
    notes = [n for _, n in audit_strategies(own, label_all([own], tokenizer, ["copy"])[0], tokenizer)]
    dropped = [n.text for n in notes if n.code == "field-dropped"]
    assert dropped == [
        "the template does not render turn 2's tool call (get_weather), so that answer trains as an empty answer"
    ]
    control = tokenize_example(example, qwen3_training, "chat-template")
    assert ("copy", "field-dropped") not in _codes(control, qwen3_training, ["copy"])


def test_reasoning_history_dropped(qwen3, qwen3_training, tmp_path):
    row = {
        "messages": [
            {"role": "user", "content": "2+2?"},
            {"role": "assistant", "content": "4", "reasoning_content": "Two and two make four."},
            {"role": "user", "content": "3+3?"},
            {"role": "assistant", "content": "6", "reasoning_content": "Three and three make six."},
        ]
    }
    [example] = _read(tmp_path, [row])
    item = tokenize_example(example, qwen3, "chat-template")
    assert "Two and two" not in item.rendered.text and "Three and three" in item.rendered.text
    assert ("copy", "reasoning-history-dropped") in _codes(item, qwen3, ["copy"])
    control = tokenize_example(example, qwen3_training, "chat-template")  # the training version keeps both
    assert ("copy", "reasoning-history-dropped") not in _codes(control, qwen3_training, ["copy"])


def test_empty_think_trained_on_a_real_row(qwen3_training, tmp_path):
    plain = {"messages": [{"role": "user", "content": "2+2?"}, {"role": "assistant", "content": "4"}]}
    thought = {"messages": [plain["messages"][0], plain["messages"][1] | {"reasoning_content": "Two and two."}]}
    examples = _read(tmp_path, [plain, thought])
    items = [tokenize_example(e, qwen3_training, "chat-template") for e in examples]
    assert "<think>\n\n</think>" in items[0].rendered.text
    assert ("trl-assistant", "empty-think-trained") in _codes(items[0], qwen3_training, ["trl-assistant"])
    assert ("trl-assistant", "empty-think-trained") not in _codes(items[1], qwen3_training, ["trl-assistant"])


def test_eos_masked_on_a_text_row(tokenizer, tmp_path):
    """pad == eos: the old collator masks a text row's closing `<|im_end|>` as padding; copy keeps it."""
    examples = _read(tmp_path, [{"text": "### Human: Hi\n\n### Assistant: Hello<|im_end|>"}])
    item = tokenize_example(examples[0], tokenizer, "as-written")
    assert item.encoded.ids[-1] == tokenizer.eos_token_id == tokenizer.pad_token_id
    labelled = label_all([item], tokenizer, ["response-template", "copy"])[0]
    assert labelled["response-template"].labels[-1] == -100
    assert "eos-masked" in {n.code for n in labelled["response-template"].notes}
    assert "eos-masked" not in {n.code for n in labelled["copy"].notes}


def test_weight_zero_trained_is_said_and_shown(tokenizer, tmp_path):
    from lab.views.chips import token_chips

    [example] = _read(tmp_path, [OPENAI_ROW])
    item = tokenize_example(example, tokenizer, "chat-template")
    assert ("copy", "weight-ignored") in _codes(item, tokenizer, ["copy"])
    # the control: trl-completion learns only the last answer, so message 1 (weight 0) is not trained
    assert ("trl-completion", "weight-ignored") not in _codes(item, tokenizer, ["trl-completion"])
    chips = token_chips(item, label_all([item], tokenizer, ["copy"])[0])
    assert "turn 1 · assistant · weight 0" in chips and "turn 3 · assistant · weight 1" in chips


def test_edits_change_what_they_edit_and_keep_every_other_key(tmp_path):
    from lab.data import edits

    [example] = _read(tmp_path, [AGENT_ROW])
    rows = edits.set_turn([example], 0, 2, content="Let me look.")
    rows = edits.set_tool_call(rows, 0, 2, 0, "get_weather", '{"city": "Lyon"}')
    rows = edits.set_reasoning(rows, 0, 4, "Report it.")
    written = json.loads(to_jsonl(rows))
    expected = json.loads(json.dumps(AGENT_ROW))
    expected["messages"][2]["content"] = "Let me look."
    expected["messages"][2]["tool_calls"][0]["function"]["arguments"] = {"city": "Lyon"}
    expected["messages"][4]["reasoning_content"] = "Report it."
    assert written == expected
    tools = [WEATHER_TOOL | {"extra": 1}]
    assert json.loads(to_jsonl(edits.set_tools(rows, 0, json.dumps(tools))))["tools"] == tools


@pytest.mark.parametrize(
    "name, arguments, message",
    [
        ("get_weather", '{"city": ', "the arguments of tool call 0 are not JSON"),
        ("get_weather", '["Paris"]', "must be a JSON object, not list"),
        ("  ", "{}", "needs a function name"),
    ],
)
def test_a_malformed_tool_call_is_refused_in_a_sentence(name, arguments, message, tmp_path):
    from lab.data import edits

    [example] = _read(tmp_path, [AGENT_ROW])
    with pytest.raises(DataError, match=message):
        edits.set_tool_call([example], 0, 2, 0, name, arguments)
    with pytest.raises(DataError, match="must be a JSON list of tool schemas"):
        edits.set_tools([example], 0, '{"name": "x"}')
