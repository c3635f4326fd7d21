"""The saved workspace and the edits on it: pure functions, atomic saves, uploads that fail in words."""

import json

import pytest

from lab import common as ws_common
from lab.data import edits
from lab.data import workspace as ws
from lab.data.examples import Example, conversation, single_turn
from lab.data.sources import examples_from_upload, load_sample, read_examples, to_jsonl
from lab.errors import DataError


def roles(example):
    return [t.role for t in example.conversation.turns]


def test_a_new_workspace_starts_from_the_spanish_sample_and_saves_atomically(tmp_path):
    space = ws.Workspace(tmp_path)
    assert space.examples() == load_sample("spanish") and space.revision() == ()
    edited = edits.set_turn(space.examples(), 0, 1, content="can")
    space.save(edited, source="sample:spanish")
    again = ws.Workspace(tmp_path)  # another process, or the app after a restart
    assert again.examples()[0].conversation.turns[1].content == "can"
    assert [e.uid for e in again.examples()] == [e.uid for e in space.examples()]  # identities are kept
    assert again.state() == ws.WorkspaceState("sample:spanish")
    assert sorted(p.name for p in (tmp_path / "workspace").iterdir()) == ["examples.jsonl", "state.json"]


def test_a_save_that_dies_before_its_rename_leaves_the_saved_set_whole(tmp_path, monkeypatch):
    """A crash between writing the new file and renaming it over the old (here: the rename raises, as a kill
    at that instant would leave it): the saved set is the old one, whole, and no temporary file is left."""
    space = ws.Workspace(tmp_path)
    space.save(load_sample("spanish"), source="sample:spanish")
    before = (tmp_path / "workspace" / "examples.jsonl").read_bytes()

    def killed(*args):
        raise KeyboardInterrupt  # what a signal delivered mid-save raises

    monkeypatch.setattr(ws_common.os, "replace", killed)
    with pytest.raises(KeyboardInterrupt):
        space.save(edits.set_turn(space.examples(), 0, 1, content="half-written"), source="sample:spanish")
    monkeypatch.undo()
    assert (tmp_path / "workspace" / "examples.jsonl").read_bytes() == before
    assert sorted(p.name for p in (tmp_path / "workspace").iterdir()) == ["examples.jsonl", "state.json"]
    assert ws.Workspace(tmp_path).examples()[0].conversation.turns[1].content == "perro"


def test_a_set_saved_without_identities_gets_them_once_for_everyone(tmp_path):
    (tmp_path / "workspace").mkdir()
    (tmp_path / "workspace" / "examples.jsonl").write_bytes(to_jsonl(load_sample("spanish")))
    first, second = ws.Workspace(tmp_path), ws.Workspace(tmp_path)
    uids = [e.uid for e in first.examples()]
    assert len(set(uids)) == 5 and all(uids) and [e.uid for e in second.examples()] == uids
    rows = [json.loads(line) for line in (tmp_path / "workspace" / "examples.jsonl").read_text().splitlines()]
    assert [r["id"] for r in rows] == uids
    assert b'"id"' not in to_jsonl(first.examples())  # a download is the plain shape


def test_an_edit_lands_on_its_example_wherever_another_tab_moved_it(tmp_path):
    space = ws.Workspace(tmp_path)
    examples = space.save(load_sample("spanish"))
    water = examples[1]
    seen_water = ws.seen(water, turn=1)
    space.change(ws.seen(water), lambda rows, at: edits.move_example(rows, at, -1), strict=False)  # tab B: up
    notice = space.change(seen_water, lambda rows, at: edits.set_turn(rows, at, 1, content="el agua"))  # tab A
    assert notice is None
    assert [t.content for t in space.examples()[0].conversation.turns] == [
        'How do you say "water" in Spanish?',
        "el agua",
    ]
    assert space.examples()[1].conversation.turns[1].content == "perro"  # the example now at #1 is untouched


def test_a_stale_edit_is_refused_and_the_newer_text_kept(tmp_path):
    space = ws.Workspace(tmp_path)
    dog = space.save(load_sample("spanish"))[0]
    before = ws.seen(dog)
    space.change(ws.seen(dog, turn=1), lambda rows, at: edits.set_turn(rows, at, 1, content="el perro"))
    with pytest.raises(ws.StaleEdit, match="changed in another tab since you opened it"):
        space.change(before, lambda rows, at: edits.delete_turn(rows, at, 1))  # made on the old text
    assert space.examples()[0].conversation.turns[1].content == "el perro"
    deleted = space.change(before, edits.delete_example, strict=False) is None
    assert deleted and len(space.examples()) == 4
    with pytest.raises(ws.StaleEdit, match="was deleted in another tab"):
        space.change(ws.seen(dog, turn=1), lambda rows, at: edits.set_turn(rows, at, 1, content="x"))


def test_two_tabs_typing_into_one_turn_the_later_wins_and_is_told(tmp_path):
    space = ws.Workspace(tmp_path)
    dog = space.save(load_sample("spanish"))[0]
    both = ws.seen(dog, turn=1)
    assert space.change(both, lambda rows, at: edits.set_turn(rows, at, 1, content="can")) is None
    notice = space.change(both, lambda rows, at: edits.set_turn(rows, at, 1, content="chucho"))
    assert notice == "another tab had changed this text since you opened it; yours replaced it"
    assert space.examples()[0].conversation.turns[1].content == "chucho"


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


def test_a_workspace_that_cannot_be_written_says_so_and_keeps_the_set(tmp_path, monkeypatch):
    """An edit into an unwritable workspace was a PermissionError traceback: now one sentence, nothing changed.
    (The tests run as root, whom permissions do not stop: a file where the folder should be stops anyone.)"""
    space = ws.Workspace(tmp_path)
    saved = space.save(load_sample("spanish"))

    def refused(path, text):
        raise PermissionError(13, "Permission denied", str(path))

    with monkeypatch.context() as m:  # what the kernel answers a user whose folder turned read-only
        m.setattr(ws, "atomic_write_text", refused)
        with pytest.raises(DataError) as said:
            space.change(ws.seen(saved[0]), lambda rows, at: edits.delete_example(rows, at))
        assert str(said.value).endswith("(Permission denied); nothing was changed")
    assert space.examples() == saved
    space.folder.rename(tmp_path / "moved")
    space.folder.write_text("not a folder")
    with pytest.raises(DataError, match="the set cannot be saved"):
        space.save(load_sample("spanish"))


SCRIPT = """
import sys
from lab.data import edits
from lab.data.examples import single_turn
from lab.data.workspace import Workspace, seen

space = Workspace(sys.argv[1])
for k in range(int(sys.argv[3])):
    first = space.examples()[0]
    added = single_turn(f"{sys.argv[2]} {k}", "ok")
    space.change(seen(first), lambda rows, at, e=added: edits.insert_example(rows, len(rows), e), strict=False)
"""


def test_two_processes_on_one_home_lose_no_edit(tmp_path):
    """Two servers (or the app and a script) on one home: each read-change-write holds a lock on a file, so no
    process writes over an edit it did not read (before: an example's text went back an edit)."""
    import subprocess
    import sys

    space = ws.Workspace(tmp_path)
    space.save(load_sample("spanish"))
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", SCRIPT, str(tmp_path), name, "300"], cwd=ws_common.Path(__file__).parents[2]
        )
        for name in ("left", "right")
    ]
    assert [p.wait(timeout=120) for p in procs] == [0, 0]
    questions = [e.conversation.turns[0].content for e in ws.Workspace(tmp_path).examples()[5:]]
    assert sorted(questions) == sorted(f"{name} {k}" for name in ("left", "right") for k in range(300))
