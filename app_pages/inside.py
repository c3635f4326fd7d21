"""Inside the model: per-token loss before vs after a run, and the teacher-forced prediction at each position."""

import streamlit as st

import app_runs
import app_state
from lab.data.edits import preview
from lab.errors import LabError
from lab.look import mean_losses, weighted_mean_loss
from lab.models import memory_note
from lab.views import candidates_figure, loss_chips
from lab.views.run_rows import run_label

st.title("Inside the model")
store = app_runs.page_store()
if store is None:
    st.stop()
st.caption(
    "Teacher forcing: every token is predicted from the true tokens before it (position t from the logits "
    "at t-1). Its loss is -log p of the actual token; a run's loss is the weighted mean over the positions "
    "its strategy counts (seed 002)."
)

finished = {r.id: r for r in store.with_weights()}
if not finished:
    st.info("No finished run yet: train one on the Train page, then come back. A run shows here once it ends.")
    st.stop()
run = finished[
    st.selectbox(
        "Run",
        list(finished),
        format_func=lambda i: f"{run_label(finished[i])} · {finished[i].status}",
    )
]
config = run.config
source = st.radio("Examples", ["the run's training examples", "the current set"], horizontal=True)
examples = store.examples(run.id) if source.startswith("the run") else app_state.examples()
index = st.selectbox("Example", range(len(examples)), format_func=lambda i: f"#{i} · {preview(examples[i])}")
top_k = st.slider("Top-k candidates", 1, 20, 5)


note = memory_note(app_state.model_for(config.model, "cpu", config.trust_remote_code))
if note:
    st.warning(note)
try:
    positions, labels = app_runs.positions_for(run.id, examples[index], top_k)
except LabError as e:
    st.error(f"Example #{index} cannot be inspected: {app_state.markdown_text(str(e))}")
    st.stop()

means = mean_losses(positions)
columns = st.columns(4)
for column, part in zip(columns, ("prompt", "completion")):
    before, after = means[f"{part}_before"], means[f"{part}_after"]
    if before is not None:
        column.metric(
            f"mean {part} loss", f"{after:.3f}", f"{after - before:+.3f} from {before:.3f}", delta_color="inverse"
        )
for column, which in zip(columns[2:], ("base", "tuned")):
    value = weighted_mean_loss(positions, labels, which)
    if value is not None:
        column.metric(f"{config.strategy} loss, {'before' if which == 'base' else 'after'}", f"{value:.3f}")

st.markdown(
    "**Loss per token** (blue: confident and right, white: p = 0.1, red: p ≤ 0.01; underlined ✓: the run "
    "trained on it; hover for both values)"
)
for view, label in (("before", "Base model"), ("after", "Fine-tuned"), ("change", "Change (blue: lower)")):
    st.caption(label)
    st.html(loss_chips(positions, view))

st.subheader("One position")
chosen = st.select_slider(
    "Position",
    [p.position for p in positions],
    value=positions[-1].position,
    format_func=lambda t: f"{t}: {positions[t - 1].token!r}",
)
st.plotly_chart(app_state.styled(candidates_figure(positions[chosen - 1])), theme=None, width="stretch")
