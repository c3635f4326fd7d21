"""Compare runs: seed 000's comparison side by side (labels copied, masked, through TRL): their loss curves,
what each predicts along one example, and their answers to the held-out question."""

import streamlit as st

import app_runs
import app_state
from lab.data.edits import preview
from lab.data.sources import heldout_question
from lab.errors import LabError
from lab.labels import special_token_strings
from lab.look import mean_losses
from lab.look.answers import check_answer
from lab.views import loss_chips, runs_curves, text_view
from lab.views.run_rows import LOSS_COLUMNS, run_label, run_row

st.title("Compare runs")
store = app_runs.page_store()
if store is None:
    st.stop()
st.caption(
    "Seed 000 trains the same examples with labels copied, masked and through TRL, then compares their "
    "curves, what each predicts along the prompt, and their answer to a question none of them trained on."
)
runs = {r.id: r for r in store.with_weights()}
if len(runs) < 2:
    st.info("Train two runs on the same examples first (on Train: strategy copy, then special-mask), then come back.")
    st.stop()


def name(run_id: str) -> str:
    return run_label(runs[run_id])


kept = [r for r in st.session_state.get("compare_runs", []) if r in runs]  # a deleted run drops out
st.session_state["compare_runs"] = kept or list(runs)[:2][::-1]  # the two newest, older first
chosen = st.multiselect("Runs", list(runs), key="compare_runs", format_func=name)
if not chosen:
    st.info("Pick at least one run.")
    st.stop()

st.subheader("Loss curves")
axis = st.radio("x-axis", ["step", "epoch"], horizontal=True, key="compare_axis")
metrics = {run_id: store.metrics(run_id) for run_id in chosen}
st.plotly_chart(app_state.styled(runs_curves({name(r): metrics[r] for r in chosen}, axis)), theme=None, width="stretch")
shown = ("run", "examples", "epochs", "steps", "seconds", "tokens/s", *LOSS_COLUMNS)
rows = [run_row(runs[r], (metrics[r] or [None])[-1], name(r)) for r in chosen]
app_state.table(
    [{k: row[k] for k in shown} for row in rows],
    column_config={k: st.column_config.NumberColumn(format="%.4f") for k in LOSS_COLUMNS}
    | {"seconds": st.column_config.NumberColumn(help="training time, summed over every stop and resume")},
)

st.subheader("What each run predicts along one example")
examples = store.examples(chosen[0])
if st.session_state.get("compare_example") not in range(len(examples)):
    st.session_state["compare_example"] = 0
index = st.selectbox(
    "Example (of the first run's training set)",
    range(len(examples)),
    key="compare_example",
    format_func=lambda i: f"#{i} · {preview(examples[i])}",
)
st.caption(
    "Each token's loss when predicted from the true tokens before it (blue: confident and right, white: "
    "p = 0.1, red: p ≤ 0.01); underlined ✓ where that run trained on it."
)
try:
    inspected = {run_id: app_runs.positions_for(run_id, examples[index]) for run_id in chosen}
except LabError as e:
    st.error(f"Example #{index} cannot be inspected: {app_state.markdown_text(str(e))}")
    st.stop()
first = inspected[chosen[0]][0]
st.markdown("**Base model**")
st.html(loss_chips(first, "before", marks=False))
summary = []
for run_id in chosen:
    positions = inspected[run_id][0]
    st.markdown(f"**{name(run_id)}**")
    st.html(loss_chips(positions, "after"))
    means = mean_losses(positions)
    summary.append({"run": name(run_id)} | {k.replace("_", " "): v for k, v in means.items()})
app_state.table(
    summary,
    column_config={k: st.column_config.NumberColumn(format="%.3f") for k in summary[0] if k != "run"},
)

st.subheader("The held-out question")
asked, answered = heldout_question()
left, right = st.columns([3, 1])
question = left.text_input("Question", asked, key="compare_heldout")
reference = right.text_input("Reference answer", answered, key="compare_reference")
if st.button("Answer with every run", type="primary"):
    st.session_state["compare_answered"] = True
if st.session_state.get("compare_answered"):
    columns = st.columns(len(chosen) + 1)
    base = runs[chosen[0]].config
    specials = special_token_strings(app_state.tokenizer_for(base.model, base.trust_remote_code))
    # the base model is asked as the first run was trained; each run as it was trained
    who = [(None, "Base model", base)] + [(r, name(r), runs[r].config) for r in chosen]
    for column, (run_id, title, config) in zip(columns, who):
        fmt = config.format
        answer = app_runs.answer_for(config, run_id, question)
        verdict = check_answer(answer, reference, store.examples(run_id) if run_id else [], specials)
        column.markdown(f"**{title}** ({fmt})")
        column.html(text_view(answer, specials))
        if verdict.sentence:
            (column.success if verdict.correct else column.warning if verdict.repeats is not None else column.info)(
                app_state.markdown_text(verdict.sentence)
            )
