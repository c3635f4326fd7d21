"""Examples: the dataset every page uses, edited turn by turn, and the text the chosen format makes of it."""

import streamlit as st

import app_state
from lab.common import SAMPLE_PREFIX
from lab.data import ROLES, edits, examples_from_upload, load_sample, sample_names, to_jsonl
from lab.errors import LabError
from lab.labels import render
from lab.views import rendered_text, role_legend

ws = app_state.workspace()
FLASH, ERROR = "examples_flash", "examples_error"


def apply(edit, *args, selected=None, source=None, said=None):
    """Apply an edit to the saved set, re-read now so that edits made in one run stack up."""
    try:
        ws.save(edit(ws.examples(), *args), selected=selected, source=source)
        if said:
            st.session_state[FLASH] = said
    except LabError as e:
        st.session_state[ERROR] = f"{e}. Nothing was changed."


def edit_from_widget(edit, key, *args, **kwargs):
    apply(edit, *args, st.session_state[key], **kwargs)


def load(new, source, how):
    current = ws.examples()
    rows = new if how == "replace" else current + new
    ws.save(rows, selected=0 if how == "replace" else len(current), source=source if how == "replace" else None)
    noun = "example" if len(new) == 1 else "examples"
    st.session_state[FLASH] = f"{'Loaded' if how == 'replace' else 'Appended'} {len(new)} {noun} from {source}."


st.title("Examples")
tokenizer = app_state.tokenizer()
examples, state = ws.examples(), ws.state()
st.caption(
    f"{len(examples)} examples, first from `{state.source}`. Every page uses this set; it is saved as you "
    f"edit, in `{ws.examples_path}`. Examples are numbered from 0, as `python -m lab check` numbers them."
)
for key, show in ((FLASH, st.success), (ERROR, st.error)):
    if key in st.session_state:
        show(st.session_state.pop(key))

upload_error = None
with st.expander("Start from a built-in sample or a file, or download the set"):
    left, middle, right = st.columns(3)
    names = sample_names()
    current = state.source.removeprefix(SAMPLE_PREFIX)
    name = left.selectbox(
        "Built-in sample set",
        names,
        index=names.index(current) if current in names else 0,
        help=(
            "spanish: the seed's five words · spanish_heldout: one word kept out · multiturn: conversations · "
            "reading: long passages with one-letter answers · explain: short questions, long answers"
        ),
    )
    with left.popover("Replace the current set with it"):
        st.write(
            f"Replace the {len(examples)} examples of the current set with `{SAMPLE_PREFIX}{name}`? Download "
            "the current set first to keep it."
        )
        if st.button("Yes, replace the set", type="primary"):
            load(load_sample(name), f"{SAMPLE_PREFIX}{name}", "replace")
            st.rerun()
    upload = middle.file_uploader(
        "A file of your own",
        type=["jsonl", "json", "csv", "parquet"],
        help=("Rows with `messages` (role/content list), `prompt` + `completion`, or `text`."),
    )
    if upload is not None:
        replace, append = middle.columns(2)
        how = "append" if append.button("Append it") else None
        with replace.popover("Replace with it"):
            st.write(f"Replace the {len(examples)} examples of the current set with those of the file?")
            if st.button("Yes, replace with the file", type="primary"):
                how = "replace"
        if how:
            try:
                load(examples_from_upload(upload.name, upload.getvalue()), upload.name, how)
                st.rerun()
            except LabError as e:
                upload_error = f"{e}. The current set is unchanged."
    right.download_button(
        "Download as JSONL", to_jsonl(examples), file_name="sft-lab-examples.jsonl", mime="application/jsonl"
    )
if upload_error:
    st.error(upload_error)

if not examples:
    st.info("The set is empty: add an example or load a sample set above.")
    st.button("New example", on_click=apply, args=(edits.insert_example, 0), kwargs={"selected": 0})
    st.stop()

