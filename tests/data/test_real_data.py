"""Real data as people hold it: tool calls, tool turns, reasoning, content parts and `tools` kept as written and
rendered as TRL 1.x's SFTTrainer renders them; the files and shapes they come in; the traps agentic data sets.

TRL's side is TRL's own `SFTTrainer._prepare_dataset` run on the row exactly as written in the file (not on the
lab's reading of it), so a key the lab loses or changes shows up as different ids or labels.
"""

import json
from pathlib import Path

import pytest
import trl

from lab.data.sources import read_examples, to_jsonl
from lab.errors import DataError, FormatError
from lab.labels.strategies import label_all
from lab.labels.tokens import tokenize_example
from lab.labels.trl_labels import trl_prepare

TRL_TEMPLATES = Path(trl.__file__).parent / "chat_templates"
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather in a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}
AGENT_ROW = {
    "messages": [
        {"role": "system", "content": "You answer with the tools you have."},
        {"role": "user", "content": "What is the weather in Paris?"},
        {
            "role": "assistant",
            "content": "",
            "reasoning_content": "The user wants Paris's weather, so I call get_weather.",
            "tool_calls": [{"type": "function", "function": {"name": "get_weather", "arguments": {"city": "Paris"}}}],
        },
        {"role": "tool", "name": "get_weather", "content": "22 degrees and sunny"},
        {"role": "assistant", "content": "It is 22 degrees and sunny in Paris.", "reasoning_content": "Say it."},
    ],
    "tools": [WEATHER_TOOL],
    "source": "hand-written",
}


def _read(tmp_path, rows, name="d.jsonl"):
    path = tmp_path / name
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return read_examples(path)


def _trl(row, tokenizer, assistant_only):
    return trl_prepare([row], tokenizer, assistant_only)[0]


PARTS_ROW = {
    "messages": [
        {"role": "user", "content": [{"type": "text", "text": "Weather "}, {"type": "text", "text": "in Paris?"}]},
        {"role": "assistant", "content": [{"type": "text", "text": "Sunny."}]},
    ]
}


def test_every_key_of_an_agent_row_is_read_and_written_back(tmp_path):
    [example] = _read(tmp_path, [AGENT_ROW])
    assert [t.role for t in example.conversation.turns] == ["system", "user", "assistant", "tool", "assistant"]
    assert example.conversation.turns[2].reasoning == "The user wants Paris's weather, so I call get_weather."
    assert json.loads(to_jsonl([example])) == AGENT_ROW  # every key, the tools and the other column, as written
    [parts] = _read(tmp_path, [PARTS_ROW])
    assert parts.conversation.turns[0].content == "Weather in Paris?"  # the text a person reads and edits
    assert json.loads(to_jsonl([parts])) == PARTS_ROW


@pytest.mark.parametrize("template", ["own", "qwen3_training"])
def test_the_lab_renders_an_agent_row_as_trl_prepares_it(template, tokenizer, qwen3_training, tmp_path):
    tok = tokenizer if template == "own" else qwen3_training
    [example] = _read(tmp_path, [AGENT_ROW])
    item = tokenize_example(example, tok, "chat-template")
    theirs = _trl(AGENT_ROW, tok, assistant_only=False)
    assert list(item.encoded.ids) == theirs["input_ids"]
    if template == "qwen3_training":
        assert len(item.encoded) > 200  # the tools, the reasoning and the tool call are all rendered
        labels = label_all([item], tok, ["trl-assistant"])[0]["trl-assistant"]
        assert list(labels.labels) == _trl(AGENT_ROW, tok, assistant_only=True)["labels"]
        parts = {p for p, k in zip(item.encoded.parts, item.encoded.kinds) if k == "content"}
        assert {"reasoning", "tool-call", ""} <= parts
        tool_tokens = [i for i, r in enumerate(item.encoded.roles) if r == "tool"]
        assert tool_tokens and not any(labels.trained(i) for i in tool_tokens)


