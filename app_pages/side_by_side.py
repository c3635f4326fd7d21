"""Templates side by side: one conversation under several chat templates, each with its chips, what one strategy
trains and its audit badges, so a person sees at a glance how the same data trains differently."""

import streamlit as st

import app_state
from lab.errors import LabError
from lab.labels import STRATEGIES
from lab.labels.audit import AUDIT_CODES, STRUCTURAL_CODES
from lab.labels.side_by_side import SIDE_BY_SIDE, under_templates
from lab.labels.templates import MODEL_TEMPLATE, template_choices
from lab.labels.token_labels import DEFAULT_PROMPT_WEIGHT
from lab.models.references import generation_stop_ids
from lab.views import audit_badges, legend, sentences, token_chips

TEMPLATES = "side_templates"
STRATEGY = "side_strategy"

st.title("Templates side by side")
st.caption(
    "The same conversation rendered by several real chat templates (read from the installed TRL): how many "
    "tokens each makes, which of them one strategy trains, the token that ends each answer, and the traps the "
    "template audit finds. `model` is the model's own template."
)
app_state.tokenizer()  # stops the page, saying why, until a model is loaded
trust = app_state.trust_remote_code()
tokenizer = app_state.tokenizer_for(app_state.model_ref(), trust)  # the model's own: each template is put on it
examples = app_state.workspace().examples()
if not examples:
    st.info("The set is empty: add an example on the Examples page.")
    st.stop()
i = app_state.example_picker(examples)
example = examples[i]
if example.conversation is None:
    st.info(
        f"Example #{i} is a text row: TRL trains it as written, so no chat template renders it. Pick a "
        "conversation, or split this text into turns on the Examples page."
    )
    st.stop()

defaults = [n for n in (*SIDE_BY_SIDE, app_state.template()) if n in template_choices()]
st.session_state.setdefault(TEMPLATES, list(dict.fromkeys(defaults)))
st.session_state.setdefault(STRATEGY, "trl-completion")
left, right = st.columns([3, 1])
names = left.multiselect(
    "Templates",
    template_choices(),
    key=TEMPLATES,
    help="The model's own (`model`) and any of TRL's original templates; `python -m lab templates` lists them.",
)
strategy = right.selectbox(
    "Strategy", STRATEGIES, key=STRATEGY, help="Which tokens are learned, under every template alike."
)
if not names:
    st.info("Pick at least one template.")
    st.stop()

weight = float(st.session_state.get(app_state.PROMPT_WEIGHT, DEFAULT_PROMPT_WEIGHT))
stops = generation_stop_ids(app_state.model_ref(), trust)
try:
    with st.spinner("Rendering under each template (the first time, each template's tokenizer copy is made)…"):
        views = under_templates(example, tokenizer, tuple(names), strategy, weight, stops)
except LabError as e:
    st.error(app_state.markdown_text(str(e)))
    st.stop()

app_state.table(
    [
        {
            "template": v.name,
            "tokens": v.tokens if not v.error else None,
            "trained": v.trained,
            "trained outside the answers": v.prompt_trained if v.trained is not None else None,
            "answers end with": ", ".join(v.stop_tokens),
            "audit": ", ".join(c for c in v.codes if c in AUDIT_CODES) or ("—" if v.error else "clean"),
            "tokens added": len(v.added),
            "note": v.error
            or ("" if v.trained is not None else next((n.text for n in v.notes), f"{strategy} cannot label it")),
        }
        for v in views
    ]
)
st.caption(
    "trained: tokens whose label is not -100 under the strategy (empty: it cannot label this conversation under "
    "that template, see the note). tokens added: control tokens the model's tokenizer lacks, added as special "
    "tokens so each shows as one chip; the model has no trained embedding for them."
)

st.html(legend([strategy]))
for start in range(0, len(views), 2):
    for column, v in zip(st.columns(2), views[start : start + 2]):
        with column:
            st.subheader(
                app_state.markdown_text(v.name if v.name != MODEL_TEMPLATE else f"model ({app_state.model_ref()})")
            )
            if v.error:
                st.warning(app_state.markdown_text(f"This template cannot render the conversation: {v.error}."))
                continue
            trained = "cannot label it" if v.trained is None else f"{v.trained} trained"
            st.caption(f"{v.tokens} tokens, {trained} under {strategy}; answers end with {', '.join(v.stop_tokens)}")
            found = {n.code: {strategy: n.text} for n in v.notes if n.code in AUDIT_CODES}
            st.html(audit_badges(found, AUDIT_CODES, STRUCTURAL_CODES))
            if v.added:
                st.caption(app_state.markdown_text("Added as special tokens: " + ", ".join(v.added)))
            st.html(token_chips(v.item, {strategy: v.labels}, [strategy]))
            other = [n.text for n in v.notes if n.code not in AUDIT_CODES]
            if other:
                st.html(sentences(other))
