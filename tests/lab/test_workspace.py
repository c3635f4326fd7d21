"""The saved workspace and the edits on it: pure functions, atomic saves, uploads that fail in words."""

import json

import pytest

from lab import workspace as ws
from lab.errors import DataError
from lab.examples import Example, conversation, load_sample, single_turn


def roles(example):
    return [t.role for t in example.conversation.turns]


def test_a_new_workspace_starts_from_the_spanish_sample_and_saves_atomically(tmp_path):
    space = ws.Workspace(tmp_path)
    assert space.examples() == load_sample("spanish") and space.revision() == 0
    edited = ws.set_turn(space.examples(), 0, 1, content="can")
    space.save(edited, selected=3, source="sample:spanish")
    again = ws.Workspace(tmp_path)  # another process, or the app after a restart
    assert again.examples()[0].conversation.turns[1].content == "can"
    assert again.state() == ws.WorkspaceState(3, "sample:spanish")
    assert [p.name for p in (tmp_path / "workspace").iterdir()] in (["examples.jsonl", "state.json"],
                                                                    ["state.json", "examples.jsonl"])


def test_selection_is_clamped_to_the_set(tmp_path):
    space = ws.Workspace(tmp_path)
    space.save(load_sample("spanish")[:2], selected=7)
    assert space.state().selected == 1


def test_edits_return_new_lists_and_leave_their_input_alone():
    start = [single_turn("q", "a")]
    added = ws.add_turn(start, 0)
    assert roles(added[0]) == ["user", "assistant", "user"] and roles(start[0]) == ["user", "assistant"]
    assert roles(ws.add_turn(added, 0)[0])[-1] == "assistant"
    assert roles(ws.add_turn(start, 0, "system")[0]) == ["user", "assistant", "system"]
    assert roles(ws.move_turn(ws.add_turn(start, 0, "system"), 0, 2, -1)[0]) == ["user", "system", "assistant"]
    assert roles(ws.move_turn(start, 0, 0, -1)[0]) == ["user", "assistant"]  # at the top it stays
    assert roles(ws.delete_turn(start, 0, 0)[0]) == ["assistant"]
    assert ws.set_turn(start, 0, 0, role="system")[0].conversation.turns[0].role == "system"


def test_examples_are_inserted_moved_and_deleted():
    a, b = single_turn("a", "1"), single_turn("b", "2")
    assert ws.insert_example([a, b], 1, a) == [a, a, b]
    assert ws.insert_example([], 5)[0] == ws.blank_example()
    assert ws.move_example([a, b], 0, 1) == [b, a]
    assert ws.delete_example([a, b], 0) == [b]


def test_bad_edits_say_what_is_wrong():
    with pytest.raises(DataError, match="no turn 5"):
        ws.delete_turn([single_turn("q", "a")], 0, 5)
    with pytest.raises(DataError, match="unknown role 'robot'"):
        ws.set_turn([single_turn("q", "a")], 0, 0, role="robot")
    with pytest.raises(DataError, match="at least one turn"):
        ws.delete_turn([conversation(("user", "q"))], 0, 0)
    with pytest.raises(DataError, match="plain text"):
        ws.add_turn([Example(text="raw")], 0)


def test_problems_name_empty_turns_and_a_missing_answer():
    assert ws.problems(single_turn("q", "a")) == []
    assert ws.problems(single_turn("q", " ")) == ["turn 1 (assistant) is empty"]
    assert ws.problems(conversation(("user", "q"))) == ["it has no assistant turn, so there is nothing to learn"]
    assert ws.problems(Example(text="")) == ["the text is empty"]


def test_uploads_in_the_wrong_shape_fail_in_one_sentence_naming_the_file():
    good = json.dumps({"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]})
    [example] = ws.examples_from_upload("mine.jsonl", good.encode())
    assert example.conversation == single_turn("q", "a").conversation and example.source == "mine.jsonl line 1"
    with pytest.raises(DataError, match=r"^mine.jsonl line 1: not valid JSON"):
        ws.examples_from_upload("mine.jsonl", b"{not json")
    with pytest.raises(DataError, match="mine.jsonl"):
        ws.examples_from_upload("mine.jsonl", b'{"question": "q"}')
    with pytest.raises(DataError, match="unknown file type '.txt'"):
        ws.examples_from_upload("mine.txt", b"hello")


def test_jsonl_download_reads_back_as_the_same_set(tmp_path):
    examples = load_sample("multiturn")
    (tmp_path / "out.jsonl").write_bytes(ws.to_jsonl(examples))
    from lab.examples import read_examples

    assert [e.conversation for e in read_examples(tmp_path / "out.jsonl")] == [e.conversation for e in examples]


def test_preview_is_the_first_user_turn_on_one_line():
    assert ws.preview(conversation(("system", "sys"), ("user", "hello\n  there"), ("assistant", "x"))) == "hello there"
    assert ws.preview(single_turn("x" * 100, "a"), width=10) == "x" * 9 + "…"