def test_gemma_renders_content_parts_and_refuses_a_tool_turn_as_trl_does(gemma_tokenizer, tmp_path):
    """Gemma's template (TRL's `gemma3`) reads content parts, and stops on a role it does not know, as TRL does."""
    [example] = _read(tmp_path, [PARTS_ROW])
    item = tokenize_example(example, gemma_tokenizer, "chat-template")
    assert list(item.encoded.ids) == _trl(PARTS_ROW, gemma_tokenizer, assistant_only=False)["input_ids"]
    assert "user\nWeatherin Paris?" in item.rendered.text  # gemma3 trims each text part
    content = "".join(p for p, k in zip(item.encoded.pieces, item.encoded.kinds) if k == "content")
    assert content == "Weatherin Paris?Sunny."  # each part's text found and shown as the message's
    [agent] = _read(tmp_path, [AGENT_ROW])
    with pytest.raises(Exception) as theirs:
        _trl(AGENT_ROW, gemma_tokenizer, assistant_only=False)
    with pytest.raises(FormatError) as ours:
        tokenize_example(agent, gemma_tokenizer, "chat-template")
    assert str(ours.value) == f"the chat template cannot render this conversation: {theirs.value}"


def test_chat_template_kwargs_reach_the_template(qwen3, tmp_path):
    row = {
        "messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}],
        "chat_template_kwargs": {"enable_thinking": False},
    }
    [example] = _read(tmp_path, [row])
    item = tokenize_example(example, qwen3, "chat-template")
    assert list(item.encoded.ids) == _trl(row, qwen3, assistant_only=False)["input_ids"]
    assert json.loads(to_jsonl([example])) == row


SHAREGPT = {
    "conversations": [
        {"from": "human", "value": "Weather in Paris?"},
        {"from": "function_call", "value": '{"name": "get_weather", "arguments": {"city": "Paris"}}'},
        {"from": "observation", "value": "22 degrees"},
        {"from": "gpt", "value": "It is 22 degrees."},
    ],
    "system": "Use tools.",
    "tools": json.dumps([WEATHER_TOOL]),
}
OPENAI_ROW = {  # OpenAI's chat fine-tuning format: `weight` 0 says "do not train this answer"
    "messages": [
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Helo", "weight": 0},
        {"role": "user", "content": "Again"},
        {"role": "assistant", "content": "Hello", "weight": 1},
    ]
}
ALPACA = {"instruction": "Translate to Spanish", "input": "dog", "output": "perro", "history": [["Hi", "Hola"]]}


def test_sharegpt_is_converted_and_said(tmp_path):
    [example] = _read(tmp_path, [SHAREGPT])
    assert example.conversation.messages() == [
        {"role": "system", "content": "Use tools."},
        {"role": "user", "content": "Weather in Paris?"},
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [{"type": "function", "function": {"name": "get_weather", "arguments": {"city": "Paris"}}}],
        },
        {"role": "tool", "content": "22 degrees"},
        {"role": "assistant", "content": "It is 22 degrees."},
    ]
    assert example.tool_list() == [WEATHER_TOOL]
    assert example.read_as.startswith(
        "read as ShareGPT: human → user, function_call → an assistant tool call, observation → tool, gpt → assistant"
    )
    assert json.loads(to_jsonl([example]))["tools"] == [WEATHER_TOOL]  # written back as TRL's messages shape


def test_trl_reads_sharegpt_roles_as_written_which_the_lab_says(tokenizer, tmp_path):
    """TRL renames from/value only: the raw ShareGPT row reaches the template with roles `human` and `gpt`."""
    raw = {"conversations": [{"from": "human", "value": "Hi"}, {"from": "gpt", "value": "Hello"}]}
    ids = _trl(raw, tokenizer, assistant_only=False)["input_ids"]
    assert "<|im_start|>human" in tokenizer.decode(ids)
    [example] = _read(tmp_path, [raw])
    assert "would pass these roles to the template as written" in example.read_as


