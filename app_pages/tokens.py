"""Tokens & labels: every token of an example as a chip, with its label under each strategy."""

import streamlit as st

import app_state
from lab.errors import LabError
from lab.labels import (
    DESCRIPTIONS,
    STRATEGIES,
    LabelSettings,
    check,
    compare,
    default_templates,
    group_findings,
    label_example,
    summarise,
    tokenize_example,
)
from lab.labels.audit import AUDIT_CODES, STRUCTURAL_CODES, audit_strategies
from lab.labels.templates import added_tokens_sentence
from lab.labels.token_labels import DEFAULT_PROMPT_WEIGHT
from lab.models.references import generation_stop_ids
from lab.views import audit_badges, legend, sentences, token_chips

FULL_CHECK_LIMIT = 2000  # larger sets are checked on request, not on every rerun
CHIPS_DRAWN = 2000  # tokens drawn as chips at once (each is ~300 bytes of HTML for the browser to lay out)


@st.cache_data(show_spinner="Checking the whole set…", max_entries=8)
def check_set(
    revision: int,
    model: str,
    trust: bool,
    fmt: str,
    template: str,
    settings: LabelSettings,
    _examples,
    _tokenizer,
    vocab_size,
):
    """Findings for the whole set; cached per saved revision, model (and its trust), format, chat template and
    settings: everything it reads is in its key."""
    stops = generation_stop_ids(model, trust)
    return check(_examples, _tokenizer, fmt, STRATEGIES, settings, vocab_size=vocab_size, stop_ids=stops)


st.title("Tokens & labels")
tokenizer, fmt, ws = app_state.tokenizer(), app_state.fmt(), app_state.workspace()
examples = ws.examples()
if not examples:
    st.info("The set is empty: add an example on the Examples page.")
    st.stop()
i = app_state.example_picker(examples)

controls = st.columns([2, 3])
st.session_state.setdefault(app_state.PROMPT_WEIGHT, DEFAULT_PROMPT_WEIGHT)  # kept in the URL, so no default value here
weight = controls[0].slider(
    "Prompt-loss-weight w",
    0.0,
    1.0,
    step=0.01,
    key=app_state.PROMPT_WEIGHT,
    help=("prompt-weight: prompt tokens weigh w in the loss, completion tokens 1 (seed 002)."),
)
shown = controls[1].multiselect("Strategies", STRATEGIES, default=list(STRATEGIES), key=app_state.STRATEGY_CHOICE)
try:
    item = tokenize_example(examples[i], tokenizer, fmt)
except LabError as e:
    st.error(f"Example #{i} cannot be tokenized in the {fmt} format: {app_state.markdown_text(str(e))}")
    st.stop()
became = item.rendered.format  # what this row became: text, prompt-completion, classic or chat-template
response_default, instruction_default = default_templates(tokenizer, became)
with st.expander("Templates of the response-template strategy"):
    left, right = st.columns(2)
    key = f"{became}-{app_state.template()}"
    response = left.text_input("Response template", response_default, key=f"response-{key}")
    instruction = right.text_input("Instruction template (multi-turn)", instruction_default, key=f"instruction-{key}")
settings = LabelSettings(weight, response or None, instruction)  # empty: no instruction template
labelled = label_example(item, tokenizer, STRATEGIES, settings)
window = None
if len(item.encoded) > CHIPS_DRAWN:  # a window of chips: every page of the lab answers in seconds
    answer = next((k for k, done in enumerate(item.encoded.completion) if done), 0)
    first = st.number_input(
        f"This example has {len(item.encoded):,} tokens: {CHIPS_DRAWN:,} are drawn, from token",
        0,
        len(item.encoded) - 1,
        max(0, min(answer - CHIPS_DRAWN // 2, len(item.encoded) - CHIPS_DRAWN)),
        step=CHIPS_DRAWN // 2,
        key=f"chips-from-{examples[i].uid}",
        help="The window starts around the answer; the chips on either side count what is not drawn.",
    )
    window = range(int(first), int(first) + CHIPS_DRAWN)

rows = summarise(item, labelled, tokenizer)
app_state.table(
    [
        {
            "strategy": r.name,
            "tokens trained": str(r.trained) if r.available else "n/a",
            "prompt share of loss": r.prompt_share,
            "completion share of loss": r.completion_share,
            "what it does": DESCRIPTIONS[r.name] if r.available else "cannot label this example (see below)",
        }
        for r in rows
        if r.name in shown
    ],
    column_config={
        "prompt share of loss": st.column_config.ProgressColumn(format="percent", min_value=0, max_value=1),
        "completion share of loss": st.column_config.ProgressColumn(format="percent", min_value=0, max_value=1),
    },
)
st.caption(
    f"{len(item.encoded):,} tokens. Position 0 is never learned: position i's logits predict token i+1, "
    "so a token is learned through the position before it (hover a chip)."
)

st.markdown("**Template audit** (hover a red badge for its sentence)")
stops = generation_stop_ids(app_state.model_ref(), app_state.trust_remote_code())
found: dict[str, dict[str, str]] = {}
for name, note in audit_strategies(item, {n: labelled[n] for n in shown}, tokenizer, stops):
    found.setdefault(note.code, {})[name] = note.text
st.html(audit_badges(found, AUDIT_CODES, STRUCTURAL_CODES))
added = added_tokens_sentence(tokenizer)
if added:
    st.info(app_state.markdown_text(added[0].upper() + added[1:]) + ".")
st.html(legend(shown))
st.html(token_chips(item, labelled, shown, window))

st.subheader("Where the strategies disagree")
disagreements = [d.sentence() for d in compare(item, {n: labelled[n] for n in shown}, tokenizer)]
st.html(sentences(disagreements) if disagreements else sentences(["They all agree on every token."]))

st.subheader("Notes and findings")
notes = [f"{name}: {note.text}" for name in shown for note in labelled[name].notes]
st.html(sentences(notes or ["No strategy has a note on this example."]))
if len(examples) <= FULL_CHECK_LIMIT or st.button(f"Check all {len(examples)} examples"):
    findings = check_set(
        ws.revision(),
        app_state.model_ref(),
        app_state.trust_remote_code(),
        fmt,
        app_state.template(),
        settings,
        examples,
        tokenizer,
        app_state.vocab_size(),
    )
    mine = [f.message for f in findings if f.example == i]
    st.markdown(f"**`python -m lab check` on this example:** {len(mine)} finding(s)")
    st.html(sentences(mine or ["Nothing to report."]))
    flagged = {f.example for f in findings if f.example is not None}
    with st.expander(f"The whole set: {len(findings)} finding(s) in {len(flagged)} of {len(examples)} examples"):
        st.html(sentences([g.sentence() for g in group_findings(findings)] or ["Nothing to report."]))
