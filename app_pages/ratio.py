"""Generation ratio: Rg = completion / prompt tokens across a dataset, and what a prompt-loss-weight does."""

import streamlit as st

import app_state
from lab.common import CHATTERBOT_PREFIX, SAMPLE_PREFIX
from lab.data import examples_from_upload, read_examples, sample_names
from lab.data.corpora import languages
from lab.errors import LabError
from lab.labels import RatioStats, generation_ratio
from lab.labels.token_labels import DEFAULT_PROMPT_WEIGHT
from lab.views import loss_share_curve, ratio_histogram

CURRENT = "the current examples"


@st.cache_resource(show_spinner=False)
def _counted() -> dict:
    """The process's counts, shared by every viewer: (reference, revision, model, format) -> RatioStats."""
    return {}


def stats_of(reference: str, revision, model: str, fmt: str, examples, tokenizer) -> RatioStats:
    """Cached per dataset reference (and saved revision or upload id), model and format; counted the first time
    with a progress bar (a large set takes a while: batches of 2,048 examples)."""
    key = (reference, revision, model, fmt)
    counted = _counted()
    if key not in counted:
        bar = st.progress(0.0, text=f"Counting the tokens of {app_state.markdown_text(reference)}…")
        done = [0]

        def step(n: int) -> None:
            done[0] += n
            bar.progress(min(done[0] / max(len(examples), 1), 1.0), text=f"Counted {done[0]:,} of {len(examples):,}")

        stats = generation_ratio(examples, tokenizer, fmt, progress=step)
        bar.empty()
        if len(counted) >= 32:  # the oldest goes first
            counted.pop(next(iter(counted)))
        counted[key] = stats
    return counted[key]


def load(reference: str, uploads: dict):
    """The examples of a choice in the dataset list, and what identifies their content for the cache."""
    if reference == CURRENT:
        return app_state.examples(), app_state.workspace().revision()
    if reference in uploads:
        upload = uploads[reference]
        return examples_from_upload(upload.name, upload.getvalue()), upload.file_id
    return read_examples(reference), None


st.title("Generation ratio")
st.caption(
    "Rg = completion tokens / prompt tokens of each example under the chosen format (seed 002). Completion "
    "tokens are those completion-only training learns from; every other token is prompt."
)
tokenizer, fmt = app_state.tokenizer(), app_state.fmt()

options = [CURRENT] + [SAMPLE_PREFIX + n for n in sample_names()] + [CHATTERBOT_PREFIX + lang for lang in languages()]
left, right = st.columns([3, 2])
uploaded = right.file_uploader(
    "Add a file of your own", type=["jsonl", "json", "csv", "parquet", "arrow"], accept_multiple_files=True
)
uploads = {f"upload:{u.name}": u for u in uploaded or []}
picked = st.session_state.setdefault("ratio_datasets", [CURRENT, "sample:reading", "sample:explain"])
drawn = st.session_state.setdefault("ratio_uploads_drawn", set())  # each upload is added to the picks once
picked = [p for p in picked if p in options or p in uploads] + [u for u in uploads if u not in drawn]
st.session_state["ratio_datasets"] = list(dict.fromkeys(picked))
drawn.update(uploads)
chosen = left.multiselect(
    "Datasets (two or more are drawn side by side; an upload is added at once)",
    options + list(uploads),
    key="ratio_datasets",
)
if not chosen:
    st.info("Pick at least one dataset.")
    st.stop()

datasets: dict[str, RatioStats] = {}
for reference in chosen:
    try:
        examples, revision = load(reference, uploads)
        datasets[reference] = stats_of(reference, revision, app_state.model_ref(), fmt, examples, tokenizer)
    except LabError as e:
        st.error(f"{app_state.markdown_text(reference)}: {app_state.markdown_text(str(e))}")

weight = st.slider(
    "Prompt-loss-weight w",
    0.0,
    1.0,
    DEFAULT_PROMPT_WEIGHT,
    0.01,
    key="ratio_prompt_weight",
    help=("In seed 002's weighted loss, each prompt token weighs w and each completion token 1."),
)
for name, stats in datasets.items():
    if stats.count:
        share = stats.loss_share(weight)
        st.markdown(
            f"**{app_state.markdown_text(name)}**: at w = {weight:g}, prompt tokens carry **{share:.0%}** of the loss "
            f"({stats.prompt_tokens:,} prompt vs {stats.completion_tokens:,} completion tokens; "
            f"{stats.effective_tokens(weight):,.0f} effective trained tokens)."
        )
    else:
        st.warning(f"{app_state.markdown_text(name)}: {app_state.markdown_text(stats.why_nothing_counted())}.")

st.plotly_chart(app_state.styled(ratio_histogram(datasets, scale=app_state.scale())), theme=None, width="stretch")
st.caption(
    "Bins are 0.1 wide in log10 (a factor of 1.26). Dashed line: arithmetic mean; solid: geometric mean "
    "(the mean of log Rg). With Rg spread over decades the arithmetic mean sits far above most examples."
)
app_state.table(
    [
        {
            "dataset": name,
            "examples": s.count,
            "skipped": len(s.skipped),
            "arithmetic mean": s.arithmetic_mean,
            "geometric mean": s.geometric_mean,
            "median": s.median,
            "share Rg > 1": s.share_above_1,
            "prompt tokens P": s.prompt_tokens,
            "completion tokens C": s.completion_tokens,
            f"prompt share at w = {weight:g}": s.loss_share(weight),
        }
        for name, s in datasets.items()
    ],
    column_config={
        "arithmetic mean": st.column_config.NumberColumn(format="%.4g"),
        "geometric mean": st.column_config.NumberColumn(format="%.4g"),
        "median": st.column_config.NumberColumn(format="%.4g"),
        "share Rg > 1": st.column_config.NumberColumn(format="percent"),
        f"prompt share at w = {weight:g}": st.column_config.NumberColumn(format="percent"),
    },
)
st.plotly_chart(app_state.styled(loss_share_curve(datasets, weight)), theme=None, width="stretch")

for name, stats in datasets.items():
    if stats.skipped:
        n = len(stats.skipped)
        with st.expander(
            f"{app_state.markdown_text(name)}: {n} example{'' if n == 1 else 's'} left out of the statistics"
        ):
            st.markdown("\n".join(f"- #{e.index}: {app_state.markdown_text(e.skipped)}" for e in stats.skipped[:500]))
