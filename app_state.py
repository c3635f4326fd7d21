"""The Streamlit glue every page shares: session keys, cached tokenizers and models, the workspace, the sidebar.

Models and tokenizers live in `st.cache_resource` (one copy per process, never in session state). The
sidebar is drawn by app.py on every run, so its widgets keep their values across pages.
"""

from __future__ import annotations

import hashlib
import os
import re

import pandas as pd
import streamlit as st

from lab.common import lab_home
from lab.data import Example, Workspace
from lab.data.edits import preview
from lab.errors import LabError
from lab.labels import FORMATS
from lab.labels.templates import MODEL_TEMPLATE, template_choices, with_template
from lab.labels.token_labels import prompt_weight_problem
from lab.models import (
    DEFAULT_MODEL,
    GEMMA,
    QUANTIZATIONS,
    SHIPPED,
    allow_local_folders,
    available_devices,
    load_model,
    load_tokenizer,
    model_config,
    model_vocab_size,
    plan,
    quantization_of,
    resolve,
    weight_bytes,
)
from lab.views.chips import PROJECTOR_CSS

MODEL = "model"  # the model in use (only ever one that loaded)
MODEL_INPUT = "model_input"  # what the person typed
MODEL_ERROR = "model_error"
MODEL_READY = "model_ready"  # the model in use has loaded in this session
DEVICE = "device"
FORMAT = "format"
TEMPLATE = "template"  # the chat template: the model's own or one of TRL's by name
TRUST_REMOTE_CODE = "trust_remote_code"
PROMPT_WEIGHT = "prompt_weight"
STRATEGY_CHOICE = "strategy_choice"
PICKED = "picked_example"  # the example picker's widget
PICKED_UID = "picked_uid"  # the identity of this tab's selected example
NEW_RUN_EXAMPLES = "new_run_examples"  # the examples the Train page's New run form trains on
PROJECTOR = "projector"  # larger text for a room

# Choices a refresh must not forget, kept in the page's URL (each tab its own), e.g. ?format=classic&w=0.1.
# Streamlit clears the URL's parameters when the page changes and drops a widget's state when its page is not
# shown, so each choice is also kept in the session and written back to the URL on every run.
IN_URL = {
    MODEL_INPUT: "model",
    FORMAT: "format",
    TEMPLATE: "template",
    PROMPT_WEIGHT: "w",
    NEW_RUN_EXAMPLES: "examples",
    PICKED_UID: "example",
    PROJECTOR: "projector",
}
KEPT = "kept_in_url"


@st.cache_resource(show_spinner=False)
def tokenizer_for(ref: str, trust_remote_code: bool = False):
    return load_tokenizer(ref, trust_remote_code)


@st.cache_resource(show_spinner=False)
def templated_tokenizer(ref: str, trust_remote_code: bool, name: str):
    """The model's tokenizer rendering with chat template `name` (a copy, cached, when it is one of TRL's)."""
    return with_template(tokenizer_for(ref, trust_remote_code), name)


@st.cache_resource(show_spinner=False)
def vocab_size_for(ref: str, trust_remote_code: bool = False) -> int | None:
    return model_vocab_size(ref, trust_remote_code)


@st.cache_resource(show_spinner=False)
def quantization_for(ref: str, trust_remote_code: bool = False) -> str | None:
    return quantization_of(ref, trust_remote_code)


@st.cache_data(show_spinner=False, max_entries=8)
def weight_bytes_for(ref: str, trust_remote_code: bool = False) -> dict[str, int] | None:
    """The model's weights in memory under each quantization (counted from its config), or None."""
    try:
        return {q: weight_bytes(ref, q, trust_remote_code) for q in QUANTIZATIONS}
    except LabError:  # no config, or one transformers cannot build empty: the page then offers no figures
        return None


@st.cache_data(show_spinner=False, max_entries=64)
def plan_for(ref: str, method: str, dtype: str, batch: int, seq: int, checkpointing: bool, memory: str, trust: bool):
    """The memory plan of fine-tuning `ref` by `method` (counted from its config: nothing is loaded)."""
    return plan(model_config(ref, trust), method, dtype, batch, seq, checkpointing, memory or None, name=ref)


@st.cache_resource(show_spinner=False, max_entries=2)
def model_for(ref: str, device: str, trust_remote_code: bool = False, max_memory: str | None = None):
    """A base model, whole on `device` or placed across devices by accelerate under `max_memory`."""
    return load_model(ref, device, trust_remote_code=trust_remote_code, max_memory=max_memory)


@st.cache_resource(show_spinner=False)
def _workspace(home: str) -> Workspace:
    return Workspace(home)


def workspace() -> Workspace:
    """The process's one Workspace for the current lab home (one object, so its lock is shared)."""
    return _workspace(str(lab_home()))


def model_ref() -> str:
    return st.session_state.get(MODEL, DEFAULT_MODEL)


def fmt() -> str:
    return st.session_state.get(FORMAT, FORMATS[0])


def template() -> str:
    return st.session_state.get(TEMPLATE, MODEL_TEMPLATE)


