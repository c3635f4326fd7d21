"""AppTest of the shell and the first two pages: they run, share the sidebar, keep edits on disk."""

from lab.data import Workspace, conversation, load_sample, single_turn
from lab.labels import visible
from tests.app.conftest import html_of, open_app
from tests.conftest import chip_texts, plain

TOKENS = "app_pages/tokens.py"
CLASSIC = {"format": "classic"}  # seed 000's rendering, which these tests read


def test_examples_page_is_the_default_and_renders_the_selected_example(app_home):
    at = open_app(query=CLASSIC)
    assert not at.exception
    assert at.title[0].value == "Examples"
    turns = [t.value for t in at.text_area if t.label.startswith("Content of turn")]
    assert turns == ['How do you say "dog" in Spanish?', "perro"]
    assert [t.value for t in at.text_area if "tool schemas" in t.label] == [""]  # the row's tools: none
    view = html_of(at)
    assert "Human:" in view and 'class="sl-role-assistant sl-kind-special">&lt;|im_start|&gt;' in view


def test_tokens_page_labels_every_strategy_in_both_formats(app_home):
    at = open_app(TOKENS, query=CLASSIC)
    assert not at.exception
    assert at.title[0].value == "Tokens & labels"
    table = at.dataframe[0].value
    assert (
        list(table["strategy"])
        == "copy special-mask response-template trl-completion trl-assistant prompt-weight".split()
    )
    assert list(table["tokens trained"]) == ["23", "3", "3", "3", "n/a", "23"]
    assert 'title="position 21 · id' in html_of(at)
    at.radio(key="format").set_value("chat-template").run()
    assert not at.exception
    assert "<|im_start|>assistant" not in html_of(at)  # chips show visible pieces, escaped
    assert "&lt;|im_start|&gt;" in html_of(at)


def test_prompt_weight_slider_changes_the_weight_row_and_the_share(app_home):
    at = open_app(TOKENS)
    shares = dict(zip(at.dataframe[0].value["strategy"], at.dataframe[0].value["prompt share of loss"]))
    at.slider[0].set_value(1.0).run()
    after = dict(zip(at.dataframe[0].value["strategy"], at.dataframe[0].value["prompt share of loss"]))
    assert after["prompt-weight"] == after["copy"] > shares["prompt-weight"]
    at.slider[0].set_value(0.0).run()
    assert (
        dict(zip(at.dataframe[0].value["strategy"], at.dataframe[0].value["prompt share of loss"]))["prompt-weight"]
        == 0
    )


def test_an_edit_is_saved_and_survives_a_new_session(app_home, tokenizer):
    def answer_chips(word: str) -> list[str]:  # the answer's tokens as chips show them, then the eos
        return [visible(tokenizer.decode([t])) for t in tokenizer.encode(" " + word)] + ["<|im_end|>"]

    before = chip_texts(html_of(open_app(TOKENS, query=CLASSIC)))
    assert before[-3:] == answer_chips("perro") == ["·per", "ro", "<|im_end|>"]
    at = open_app()
    at.text_area[1].input("gato").run()
    assert not at.exception
    assert Workspace(app_home).examples()[0].conversation.turns[1].content == "gato"
    after = chip_texts(html_of(open_app(TOKENS, query=CLASSIC)))  # a browser refresh is a new session
    gato = answer_chips("gato")
    assert after[-len(gato) :] == gato and after[: -len(gato)] == before[:-3]


def test_turns_and_examples_can_be_added_moved_and_deleted(app_home):
    at = open_app()
    by_label = {b.label: b for b in at.button}
    by_label["Add a system turn"].click().run()
    assert [t.role for t in Workspace(app_home).examples()[0].conversation.turns] == ["system", "user", "assistant"]
    [b for b in at.button if b.label == "↑"][-1].click().run()
    assert [t.role for t in Workspace(app_home).examples()[0].conversation.turns] == ["system", "assistant", "user"]
    [b for b in at.button if b.label == "✕"][0].click().run()
    assert [t.role for t in Workspace(app_home).examples()[0].conversation.turns] == ["assistant", "user"]
    [b for b in at.button if b.label == "↓"][0].click().run()
    assert [t.role for t in Workspace(app_home).examples()[0].conversation.turns] == ["user", "assistant"]
    {b.label: b for b in at.button}["New example"].click().run()
    saved = Workspace(app_home)
    assert len(saved.examples()) == 6 and at.session_state["picked_uid"] == saved.examples()[1].uid
    assert [t.content for t in saved.examples()[1].conversation.turns] == ["", ""]
    assert any("turn 0 (user) is empty" in plain(w.value) for w in at.warning)
    {b.label: b for b in at.button}["Delete example"].click().run()
    assert len(Workspace(app_home).examples()) == 5
    assert not at.exception