i = app_state.example_picker(examples)
example, last = examples[i], len(examples) - 1
buttons = st.columns(5)
buttons[0].button(
    "New example",
    on_click=apply,
    args=(edits.insert_example, i + 1),
    kwargs={"selected": i + 1},
    help="A blank user/assistant pair after this one",
)
buttons[1].button("Duplicate", on_click=apply, args=(edits.insert_example, i + 1, example), kwargs={"selected": i + 1})
buttons[2].button(
    "Move up", on_click=apply, args=(edits.move_example, i, -1), kwargs={"selected": max(i - 1, 0)}, disabled=i == 0
)
buttons[3].button(
    "Move down",
    on_click=apply,
    args=(edits.move_example, i, 1),
    kwargs={"selected": min(i + 1, last)},
    disabled=i == last,
)
buttons[4].button(
    "Delete example",
    on_click=apply,
    args=(edits.delete_example, i),
    kwargs={"selected": max(i - 1, 0), "said": f"Deleted example #{i}."},
)

revision = ws.revision()  # in widget keys: after any saved edit the widgets show what is on disk
if example.conversation is None:
    key = f"text-{i}-{revision}"
    st.text_area(
        "Plain text (no roles: every strategy sees one stretch of text)",
        example.text or "",
        key=key,
        height=200,
        on_change=edit_from_widget,
        args=(edits.set_text, key, i),
    )
else:
    turns = example.conversation.turns
    for t, turn in enumerate(turns):
        role_col, text_col, up_col, down_col, delete_col = st.columns(
            [2.1, 8, 0.7, 0.7, 0.7], vertical_alignment="center"
        )
        role_key, text_key = f"role-{i}-{t}-{revision}", f"content-{i}-{t}-{revision}"
        role_col.selectbox(
            f"Turn {t}",
            ROLES,
            index=ROLES.index(turn.role),
            key=role_key,
            on_change=lambda k=role_key, t=t: apply(edits.set_turn, i, t, st.session_state[k]),
        )
        lines = turn.content.count("\n") + 1 + len(turn.content) // 100
        text_col.text_area(
            f"Content of turn {t} ({turn.role})",
            turn.content,
            key=text_key,
            height=min(68 + 22 * lines, 320),
            on_change=lambda k=text_key, t=t: apply(edits.set_turn, i, t, None, st.session_state[k]),
        )
        up_col.button(
            "↑",
            key=f"up-{i}-{t}-{revision}",
            help="Move this turn up",
            disabled=t == 0,
            on_click=apply,
            args=(edits.move_turn, i, t, -1),
        )
        down_col.button(
            "↓",
            key=f"down-{i}-{t}-{revision}",
            help="Move this turn down",
            disabled=t == len(turns) - 1,
            on_click=apply,
            args=(edits.move_turn, i, t, 1),
        )
        delete_col.button(
            "✕", key=f"del-{i}-{t}-{revision}", help="Delete this turn", on_click=apply, args=(edits.delete_turn, i, t)
        )
    adders = st.columns(4)
    for column, role in zip(adders, ("user", "assistant", "system")):
        article = "an" if role == "assistant" else "a"
        column.button(
            f"Add {article} {role} turn",
            key=f"add-{role}-{i}-{revision}",
            on_click=apply,
            args=(edits.add_turn, i, role),
            help="A system turn opens the conversation" if role == "system" else None,
        )

for problem in edits.problems(example):
    st.warning(f"Example #{i}: {problem}.")
others = [(k, p) for k, ex in enumerate(examples) if k != i for p in edits.problems(ex)]
if others:
    with st.expander(f"{len({k for k, _ in others})} other examples have problems"):
        st.markdown("\n".join(f"- #{k}: {p}" for k, p in others[:200]))

st.subheader(f"What the model reads · {app_state.fmt()}")
try:
    rendered = render(example, tokenizer, app_state.fmt())
except LabError as e:
    st.error(f"This example cannot be rendered in the {app_state.fmt()} format: {e}")
else:
    st.html(role_legend() + rendered_text(rendered))
    for note in rendered.notes:
        st.info(note)
