"""Examples: the dataset every page uses, edited turn by turn, and the text the chosen format makes of it."""

import hashlib
from dataclasses import replace

import streamlit as st

import app_fields
import app_state
from lab.common import SAMPLE_PREFIX
from lab.data import ROLES, edits, load_sample, sample_names, to_jsonl
from lab.data.markers import split_classic_text
from lab.data.sources import EDITOR_LIMIT, conversions, sampled_upload
from lab.data.workspace import Seen, StaleEdit, new_identity, seen
from lab.errors import LabError
from lab.labels import render
from lab.views import rendered_text, role_legend

ws = app_state.workspace()
FLASH, NOTICE, ERROR = "examples_flash", "examples_notice", "examples_error"


def change(before: Seen, edit, strict: bool = True, select: str | None = None, said: str | None = None):
    """Apply an edit to the example the person saw, wherever it now is; a stale one is refused in words."""
    try:
        notice = ws.change(before, edit, strict=strict)
    except StaleEdit as e:
        st.session_state[ERROR] = f"{e}."
        return
    except LabError as e:
        st.session_state[ERROR] = f"{e}. Nothing was changed."
        return
    if select:
        st.session_state[app_state.PICKED_UID] = select
    if notice:
        st.session_state[NOTICE] = f"{notice[0].upper()}{notice[1:]}."
    if said:
        st.session_state[FLASH] = said


def typed(key: str, before: Seen, edit):
    """A text area's change: written only when it differs from what the person saw (a redrawn widget may
    report its unchanged text)."""
    if st.session_state[key] != before.text:
        change(before, lambda rows, at: edit(rows, at, st.session_state[key]))


def load(new, source, how, read: int | None = None):
    current = ws.examples()
    saved = ws.save(new if how == "replace" else current + new, source=source if how == "replace" else None)
    st.session_state[app_state.PICKED_UID] = saved[0 if how == "replace" else len(current)].uid
    noun = "example" if len(new) == 1 else "examples"
    said = f"{'Loaded' if how == 'replace' else 'Appended'} {len(new)} {noun} from {source}."
    if read and read > len(new):
        said += (
            f" The file holds {read:,} rows and the editor holds at most {EDITOR_LIMIT:,}: these are a uniform random "
            f"sample of them, in file order. Check the whole file with `python -m lab check {source}`."
        )
    said += "".join(f" Its rows were {c}." for c in conversions(new))
    st.session_state[FLASH] = said


st.title("Examples")
tokenizer = app_state.tokenizer()
examples, state = ws.examples(), ws.state()
st.caption(
    f"{len(examples)} examples, first from {app_state.markdown_text(state.source)}. Every page uses this set; "
    f"it is saved as you edit, in `{ws.examples_path}`. Examples are numbered from 0, as `python -m lab check` "
    "numbers them."
)
# One container, always drawn: a message that comes and goes must not move the widgets below it (an expander one
# place further down is a new expander to Streamlit, and closes).
with st.container():
    for key, show in ((FLASH, st.success), (NOTICE, st.warning), (ERROR, st.error)):
        if key in st.session_state:
            show(app_state.markdown_text(st.session_state.pop(key)))

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
            try:
                load(load_sample(name), f"{SAMPLE_PREFIX}{name}", "replace")
                st.rerun()
            except LabError as e:
                upload_error = f"{e}. The current set is unchanged."
    upload = middle.file_uploader(
        "A file of your own",
        type=["jsonl", "json", "csv", "parquet", "arrow"],
        help=(
            "Rows with `messages` (every key kept: tool calls, tool turns, reasoning, content parts, `tools`), "
            "`prompt` + `completion`, or `text`; ShareGPT (`conversations`) and Alpaca (`instruction`, `output`) "
            f"rows are converted to `messages`, and the page says how. At most {EDITOR_LIMIT:,} rows are edited: "
            "a larger file is sampled."
        ),
    )
    if upload is not None:
        replace_col, append = middle.columns(2)
        how = "append" if append.button("Append it") else None
        with replace_col.popover("Replace with it"):
            st.write(f"Replace the {len(examples)} examples of the current set with those of the file?")
            if st.button("Yes, replace with the file", type="primary"):
                how = "replace"
        if how:
            try:
                new, read = sampled_upload(upload.name, upload.getvalue())
                load(new, upload.name, how, read)
                st.rerun()
            except LabError as e:
                upload_error = f"{e}. The current set is unchanged."
    right.download_button(
        "Download as JSONL", to_jsonl(examples), file_name="sft-lab-examples.jsonl", mime="application/jsonl"
    )
if upload_error:
    st.error(app_state.markdown_text(upload_error))

if not examples:
    st.info("The set is empty: add an example or load a sample set above.")
    if st.button("New example"):
        ws.save([replace(edits.blank_example(), uid=new_identity())])
        st.rerun()
    st.stop()

