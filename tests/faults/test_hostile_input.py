"""Hostile or broken input: text from users, files, models and templates is shown as text, never as markdown
that loads something; a lone surrogate, a template that raises and a mistyped command are each one sentence
that names the real cause."""

import json
import shutil

import pytest

from lab.data import Workspace, load_sample, single_turn
from lab.data.sources import read_examples
from lab.errors import DataError
from lab.train import RunConfig, RunStore
from tests.app.conftest import open_app
from tests.cli.conftest import run_cli
from tests.conftest import SEED
from tests.train.test_store import wait_for

IMAGE = "![x](https://host.example/x.png)"  # markdown that would make every viewer's browser fetch a URL
SURROGATE_ROW = b'{"messages": [{"role": "user", "content": "hi \\ud800"}, {"role": "assistant", "content": "ok"}]}\n'


def shown(at) -> list[str]:
    """The markdown source of every element that renders markdown (and expander labels, which do too)."""
    kinds = ("markdown", "caption", "error", "warning", "info", "success", "title", "subheader")
    return [e.value for kind in kinds for e in getattr(at, kind)] + [e.label for e in at.expander]


def assert_shown_as_text(at, *must_appear: str) -> None:
    assert not at.exception
    texts = shown(at)
    assert not [t for t in texts if "![x](" in t], "user text rendered as markdown"
    for fragment in must_appear:  # the escaped text is there: the message was shown, not dropped
        assert any(fragment in t for t in texts), (fragment, texts)


@pytest.fixture
def template_that_raises(tiny_model_dir, tmp_path):
    """The tiny model with a chat template that raises, with markdown in its message."""
    folder = tmp_path / "raising"
    shutil.copytree(tiny_model_dir, folder)
    config = json.loads((folder / "tokenizer_config.json").read_text())
    config["chat_template"] = "{{ raise_exception('this template refuses: " + IMAGE + "') }}"
    (folder / "tokenizer_config.json").write_text(json.dumps(config))
    (folder / "chat_template.jinja").unlink(missing_ok=True)
    return folder


def test_a_model_reference_and_an_upload_name_are_shown_as_text(app_home):
    at = open_app()
    at.text_input(key="model_input").input(IMAGE).run()
    assert_shown_as_text(at, "Could not load")
    at.file_uploader[0].set_value((f"{IMAGE}.jsonl", b'{"question": "q"}\n', "application/jsonl")).run()
    {b.label: b for b in at.button}["Yes, replace with the file"].click().run()
    assert_shown_as_text(at, "The current set is unchanged")


def test_a_model_folder_named_in_markdown_is_a_title_of_text_on_templates_side_by_side(app_home, tiny_model_dir):
    """Its subheader was markdown: a folder named `![x](x.png)` became an image the browser fetched."""
    folder = app_home.parent / "![x](x.png)"
    shutil.copytree(tiny_model_dir, folder)
    at = open_app()
    at.text_input(key="model_input").input(str(folder)).run()
    at.switch_page("app_pages/side_by_side.py").run()
    assert any("\\!\\[x\\]\\(x\\.png\\)" in t for t in shown(at))  # the folder's name, drawn escaped
    assert_shown_as_text(at)


def test_a_runs_error_is_shown_as_text(app_home, tiny_model_dir):
    store = RunStore(app_home)
    run_id = store.create(RunConfig(**SEED, model=str(tiny_model_dir)), load_sample("spanish"))
    store.set_status(run_id, "failed", f"ValueError: {IMAGE}")
    at = open_app("app_pages/train.py", train_selected_run=run_id)
    assert_shown_as_text(at, "ValueError")


def test_a_template_that_raises_is_blamed_by_tokens_ratio_and_training(app_home, template_that_raises):
    state = {"model_input": str(template_that_raises), "format": "chat-template"}
    tokens = open_app("app_pages/tokens.py", **state)
    assert_shown_as_text(tokens, "chat template cannot render this conversation: this template refuses")
    ratio = open_app("app_pages/ratio.py", **state)
    assert_shown_as_text(ratio, "no example could be counted: every one cannot be rendered: the chat template")
    train = open_app("app_pages/train.py", **state)
    {b.label: b for b in train.button}["Train"].click().run()
    store = RunStore(app_home)
    wait_for(lambda: store.list() and not store.list()[0].active)
    run = store.list()[0]
    assert run.status == "failed"
    assert run.message == (
        "no example can be rendered in the chat-template format: the chat template cannot render this "
        f"conversation: this template refuses: {IMAGE}"
    )
    train.run()
    assert_shown_as_text(train, r"no example can be rendered in the chat\-template format")


def test_a_lone_surrogate_in_an_upload_is_one_sentence_in_the_page_and_the_cli(app_home, tmp_path):
    kept = Workspace(app_home).examples()
    at = open_app()
    at.file_uploader[0].set_value(("broken.jsonl", SURROGATE_ROW, "application/jsonl")).run()
    {b.label: b for b in at.button}["Yes, replace with the file"].click().run()
    assert_shown_as_text(at, "half of a UTF\\-16 surrogate pair")
    assert Workspace(app_home).examples() == kept

    path = tmp_path / "broken.jsonl"
    path.write_bytes(SURROGATE_ROW)
    with pytest.raises(DataError, match=r"^broken.jsonl line 1: holds \\ud800, half of a UTF-16 surrogate pair"):
        read_examples(path)
    for command in (["check", str(path)], ["ratio", str(path)], ["train", "--data", str(path)]):
        refused = run_cli(*command, env={"SFT_LAB_HOME": str(app_home)})
        assert refused.returncode == 2 and refused.stdout == ""
        assert refused.stderr.startswith("error: broken.jsonl line 1: holds \\ud800")
        assert refused.stderr.count("\n") == 1


@pytest.mark.parametrize(
    "args, said",
    [
        (["runs", "--bogus"], "error: unrecognized arguments: --bogus (see `python -m lab --help`)"),
        ([], "error: the following arguments are required: command (see `python -m lab --help`)"),
        (["train"], "error: the following arguments are required: --data (see `python -m lab train --help`)"),
    ],
)
def test_a_mistyped_command_names_the_program_once(args, said):
    refused = run_cli(*args)
    assert (refused.returncode, refused.stderr) == (2, said + "\n")


def test_a_right_to_left_override_is_written_out_in_the_picker(app_home):
    """U+202E would show the rest of the label reversed ("olleh" for "hello"): the picker writes it out."""
    Workspace(app_home).save(load_sample("spanish") + [single_turn("evil \u202eolleh", "ok")])
    at = open_app()
    options = next(s for s in at.selectbox if s.label == "Example").options
    assert options[-1] == "#5 · evil ⟨U+202E⟩olleh" and not any("\u202e" in o for o in options)