LOOPBACK = ("127.0.0.1", "localhost", "::1")


def shared() -> bool:
    """Whether others can reach this lab: it listens beyond this machine (`make run HOST=0.0.0.0`)."""
    return st.get_option("server.address") not in LOOPBACK


def trusted_room() -> bool:
    """Whether a shared lab was started to let its viewers run model code and name server folders
    (`make run HOST=0.0.0.0 TRUST=1`)."""
    return os.environ.get("SFT_LAB_SHARED_TRUST") == "1"


def remote_code_allowed() -> bool:
    return not shared() or trusted_room()


def trust_remote_code() -> bool:
    return remote_code_allowed() and bool(st.session_state.get(TRUST_REMOTE_CODE, False))


def tokenizer():
    """The current model's tokenizer (loaded by the sidebar before the page runs); stops the page if none.

    A model that failed to load is named here, in the page, once; the old model goes on working.
    """
    if MODEL_ERROR in st.session_state:
        st.error(markdown_text(st.session_state[MODEL_ERROR]))
        if st.session_state.get(MODEL_READY):
            del st.session_state[MODEL_ERROR]
    if not st.session_state.get(MODEL_READY):
        st.info("Pick a model that loads in the sidebar to see this page.")
        st.stop()
    return templated_tokenizer(model_ref(), trust_remote_code(), template())


def vocab_size() -> int | None:
    return vocab_size_for(model_ref(), trust_remote_code())


def _loading_message(ref: str) -> str:
    if ref.lower() in SHIPPED or ref == "default":
        return f"Loading {ref}: the first time, its GGUF is converted to safetensors once (up to 90 s)…"
    return f"Loading {ref}…"


def _switch_model(candidate: str) -> None:
    """Try the model the person typed; on failure keep the old one and remember one sentence why."""
    trust = trust_remote_code()
    try:
        with st.spinner(_loading_message(candidate)):
            resolve(candidate)  # before the caches: this process may have loaded a folder before it was shared
            tokenizer_for(candidate, trust)
            vocab_size_for(candidate, trust)
        st.session_state[MODEL] = candidate
        st.session_state[MODEL_READY] = True
        st.session_state.pop(MODEL_ERROR, None)
    except LabError as e:
        still = f" Still using {model_ref()}." if st.session_state.get(MODEL_READY) else ""
        st.session_state[MODEL_ERROR] = f"Could not load '{candidate}': {e}.{still}"
        st.session_state[MODEL_INPUT] = model_ref()


def _from_url(key: str, text: str):
    """A remembered choice read back from the URL; None when the text is not a value it can have."""
    if key == FORMAT:
        return text if text in FORMATS else None
    if key == TEMPLATE:
        return text if text in template_choices() else None
    if key == PROMPT_WEIGHT:
        weight = float(text)
        return None if prompt_weight_problem(weight) else weight
    if key == NEW_RUN_EXAMPLES:
        return [int(k) for k in text.split(",") if k]
    if key == PROJECTOR:
        return text == "1"
    return text


def _to_url(key: str, value) -> str:
    if key == NEW_RUN_EXAMPLES:
        return ",".join(map(str, value))
    if key == PROJECTOR:
        return "1" if value else "0"
    return str(value)


def restore_choices() -> None:
    """Before any widget: each remembered choice from this session, or after a refresh from the URL."""
    kept = st.session_state.setdefault(KEPT, {})
    for key, param in IN_URL.items():
        if key in st.session_state:
            continue
        value = kept.get(key)
        if value is None and param in st.query_params:
            try:
                value = _from_url(key, st.query_params[param])
            except ValueError:  # a URL typed by hand: the default, as if it were not there
                value = None
        if value is not None:
            st.session_state[key] = value
            kept[key] = value  # kept at once: a run cut short by a page switch drops a widget's state


def keep_choices() -> None:
    """After the widgets: the current choices into the session and the URL."""
    kept = st.session_state.setdefault(KEPT, {})
    for key in IN_URL:
        if key in st.session_state:
            kept[key] = st.session_state[key]
    for key, value in kept.items():
        text = _to_url(key, value)
        if st.query_params.get(IN_URL[key]) != text:
            st.query_params[IN_URL[key]] = text


def projector() -> bool:
    """Whether the pages are drawn for a room (larger text and chips)."""
    return bool(st.session_state.get(PROJECTOR, False))


def markdown_text(text: str) -> str:
    """Text from a user or a model, safe inside Streamlit's markdown: every markdown character escaped, so that
    `![x](http://host/x.png)` in an answer stays text and loads nothing."""
    return re.sub(r"([\\`*_{}\[\]()#+\-.!|<>~$])", r"\\\1", text)


def scale() -> float:
    """How much larger text and figures are drawn: 1.5 in projector mode."""
    return 1.5 if projector() else 1.0


