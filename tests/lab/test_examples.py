import json

import pytest

from lab import examples as ex
from lab.errors import DataError


def test_conversational_row():
    e = ex.example_from_row({"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]}, "x")
    assert e.conversation.turns == (ex.Turn("user", "hi"), ex.Turn("assistant", "yo"))


def test_prompt_completion_strings_and_lists():
    e = ex.example_from_row({"prompt": "q", "completion": "a"}, "x")
    assert [t.role for t in e.conversation.turns] == ["user", "assistant"]
    e = ex.example_from_row({"prompt": [{"role": "system", "content": "s"}, {"role": "user", "content": "q"}],
                             "completion": [{"role": "assistant", "content": "a"}]}, "x")
    assert [t.role for t in e.conversation.turns] == ["system", "user", "assistant"]


def test_classic_text_is_split_into_turns():
    e = ex.example_from_row({"text": '\n\n### Human: How do you say "dog" in Spanish?\n\n### Assistant: perro'}, "x")
    assert e.conversation.turns == (ex.Turn("user", 'How do you say "dog" in Spanish?'), ex.Turn("assistant", "perro"))


def test_plain_text_stays_text():
    e = ex.example_from_row({"text": "Once upon a time"}, "x")
    assert e.is_text and e.text == "Once upon a time"


def test_read_all_file_shapes_roundtrip(tmp_path):
    import pandas as pd

    data = ex.load_sample("multiturn")
    ex.write_jsonl(data, tmp_path / "d.jsonl")
    assert ex.read_examples(tmp_path / "d.jsonl") == [ex.Example(e.conversation, None, f"d.jsonl line {i + 1}")
                                                       for i, e in enumerate(data)]
    rows = [{"prompt": "q1", "completion": "a1"}, {"prompt": "q2", "completion": "a2"}]
    pd.DataFrame(rows).to_csv(tmp_path / "d.csv", index=False)
    pd.DataFrame(rows).to_parquet(tmp_path / "d.parquet")
    for name in ("d.csv", "d.parquet"):
        got = ex.read_examples(tmp_path / name)
        assert [e.conversation.turns[1].content for e in got] == ["a1", "a2"]
    msgs = [{"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]}]
    pd.DataFrame(msgs).to_parquet(tmp_path / "m.parquet")
    assert ex.read_examples(tmp_path / "m.parquet")[0].conversation.turns[1] == ex.Turn("assistant", "a")
    pd.DataFrame([{"messages": json.dumps(msgs[0]["messages"])}]).to_csv(tmp_path / "m.csv", index=False)
    assert ex.read_examples(tmp_path / "m.csv")[0].conversation.turns[0] == ex.Turn("user", "q")


def test_datasets_dataset():
    import datasets

    ds = datasets.Dataset.from_list([{"prompt": "q", "completion": "a"}])
    assert ex.examples_from_dataset(ds)[0].conversation.turns[1].content == "a"


def test_samples():
    assert {"spanish", "spanish_heldout", "multiturn", "reading"} <= set(ex.sample_names())
    spanish = ex.read_examples("sample:spanish")
    assert [e.conversation.turns[1].content for e in spanish] == ["perro", "agua", "hola", "árbol", "madre"]
    assert ex.load_sample("spanish_heldout")[0].conversation.turns[1].content == "día"
    reading = ex.load_sample("reading")
    assert all(e.conversation.turns[1].content in "ABCD" for e in reading)
    assert all(len(e.conversation.turns[0].content) > 600 for e in reading)
    assert all(sum(t.role == "assistant" for t in e.conversation.turns) >= 2 for e in ex.load_sample("multiturn"))


@pytest.mark.parametrize("content, message", [
    ("", "holds no examples"),
    ('{"messages": []}\n{"text": "ok"\n', "line 1: 'messages' must be a non-empty list"),
    ('{"text": "ok"}\n{"text": "ok"\n', "line 2: not valid JSON"),
    ('{"question": "q"}\n', "line 1: expected 'messages', 'prompt' and 'completion', or 'text'; found 'question'"),
    ('{"messages": [{"role": "bot", "content": "x"}]}\n', "role 'bot'"),
])
def test_bad_files_name_the_problem(tmp_path, content, message):
    path = tmp_path / "bad.jsonl"
    path.write_text(content)
    with pytest.raises(DataError, match=message):
        ex.read_examples(path)


def test_missing_file_and_unknown_type(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        ex.read_examples(tmp_path / "nope.jsonl")
    (tmp_path / "d.txt").write_text("x")
    with pytest.raises(DataError, match="unknown file type"):
        ex.read_examples(tmp_path / "d.txt")
    with pytest.raises(DataError, match="no sample set"):
        ex.read_examples("sample:nope")


def test_empty_turns():
    e = ex.conversation(("user", "q"), ("assistant", "  "))
    assert e.empty_turns() == [1]