i = app_state.example_picker(examples)
example, last = examples[i], len(examples) - 1
before = seen(example)
fresh = replace(edits.blank_example(), uid=new_identity())
copy = replace(example, uid=new_identity())
buttons = st.columns(5)
buttons[0].button(
    "New example",
    on_click=change,
    args=(before, lambda rows, at: edits.insert_example(rows, at + 1, fresh)),
    kwargs={"strict": False, "select": fresh.uid},
    help="A blank user/assistant pair after this one",
)
buttons[1].button(
    "Duplicate",
    on_click=change,
    args=(before, lambda rows, at: edits.insert_example(rows, at + 1, copy)),
    kwargs={"select": copy.uid},
)
buttons[2].button(
    "Move up",
    on_click=change,
    args=(before, lambda rows, at: edits.move_example(rows, at, -1)),
    kwargs={"strict": False},
    disabled=i == 0,
)
buttons[3].button(
    "Move down",
    on_click=change,
    args=(before, lambda rows, at: edits.move_example(rows, at, 1)),
    kwargs={"strict": False},
    disabled=i == last,
)
buttons[4].button(
    "Delete example",
    on_click=change,
    args=(before, edits.delete_example),
    kwargs={"select": examples[i - 1].uid if i else None, "said": f"Deleted example #{i}."},
)

version = f"{example.uid}-{hashlib.sha1(before.content.encode()).hexdigest()[:10]}"  # new widgets when it changes
if example.shape != "messages":
    st.caption(f"Row shape: **{example.shape}**, written back in that shape.")
if example.conversation is None:
    key = f"text-{version}"
    st.text_area(
        "Plain text (no roles: every strategy sees one stretch of text)",
        example.text or "",
        key=key,
        height=200,
        on_change=typed,
        args=(key, seen(example, 0), edits.set_text),
    )
    if split_classic_text(example.text or "") is not None:
        st.caption(
            "This text is trained as written. Its `### Human:` / `### Assistant:` markers colour the roles below, "
            "but no format is applied to it: a drifted marker stays drifted, as TRL would see it."
        )
        st.button(
            "Split into turns at the ### markers",
            on_click=change,
            args=(before, edits.text_to_turns),
            kwargs={"said": f"Example #{i} is now a conversation: the chosen format renders it."},
            help="Turn this text into a conversation (each turn trimmed). Its rendering then comes from the format.",
        )
else:
    turns = example.conversation.turns
    for t, turn in enumerate(turns):
        role_col, text_col, up_col, down_col, delete_col = st.columns(
            [2.1, 8, 0.7, 0.7, 0.7], vertical_alignment="center"
        )
        role_key, text_key = f"role-{version}-{t}", f"content-{version}-{t}"
        roles = ROLES if turn.role in ROLES else (*ROLES, turn.role)  # a row may write any role
        role_col.selectbox(
            f"Turn {t}",
            roles,
            index=roles.index(turn.role),
            key=role_key,
            on_change=lambda k=role_key, t=t, role=turn.role: (
                st.session_state[k] != role
                and change(before, lambda rows, at: edits.set_turn(rows, at, t, role=st.session_state[k]))
            ),
        )
        lines = turn.content.count("\n") + 1 + len(turn.content) // 100
        text_col.text_area(
            f"Content of turn {t} ({turn.role})",
            turn.content,
            key=text_key,
            height=min(68 + 22 * lines, 320),
            on_change=typed,
            args=(text_key, seen(example, t), lambda rows, at, text, t=t: edits.set_turn(rows, at, t, content=text)),
        )
        up_col.button(
            "↑",
            key=f"up-{version}-{t}",
            help="Move this turn up",
            disabled=t == 0,
            on_click=change,
            args=(before, lambda rows, at, t=t: edits.move_turn(rows, at, t, -1)),
        )
        down_col.button(
            "↓",
            key=f"down-{version}-{t}",
            help="Move this turn down",
            disabled=t == len(turns) - 1,
            on_click=change,
            args=(before, lambda rows, at, t=t: edits.move_turn(rows, at, t, 1)),
        )
        delete_col.button(
            "✕",
            key=f"del-{version}-{t}",
            help="Delete this turn",
            on_click=change,
            args=(before, lambda rows, at, t=t: edits.delete_turn(rows, at, t)),
        )
        app_fields.turn_fields(example, t, turn, version, before, change)
    adders = st.columns(4)
    for column, role in zip(adders, ("user", "assistant", "system", "tool")):
        article = "an" if role == "assistant" else "a"
        column.button(
            f"Add {article} {role} turn",
            key=f"add-{role}-{version}",
            on_click=change,
            args=(before, lambda rows, at, role=role: edits.add_turn(rows, at, role)),
            help={"system": "A system turn opens the conversation", "tool": "A tool's result, after a tool call"}.get(
                role
            ),
        )
    app_fields.row_tools(example, version, before, change)

for problem in edits.problems(example):
    st.warning(f"Example #{i}: {app_state.markdown_text(problem)}.")
others = [(k, p) for k, ex in enumerate(examples) if k != i for p in edits.problems(ex)]
if others:
    with st.expander(f"{len({k for k, _ in others})} other examples have problems"):
        st.markdown("\n".join(f"- #{k}: {app_state.markdown_text(p)}" for k, p in others[:200]))

st.subheader(f"What the model reads · {app_state.fmt()}")
try:
    rendered = render(example, tokenizer, app_state.fmt())
except LabError as e:
    st.error(f"This example cannot be rendered in the {app_state.fmt()} format: {app_state.markdown_text(str(e))}")
else:
    st.html(role_legend() + rendered_text(rendered))
    for note in rendered.notes:
        st.info(app_state.markdown_text(note))