def table(rows: list[dict], column_config: dict | None = None) -> None:
    """Rows as a table: a sortable dataframe, or in projector mode a plain table whose every cell is shown whole
    (a dataframe cuts long text at the column's edge), numbers to 4 significant digits."""
    if not projector():
        st.dataframe(rows, hide_index=True, width="stretch", column_config=column_config)
        return
    frame = pd.DataFrame(rows)
    percent = [
        c
        for c, cfg in (column_config or {}).items()
        if c in frame.columns and (cfg.get("type_config") or {}).get("format") == "percent"
    ]
    numbers = [c for c in frame.columns if pd.api.types.is_float_dtype(frame[c]) and c not in percent]
    style = frame.style.format("{:.4g}", subset=numbers, na_rep="").format("{:.1%}", subset=percent, na_rep="")
    st.table(style.hide(axis="index"))


def styled(figure):
    """A plotly figure as the room needs it: larger text in projector mode."""
    if projector():
        figure.update_layout(font=dict(size=18), title=dict(font=dict(size=22)), legend=dict(font=dict(size=16)))
    return figure


def sidebar() -> None:
    """Model, device and format, shared by every page. Loads the model's tokenizer once per process."""
    allow_local_folders(remote_code_allowed())
    if shared():  # viewers on the network see that something failed, never a traceback of the server
        st.set_option("client.showErrorDetails", "none")
    restore_choices()
    st.session_state.setdefault(MODEL, DEFAULT_MODEL)
    st.session_state.setdefault(MODEL_INPUT, model_ref())
    candidate = (st.session_state.get(MODEL_INPUT) or "").strip() or DEFAULT_MODEL
    if candidate != model_ref() or not st.session_state.get(MODEL_READY):
        _switch_model(candidate)
    with st.sidebar:
        st.text_input(
            "Model",
            key=MODEL_INPUT,
            help=(
                f"Shipped with the lab (no network needed): `{DEFAULT_MODEL}` (SmolLM2-135M-Instruct) and "
                f"`{GEMMA}` (Gemma 3 270M base, with TRL's `gemma3` chat template; Gemma Terms of Use). "
                "Or a hub id (e.g. `HuggingFaceTB/SmolLM2-360M-Instruct`) or a local folder."
            ),
        )
        if remote_code_allowed():  # not drawn on a lab shared over the network (unless started with TRUST=1)
            st.checkbox(
                "Trust remote code",
                key=TRUST_REMOTE_CODE,
                help="Runs Python code that comes with the model. Leave off unless you trust its author.",
            )
        st.selectbox(
            "Device", available_devices(), key=DEVICE, help="`auto` uses a CUDA GPU when there is one, else the CPU."
        )
        st.radio(
            "Format",
            FORMATS,
            key=FORMAT,
            horizontal=True,
            help=(
                "`as-written`: each row as TRL's SFTTrainer treats its shape (a text row verbatim with its eos, a "
                "prompt-completion row joined, a conversation through the chat template). For conversations: "
                "`classic`: `### Human:` / `### Assistant:` with bos and eos inserted (seed 000); "
                "`chat-template`: the chat template below."
            ),
        )
        st.selectbox(
            "Chat template",
            template_choices(),
            key=TEMPLATE,
            help=(
                "`model`: the model's own. Or any original template TRL ships (Llama 3.x, Qwen, Gemma, GPT-OSS, "
                "...), read from the installed package: see how the same data trains under another model's format."
            ),
        )
        st.caption(f"In use: **{markdown_text(model_ref())}**")
        st.toggle("Projector", key=PROJECTOR, help="Larger text, chips and charts, for a room.")
    keep_choices()
    if projector():
        st.html(PROJECTOR_CSS)


def examples() -> list[Example]:
    return workspace().examples()


def example_picker(examples_: list[Example], label: str = "Example") -> int:
    """A selectbox over the set: each tab its own choice, kept by the example's identity (and in the URL), so
    the choice follows its example when another tab moves it, and no tab moves another's.

    The widget has a key and no `index`: a selectbox whose `index` changes between reruns is a new widget each
    time, and the browser then drops every second pick."""
    uids = [e.uid for e in examples_]
    labels = [f"#{i} · {preview(e) or '(empty)'}" for i, e in enumerate(examples_)]
    # Keyed by its labels: when the set changes (a file loaded, a first question edited) it is a new widget, so
    # the browser shows the new labels and never sends back a label that is no longer an option.
    key = f"{PICKED}-{hashlib.sha1(chr(0).join(labels).encode()).hexdigest()[:12]}"
    for old in [k for k in st.session_state if isinstance(k, str) and k.startswith(PICKED + "-") and k != key]:
        del st.session_state[old]
    wanted = st.session_state.get(PICKED_UID)
    at = uids.index(wanted) if wanted in uids else 0
    if st.session_state.get(key) != at:
        st.session_state[key] = at

    def picked() -> None:
        value = st.session_state.get(key)
        if isinstance(value, int) and 0 <= value < len(uids):
            st.session_state[PICKED_UID] = uids[value]

    st.selectbox(label, range(len(examples_)), key=key, on_change=picked, format_func=labels.__getitem__)
    value = st.session_state.get(key)
    at = value if isinstance(value, int) and 0 <= value < len(uids) else at
    st.session_state[PICKED_UID] = uids[at]
    return at