def test_a_conversation_without_an_answer_is_named_and_kept(app_home):
    Workspace(app_home).save([conversation(("user", "only a question"))])
    at = open_app()
    assert any("no assistant turn" in w.value for w in at.warning)
    tokens = open_app(TOKENS)
    assert not tokens.exception
    assert "has no assistant turn: nothing to learn" in html_of(tokens)
    assert Workspace(app_home).examples()[0].conversation.turns[0].content == "only a question"


def test_a_bad_model_reference_says_so_and_keeps_the_old_model(app_home):
    at = open_app()
    at.text_input(key="model_input").input("no-such-owner/no-such-model").run()
    assert not at.exception
    assert any(
        "Could not load 'no-such-owner/no-such-model'" in plain(e.value)
        and "Still using smollm2-135m-instruct" in plain(e.value)
        for e in at.error
    )
    assert at.text_input(key="model_input").value == "smollm2-135m-instruct"
    at.switch_page(TOKENS).run()
    assert not at.exception and not at.error
    assert len(at.dataframe[0].value) == 6  # the pages go on with the old model


def test_user_text_reaches_the_page_only_escaped(app_home):
    attack = "<script>alert(1)</script> <img src=x onerror=alert(1)>"
    Workspace(app_home).save([single_turn(attack, attack)])
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html_of(open_app())
    for page in (None, TOKENS):
        view = html_of(open_app(page))
        assert "<script>alert" not in view and "<img src=x" not in view
        assert "&lt;" in view and "script" in view


def test_an_upload_in_the_wrong_shape_is_refused_and_the_set_is_kept(app_home):
    at = open_app()
    at.file_uploader[0].set_value(("questions.jsonl", b'{"question": "q", "answer": "a"}\n', "application/jsonl"))
    at.run()
    {b.label: b for b in at.button}["Yes, replace with the file"].click().run()
    assert not at.exception
    assert any(
        "questions.jsonl line 1" in plain(e.value) and "The current set is unchanged" in plain(e.value)
        for e in at.error
    )
    assert len(Workspace(app_home).examples()) == 5


def test_a_good_upload_is_appended(app_home):
    row = b'{"prompt": "Say cat in Spanish.", "completion": "gato"}\n'
    at = open_app()
    at.file_uploader[0].set_value(("mine.jsonl", row, "application/jsonl"))
    at.run()
    {b.label: b for b in at.button}["Append it"].click().run()
    saved = Workspace(app_home)
    assert len(saved.examples()) == 6 and at.session_state["picked_uid"] == saved.examples()[5].uid
    assert [t.content for t in saved.examples()[5].conversation.turns] == ["Say cat in Spanish.", "gato"]
    assert any("Appended 1 example from mine.jsonl" in plain(s.value) for s in at.success)


def test_a_refresh_keeps_the_format_w_the_model_and_the_new_runs_examples(app_home, tiny_model_dir):
    """Each choice is kept in the URL; a refresh (a new session with the same URL) gets every one back."""
    at = open_app(TOKENS, model_input=str(tiny_model_dir))
    at.radio(key="format").set_value("chat-template").run()
    at.slider(key="prompt_weight").set_value(0.4).run()
    at.switch_page("app_pages/train.py").run()
    at.multiselect(key="new_run_examples").set_value([1, 3]).run()
    at.switch_page(TOKENS).run()  # Streamlit clears the URL's parameters on a page change
    url = dict(at.query_params)
    assert url.pop("example") == Workspace(app_home).examples()[0].uid  # this tab's example, by identity
    assert url == {
        "model": str(tiny_model_dir),
        "format": "chat-template",
        "template": "model",
        "w": "0.4",
        "examples": "1,3",
        "projector": "0",
    }

    refreshed = open_app(TOKENS, query=url)
    assert not refreshed.exception
    assert refreshed.radio(key="format").value == "chat-template"
    assert refreshed.slider(key="prompt_weight").value == 0.4
    assert refreshed.text_input(key="model_input").value == str(tiny_model_dir)
    refreshed.switch_page("app_pages/train.py").run()
    assert refreshed.multiselect(key="new_run_examples").value == [1, 3]