def test_alpaca_is_converted_and_said(tmp_path):
    [example] = _read(tmp_path, [ALPACA | {"system": "Be brief."}])
    assert example.conversation.messages() == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hola"},
        {"role": "user", "content": "Translate to Spanish\ndog"},
        {"role": "assistant", "content": "perro"},
    ]
    assert example.read_as == (
        "read as Alpaca: instruction and input (joined by a newline) → user, output → assistant, "
        "system → a system turn, 1 history pair → earlier turns"
    )


def test_openai_weights_stay_on_their_messages(tmp_path):
    row = OPENAI_ROW
    [example] = _read(tmp_path, [row])
    assert [t.other().get("weight") for t in example.conversation.turns] == [None, 0, None, 1]
    assert json.loads(to_jsonl([example])) == row


def _write(path: Path, rows: list[dict], kind: str) -> Path:
    import datasets

    flat = [{"messages": json.dumps(r["messages"])} for r in rows]  # one schema for Arrow, read back as JSON
    if kind == "json-array":
        path.write_text(json.dumps(rows))
    elif kind == "json-columns":
        path.write_text(json.dumps({"messages": [r["messages"] for r in rows]}))
    elif kind == "csv":
        import pandas as pd

        pd.DataFrame(flat).to_csv(path, index=False)
    elif kind == "parquet":
        datasets.Dataset.from_list(rows).to_parquet(str(path))
    elif kind == "arrow":
        ds = datasets.Dataset.from_list(rows)
        ds.save_to_disk(str(path.parent / "saved"))
        path = next((path.parent / "saved").glob("*.arrow"))
    elif kind == "save_to_disk":
        datasets.DatasetDict({"train": datasets.Dataset.from_list(rows)}).save_to_disk(str(path))
    return path


@pytest.mark.parametrize(
    "kind, name",
    [
        ("json-array", "d.json"),
        ("json-columns", "d.json"),
        ("csv", "d.csv"),
        ("parquet", "d.parquet"),
        ("arrow", "d.arrow"),
        ("save_to_disk", "saved_dict"),
    ],
)
def test_every_file_type_reads_the_same_conversation(kind, name, tmp_path):
    rows = [
        {"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}]},
        {"messages": [{"role": "user", "content": "2+2?"}, {"role": "assistant", "content": "4"}]},
    ]
    path = _write(tmp_path / name, rows, kind)
    got = [e.conversation.messages() for e in read_examples(path)]
    assert got == [r["messages"] for r in rows]


def test_a_hub_id_loads_from_the_local_hub_cache(tmp_path, monkeypatch):
    """The real `datasets.load_dataset` path, offline. Offline, `datasets` answers a hub id from its own cache of
    an earlier download (`namespace___name/config/version/commit`): the test prepares that cache with the same
    builder a download of a JSON-lines hub dataset runs, then asks for the id with the hub off."""
    import datasets
    from datasets.packaged_modules.json.json import Json

    rows = [{"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}]}]
    data = tmp_path / "train.jsonl"
    data.write_text(json.dumps(rows[0]) + "\n")
    cache = tmp_path / "datasets"
    builder = Json(cache_dir=str(cache), dataset_name="tiny-chat", data_files={"train": str(data)})
    builder.download_and_prepare()
    made = next((cache / "tiny-chat").glob("*/0.0.0"))  # where a download of the hub id lands: config/version/commit
    landed = cache / "lab-tests___tiny-chat" / "default" / "0.0.0" / ("0" * 40)
    landed.parent.mkdir(parents=True)
    made.rename(landed)
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", cache)
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
    got = read_examples("lab-tests/tiny-chat:train")
    assert [e.conversation.messages() for e in got] == [rows[0]["messages"]]
    with pytest.raises(DataError) as missing:
        read_examples("lab-tests/not-cached")
    assert str(missing.value) == (
        "lab-tests/not-cached: cannot load the hub dataset (datasets.load_dataset('lab-tests/not-cached', "
        "split='train')): not in the local hub cache, and the hub is off (HF_HUB_OFFLINE)"
    )


def test_a_missing_file_that_looks_like_a_path_is_not_sent_to_the_hub(tmp_path):
    with pytest.raises(DataError, match="no such file, folder or hub dataset"):
        read_examples("data/train.jsonl")
