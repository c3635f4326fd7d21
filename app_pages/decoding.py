"""Decoding: one prompt, greedy, beam search and sampling side by side, every step shown (seed 001)."""

import html

import streamlit as st

import app_runs
import app_state
from lab.data.sources import heldout_question
from lab.errors import LabError
from lab.labels import special_token_strings
from lab.look import (
    PROMPT_FORMATS,
    DecodeSettings,
    adds_special_tokens,
    decode,
    prompt_format,
    question_prompt,
    spread,
)
from lab.models import placement_sentence
from lab.views import text_view
from lab.views.run_rows import run_label

st.title("Decoding")
store = app_runs.page_store()  # without one, the base model still decodes
st.caption(
    "Greedy takes the most probable token each step; beam search keeps the k best partial answers by "
    "total log-probability; sampling draws from the distribution reshaped by temperature, top-k and top-p."
)

finished = {r.id: r for r in store.with_weights()} if store else {}
which = st.selectbox(
    "Model",
    ["base model", *finished],
    key="decode-model",
    format_func=lambda c: c if c == "base model" else f"run {run_label(finished[c])}",
)
run = finished.get(which)
trained_format = prompt_format(run.config.format if run else app_state.fmt())
question = st.text_area("Question", heldout_question()[0], height=80)
prompt_format = st.radio(
    "Prompt format",
    PROMPT_FORMATS,
    index=PROMPT_FORMATS.index(trained_format),
    horizontal=True,
    key=f"decode-format-{which}",
    help="The text the question becomes before the answer. It starts as the run's own format (the base model: "
    "the sidebar's), as Train's “Answer with both” asks it; raw text sends the question alone.",
)
model_ref, trust = (
    (run.config.model, run.config.trust_remote_code) if run else (app_state.model_ref(), app_state.trust_remote_code())
)
# a run is asked under the chat template it trained with (lab.look.run_models); the base model under the sidebar's
template = run.config.template if run else app_state.template()
tokenizer = app_state.templated_tokenizer(model_ref, trust, template)
try:
    prompt = question_prompt(question, tokenizer, prompt_format)
except LabError as e:
    st.error(f"The question cannot be put in the {prompt_format} format: {app_state.markdown_text(str(e))}")
    st.stop()
add_specials = adds_special_tokens(prompt_format)
st.markdown(
    f"**Prompt sent** ({prompt_format}; the tokenizer's own special tokens "
    f"{'added' if add_specials else 'not added: the template wrote them'})"
)
specials = special_token_strings(tokenizer)
st.html(text_view(prompt, specials))
length = st.slider("New tokens", 1, 128, 24)
max_memory, placed = None, None
if run is None:
    with st.expander("Larger than memory? Spread the base model over devices"):
        max_memory = (
            st.text_input(
                "Max memory per device",
                key="decode-max-memory",
                placeholder="e.g. cpu=300MiB,disk  or  cuda:0=8GiB,cpu=32GiB",
                help="accelerate's device map (`device_map='auto'`): layers fill each device in turn; with `disk`, "
                "the rest is read from disk at every step (slow, same tokens). Empty: the whole model on the CPU.",
            ).strip()
            or None
        )
        placed = st.empty()  # where the layers went, once the model is placed

left, middle, right = st.columns(3)
left.markdown("**Greedy**")
middle.markdown("**Beam search**")
beams = middle.number_input("Beams k", 1, 16, 4)
returned = middle.number_input("Returned beams", 1, 16, 2)
penalty = middle.number_input("Length penalty", -5.0, 5.0, 1.0, 0.1)
right.markdown("**Sampling**")
temperature = right.number_input("Temperature", 0.0, 5.0, 0.9, 0.1)
top_k = right.number_input("Top-k (0: off)", 0, 50000, 50)
top_p = right.number_input("Top-p", 0.0, 1.0, 0.9, 0.05)
seed = right.number_input("Seed", 0, 2**31 - 1, 0)
samples = right.number_input("Samples", 1, 32, 8)

if st.button("Decode", type="primary"):
    st.session_state["decoded"] = True
if not st.session_state.get("decoded"):
    st.stop()


@st.cache_data(show_spinner=False, max_entries=32)
def traces_for(
    which: str,
    weights: str | None,
    model_ref: str,
    prompt: str,
    settings: DecodeSettings,
    specials: bool,
    _model,
    _tokenizer,
):
    """Cached per model (and version of a run's weights), prompt and settings, so moving the beam-step slider
    does not decode again."""
    return decode(_model, _tokenizer, prompt, settings, add_special_tokens=specials)


if run is None:
    try:
        with st.spinner("Placing the model…" if max_memory else "Loading the model…"):
            model = app_state.model_for(model_ref, "cpu", trust, max_memory)
    except LabError as e:
        st.error(app_state.markdown_text(str(e)))
        st.stop()
    if max_memory:
        placed.caption(f"Placed by accelerate's device map: {app_state.markdown_text(placement_sentence(model))}.")
else:
    model = app_runs.trained_model_for(which)

runs = [
    (left, DecodeSettings("greedy", length)),
    (middle, DecodeSettings("beam", length, int(beams), int(returned), float(penalty))),
    (
        right,
        DecodeSettings(
            "sample",
            length,
            temperature=float(temperature),
            top_k=int(top_k),
            top_p=float(top_p),
            seed=int(seed),
            samples=int(samples),
        ),
    ),
]
for column, settings in runs:
    with column:
        try:
            with st.spinner(f"{settings.strategy}…"):
                weights = store.weights_version(which) if run else max_memory
                traces = traces_for(which, weights, model_ref, prompt, settings, add_specials, model, tokenizer)
        except LabError as e:
            st.error(f"{settings.strategy}: {app_state.markdown_text(str(e))}.")
            continue
        for k, trace in enumerate(traces[: settings.num_return if settings.strategy == "beam" else 1]):
            head = f"beam {k} · score {trace.score:.3f}" if trace.score is not None else "output"
            st.markdown(head)
            st.html(text_view(trace.text, specials))
        first = traces[0]
        app_state.table(
            [
                {
                    "step": s,
                    "token": step.choice.text,
                    "p": round(step.choice.prob, 4),
                    "runners-up": "  ".join(f"{a.text!r} {a.prob:.3f}" for a in step.alternatives),
                }
                for s, step in enumerate(first.steps)
            ],
        )
        if settings.strategy == "beam" and first.beam_steps:
            step = st.slider("Beam step", 0, len(first.beam_steps) - 1, 0, key="beam_step")
            app_state.table(
                [
                    {
                        "from beam": c.beam,
                        "token": c.text,
                        "log-prob": round(c.score, 3),
                        "": "live" if c.kept else "pruned / ended",
                    }
                    for c in first.beam_steps[step]
                ],
            )
        if settings.strategy == "sample":
            st.markdown("**Spread over the samples**")
            st.html(
                "<ul>"
                + "".join(f"<li>{count}× <code>{html.escape(text)}</code></li>" for text, count in spread(traces))
                + "</ul>"
            )