def test_a_url_typed_by_hand_cannot_break_a_page(app_home):
    at = open_app(TOKENS, query={"format": "markdown", "w": "lots", "examples": "1,x", "projector": "maybe"})
    assert not at.exception
    assert at.radio(key="format").value == "as-written" and at.slider(key="prompt_weight").value == 0.1


def test_the_sample_box_shows_the_sets_sample_and_replacing_asks_first(app_home):
    Workspace(app_home).save(load_sample("multiturn"), source="sample:multiturn")
    at = open_app()
    box = {s.label: s for s in at.selectbox}["Built-in sample set"]
    assert box.value == "multiturn"  # not the first name in the list
    box.set_value("spanish").run()
    question = [m.value for m in at.markdown if m.value.startswith("Replace the")]
    assert question == [
        "Replace the 5 examples of the current set with `sample:spanish`? Download the current set first to keep it."
    ]
    assert Workspace(app_home).state().source == "sample:multiturn"  # asking replaced nothing
    {b.label: b for b in at.button}["Yes, replace the set"].click().run()
    assert Workspace(app_home).state().source == "sample:spanish" and len(Workspace(app_home).examples()) == 5
    assert Workspace(app_home).examples()[0].conversation.turns[1].content == "perro"


def test_a_trl_template_picked_in_the_sidebar_shows_its_chips_and_audit(app_home, tokenizer):
    from lab.labels import label_example, tokenize_example
    from lab.labels.audit import audit
    from lab.labels.templates import with_template

    at = open_app(TOKENS, query={"template": "gemma3"})
    assert not at.exception and at.selectbox(key="template").value == "gemma3"
    page = html_of(at)
    gemma = with_template(tokenizer, "gemma3")
    item = tokenize_example(Workspace(app_home).examples()[0], gemma, "as-written")
    assert chip_texts(page)[: len(item.encoded)] == [visible(p) for p in item.encoded.pieces]
    assert "&lt;end_of_turn&gt;" in page
    expected = {n.code for n in audit(item, label_example(item, gemma)["trl-completion"], gemma)}
    assert "stop-token-not-eos" in expected
    for code in expected:
        assert f"✗ {code}" in page
    assert "✓ double-bos" in page
    assert any("lacks 2 control tokens of the `gemma3` template" in plain(i.value) for i in at.info)


def test_templates_side_by_side_shows_each_template_and_says_what_it_cannot(app_home):
    Workspace(app_home).save([load_sample("multiturn")[1], single_turn("2+2?", "4")])
    at = open_app("app_pages/side_by_side.py")
    assert not at.exception
    table = at.dataframe[0].value
    assert list(table["template"]) == ["model", "gemma3", "llama3_1", "qwen3", "gptoss"]
    assert list(table["answers end with"]) == [
        "<|im_end|>",
        "<end_of_turn>",
        "<|eot_id|>",
        "<|im_end|>",
        "<|end|>, <|return|>",
    ]
    assert "stop-token-not-eos" in table["audit"][1]
    titles = [plain(s.value) for s in at.subheader]  # escaped markdown: a model's name is text
    assert titles == ["model (smollm2-135m-instruct)", "gemma3", "llama3_1", "qwen3", "gptoss"]
    at.selectbox(key="side_strategy").set_value("trl-assistant").run()
    table = at.dataframe[0].value
    assert table["trained"][0] is None or table["trained"].isna()[0]  # SmolLM2's template: no training version
    assert "no {% generation %} markers" in table["note"][0]
    at.multiselect(key="side_templates").set_value(["gemma"]).run()
    assert not at.exception
    assert "System role not supported" in at.warning[0].value
