"""The saved workspace and the edits on it: pure functions, atomic saves, uploads that fail in words."""

import json

import pytest

from lab.data import edits
from lab.data import workspace as ws
from lab.data.examples import Example, conversation, single_turn
from lab.data.sources import examples_from_upload, load_sample, read_examples, to_jsonl
from lab.errors import DataError


def roles(example):
    return [t.role for t in example.conversation.turns]


def test_a_new_workspace_starts_from_the_spanish_sample_and_saves_atomically(tmp_path):
    space = ws.Workspace(tmp_path)
    assert space.examples() == load_sample("spanish") and space.revision() == 0
    edited = edits.set_turn(space.examples(), 0, 1, content="can")
    space.save(edited, selected=3, source="sample:spanish")
    again = ws.Workspace(tmp_path)  # another process, or the app after a restart
    assert again.examples()[0].conversation.turns[1].content == "can"
    assert again.state() == ws.WorkspaceState(3, "sample:spanish")
    assert [p.name for p in (tmp_path / "workspace").iterdir()] in (
        ["examples.jsonl", "state.json"],
        ["state.json", "examples.jsonl"],
    )


def test_selection_is_clamped_to_the_set(tmp_path):
    space = ws.Workspace(tmp_path)
    space.save(load_sample("spanish")[:2], selected=7)
    assert space.state().selected == 1


def test_edits_return_new_lists_and_leave_their_input_alone():
    start = [single_turn("q", "a")]
    added = edits.add_turn(start, 0)
    assert roles(added[0]) == ["user", "assistant", "user"] and roles(start[0]) == ["user", "assistant"]
    assert roles(edits.add_turn(added, 0)[0])[-1] == "assistant"
    assert roles(edits.add_turn(start, 0, "system")[0]) == ["system", "user", "assistant"]  # it opens the talk
    assert roles(edits.move_turn(edits.add_turn(start, 0, "system"), 0, 2, -1)[0]) == ["system", "assistant", "user"]
    assert roles(edits.move_turn(start, 0, 0, -1)[0]) == ["user", "assistant"]  # at the top it stays
    assert roles(edits.delete_turn(start, 0, 0)[0]) == ["assistant"]
    assert edits.set_turn(start, 0, 0, role="system")[0].conversation.turns[0].role == "system"


def test_examples_are_inserted_moved_and_deleted():
    a, b = single_turn("a", "1"), single_turn("b", "2")
    assert edits.insert_example([a, b], 1, a) == [a, a, b]
    assert edits.insert_example([], 5)[0] == edits.blank_example()
    assert edits.move_example([a, b], 0, 1) == [b, a]
    assert edits.delete_example([a, b], 0) == [b]


def test_bad_edits_say_what_is_wrong():
    with pytest.raises(DataError, match="no turn 5"):
        edits.delete_turn([single_turn("q", "a")], 0, 5)
    with pytest.raises(DataError, match="unknown role 'robot'"):
        edits.set_turn([single_turn("q", "a")], 0, 0, role="robot")
    with pytest.raises(DataError, match="at least one turn"):
        edits.delete_turn([conversation(("user", "q"))], 0, 0)
    with pytest.raises(DataError, match="plain text"):
        edits.add_turn([Example(text="raw")], 0)
    with pytest.raises(DataError, match="already has a system turn"):
        edits.add_turn([single_turn("q", "a", system="s")], 0, "system")


def test_problems_name_empty_turns_and_a_missing_answer():
    assert edits.problems(single_turn("q", "a")) == []
    assert edits.problems(single_turn("q", " ")) == ["turn 1 (assistant) is empty"]
    assert edits.problems(conversation(("user", "q"))) == ["it has no assistant turn, so there is nothing to learn"]
    assert edits.problems(Example(text="")) == ["the text is empty"]


def test_uploads_in_the_wrong_shape_fail_in_one_sentence_naming_the_file():
    good = json.dumps({"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]})
    [example] = examples_from_upload("mine.jsonl", good.encode())
    assert example.conversation == single_turn("q", "a").conversation and example.source == "mine.jsonl line 1"
    with pytest.raises(DataError, match=r"^mine.jsonl line 1: not valid JSON"):
        examples_from_upload("mine.jsonl", b"{not json")
    with pytest.raises(DataError, match="mine.jsonl"):
        examples_from_upload("mine.jsonl", b'{"question": "q"}')
    with pytest.raises(DataError, match="unknown file type '.txt'"):
        examples_from_upload("mine.txt", b"hello")


def test_jsonl_download_reads_back_as_the_same_set(tmp_path):
    examples = load_sample("multiturn")
    (tmp_path / "out.jsonl").write_bytes(to_jsonl(examples))
    assert [e.conversation for e in read_examples(tmp_path / "out.jsonl")] == [e.conversation for e in examples]


def test_preview_is_the_first_user_turn_on_one_line():
    assert (
        edits.preview(conversation(("system", "sys"), ("user", "hello\n  there"), ("assistant", "x"))) == "hello there"
    )
    assert edits.preview(single_turn("x" * 100, "a"), width=10) == "x" * 9 + "…"
