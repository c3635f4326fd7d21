import json

import pytest

from lab.data import edits
from lab.data.examples import Example, Turn, conversation, example_to_row
from lab.data.sources import (
    example_from_row,
    examples_from_dataset,
    load_sample,
    read_examples,
    sample_names,
    write_jsonl,
)
from lab.errors import DataError


def test_conversational_row():
    e = example_from_row({"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]}, "x")
    assert e.conversation.turns == (Turn("user", "hi"), Turn("assistant", "yo"))


def test_prompt_completion_strings_and_lists():
    row = {"prompt": "q", "completion": "a"}
    e = example_from_row(row, "x")
    assert [t.role for t in e.conversation.turns] == ["user", "assistant"] and e.shape == "prompt-completion"
    assert example_to_row(e) == row
    row = {
        "prompt": [{"role": "system", "content": "s"}, {"role": "user", "content": "q"}],
        "completion": [{"role": "assistant", "content": "a"}],
    }
    e = example_from_row(row, "x")
    assert [t.role for t in e.conversation.turns] == ["system", "user", "assistant"]
    assert (e.shape, e.prompt_turns) == ("chat-prompt-completion", 2)
    assert example_to_row(e) == row


def test_a_prompt_completion_row_that_gains_turns_is_written_as_messages():
    e = example_from_row({"prompt": "q", "completion": "a"}, "x")
    edited = edits.add_turn([e], 0, "user", "more?")[0]
    assert edited.shape == "messages" and list(example_to_row(edited)) == ["messages"]
    same = edits.set_turn([e], 0, 1, content="b")[0]
    assert example_to_row(same) == {"prompt": "q", "completion": "b"}


def test_classic_text_stays_as_written_until_a_person_splits_it():
    text = '\n\n### Human: How do you say "dog" in Spanish?\n\n### Assistant: perro'
    e = example_from_row({"text": text}, "x")
    assert e.is_text and e.text == text and example_to_row(e) == {"text": text}
    split = edits.text_to_turns([e], 0)[0]
    assert split.conversation.turns == (Turn("user", 'How do you say "dog" in Spanish?'), Turn("assistant", "perro"))
    with pytest.raises(DataError, match="no `### Human:`"):
        edits.text_to_turns([example_from_row({"text": "Once upon a time"}, "x")], 0)


def test_plain_text_stays_text():
    e = example_from_row({"text": "Once upon a time"}, "x")
    assert e.is_text and e.text == "Once upon a time"


def test_read_all_file_shapes_roundtrip(tmp_path):
    import pandas as pd

    data = load_sample("multiturn")
    write_jsonl(data, tmp_path / "d.jsonl")
    assert read_examples(tmp_path / "d.jsonl") == [
        Example(e.conversation, None, f"d.jsonl line {i + 1}") for i, e in enumerate(data)
    ]
    rows = [{"prompt": "q1", "completion": "a1"}, {"prompt": "q2", "completion": "a2"}]
    pd.DataFrame(rows).to_csv(tmp_path / "d.csv", index=False)
    pd.DataFrame(rows).to_parquet(tmp_path / "d.parquet")
    for name in ("d.csv", "d.parquet"):
        got = read_examples(tmp_path / name)
        assert [e.conversation.turns[1].content for e in got] == ["a1", "a2"]
    msgs = [{"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]}]
    pd.DataFrame(msgs).to_parquet(tmp_path / "m.parquet")
    assert read_examples(tmp_path / "m.parquet")[0].conversation.turns[1] == Turn("assistant", "a")
    pd.DataFrame([{"messages": json.dumps(msgs[0]["messages"])}]).to_csv(tmp_path / "m.csv", index=False)
    assert read_examples(tmp_path / "m.csv")[0].conversation.turns[0] == Turn("user", "q")


def test_datasets_dataset():
    import datasets

    ds = datasets.Dataset.from_list([{"prompt": "q", "completion": "a"}])
    assert examples_from_dataset(ds)[0].conversation.turns[1].content == "a"


def test_samples():
    assert {"spanish", "spanish_heldout", "multiturn", "reading"} <= set(sample_names())
    spanish = read_examples("sample:spanish")
    assert [e.conversation.turns[1].content for e in spanish] == ["perro", "agua", "hola", "árbol", "madre"]
    assert load_sample("spanish_heldout")[0].conversation.turns[1].content == "día"
    reading = load_sample("reading")
    assert all(e.conversation.turns[1].content in "ABCD" for e in reading)
    assert all(len(e.conversation.turns[0].content) > 600 for e in reading)
    assert all(sum(t.role == "assistant" for t in e.conversation.turns) >= 2 for e in load_sample("multiturn"))


@pytest.mark.parametrize(
    "content, message",
    [
        ("", "holds no examples"),
        ('{"messages": []}\n{"text": "ok"\n', "line 1: 'messages' must be a non-empty list"),
        ('{"text": "ok"}\n{"text": "ok"\n', "line 2: not valid JSON"),
        ('{"question": "q"}\n', "line 1: expected 'messages', 'prompt' and 'completion', 'text', ShareGPT's"),
        ('{"messages": [{"content": "x"}]}\n', "message 0 needs a 'role'"),
        ('{"messages": [{"role": "user", "content": [1, 2]}]}\n', "content is a list, but not of parts"),
        ('{"messages": [{"role": "user", "content": "q"}], "tools": "[{"}\n', "'tools' is text but not JSON"),
        ('{"conversations": [{"from": "bot", "value": "x"}]}\n', "is from 'bot'; ShareGPT's are human"),
        ('{"conversations": [{"from": "function_call", "value": "f("}]}\n', "function_call whose value is not JSON"),
        ('{"instruction": "q", "output": "a", "history": [["only one"]]}\n', "list of \\[instruction, answer\\]"),
    ],
)
def test_bad_files_name_the_problem(tmp_path, content, message):
    path = tmp_path / "bad.jsonl"
    path.write_text(content)
    with pytest.raises(DataError, match=message):
        read_examples(path)


def test_missing_file_and_unknown_type(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        read_examples(tmp_path / "nope.jsonl")
    (tmp_path / "d.txt").write_text("x")
    with pytest.raises(DataError, match="unknown file type"):
        read_examples(tmp_path / "d.txt")
    with pytest.raises(DataError, match="no sample set"):
        read_examples("sample:nope")


def test_empty_turns():
    e = conversation(("user", "q"), ("assistant", "  "))
    assert e.empty_turns() == [1]
