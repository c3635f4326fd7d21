"""Decoding: one prompt, greedy, beam search and sampling side by side, every step shown (seed 001)."""

import html

import streamlit as st

import app_state
from lab.errors import LabError
from lab.labels import apply_chat_template
from lab.look import DecodeSettings, decode, spread

store = app_state.run_store()
st.title("Decoding")
st.caption(
    "Greedy takes the most probable token each step; beam search keeps the k best partial answers by "
    "total log-probability; sampling draws from the distribution reshaped by temperature, top-k and top-p."
)

finished = [r for r in store.list() if (store.run_folder(r.id) / "final").is_dir()]
choices = ["base model"] + [r.id for r in finished]
which = st.selectbox(
    "Model",
    choices,
    format_func=lambda c: (
        c if c == "base model" else f"run {c} · {store.get(c).config.strategy} · {store.get(c).config.method}"
    ),
)
question = st.text_area("Prompt", 'How do you say "day" in Spanish?', height=80)
as_chat = st.toggle("Wrap it as a user turn in the chat template", value=True)
length = st.slider("New tokens", 1, 128, 24)

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
def traces_for(which: str, model_ref: str, prompt: str, settings: DecodeSettings, chat: bool, _model, _tokenizer):
    """Cached per model, prompt and settings, so moving the beam-step slider does not decode again."""
    return decode(_model, _tokenizer, prompt, settings, add_special_tokens=not chat)


if which == "base model":
    model_ref, trust = app_state.model_ref(), app_state.trust_remote_code()
    model = app_state.model_for(model_ref, "cpu", trust)
else:
    run = store.get(which)
    model_ref, trust = run.config.model, run.config.trust_remote_code
    model = app_state.trained_model_for(which)
tokenizer = app_state.tokenizer_for(model_ref, trust)
try:
    prompt = (
        apply_chat_template(tokenizer, [{"role": "user", "content": question}], generation_prompt=True)
        if as_chat
        else question
    )
except LabError as e:
    st.error(str(e))
    st.stop()

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
                traces = traces_for(which, model_ref, prompt, settings, as_chat, model, tokenizer)
        except LabError as e:
            st.error(f"{settings.strategy}: {e}.")
            continue
        for k, trace in enumerate(traces[: settings.num_return if settings.strategy == "beam" else 1]):
            head = f"beam {k} · score {trace.score:.3f}" if trace.score is not None else "output"
            st.markdown(head)
            st.code(trace.text, language=None, wrap_lines=True)
        first = traces[0]
        st.dataframe(
            [
                {
                    "step": s,
                    "token": step.choice.text,
                    "p": round(step.choice.prob, 4),
                    "runners-up": "  ".join(f"{a.text!r} {a.prob:.3f}" for a in step.alternatives),
                }
                for s, step in enumerate(first.steps)
            ],
            hide_index=True,
            width="stretch",
        )
        if settings.strategy == "beam" and first.beam_steps:
            step = st.slider("Beam step", 0, len(first.beam_steps) - 1, 0, key="beam_step")
            st.dataframe(
                [
                    {
                        "from beam": c.beam,
                        "token": c.text,
                        "log-prob": round(c.score, 3),
                        "": "live" if c.kept else "pruned / ended",
                    }
                    for c in first.beam_steps[step]
                ],
                hide_index=True,
                width="stretch",
            )
        if settings.strategy == "sample":
            st.markdown("**Spread over the samples**")
            st.html(
                "<ul>"
                + "".join(f"<li>{count}× <code>{html.escape(text)}</code></li>" for text, count in spread(traces))
                + "</ul>"
            )
