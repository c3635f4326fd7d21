"""Train: start a fine-tune in the background, watch it live, stop, resume, and compare answers."""

import streamlit as st

import app_further
import app_runs
import app_state
from lab.common import RESUMABLE, WITH_WEIGHTS
from lab.data.edits import preview
from lab.data.sources import heldout_question
from lab.errors import LabError
from lab.labels import STRATEGIES, special_token_strings
from lab.labels.check import before_training
from lab.models import QUANTIZATIONS
from lab.models.devices import pick_device
from lab.models.references import model_config, no_full_fine_tuning
from lab.train import DEFAULT_LR, ENGINES, METHODS, RunConfig
from lab.train.config import DTYPES
from lab.train.hardware import model_shape, precision_sentence
from lab.train.run_files import read_precision
from lab.views import loss_curves, text_view
from lab.views.run_rows import LOSS_COLUMNS, queue_places, run_label, run_row

SELECTED = "train_selected_run"
DEFAULTS = RunConfig()
st.title("Train")
store = app_runs.page_store()
if store is None:
    st.stop()
runner = app_runs.runner()
tokenizer, fmt = app_state.tokenizer(), app_state.fmt()
examples = app_state.examples()


def number(column, label: str, name: str, low, high, **kwargs):
    """A number field whose default and tooltip are the RunConfig field's."""
    return column.number_input(
        label, low, high, kwargs.pop("value", getattr(DEFAULTS, name)), help=RunConfig.help_for(name), **kwargs
    )


@st.cache_data(show_spinner="Checking what this strategy trains…", max_entries=16)
def _traps_of(revision, model: str, template: str, strategy: str, fmt: str, chosen: tuple, _examples, _tokenizer):
    picked = [_examples[i] for i in chosen] if chosen else _examples
    return before_training(picked[:TRAP_SAMPLE], _tokenizer, fmt, strategy)


def _traps(strategy: str, fmt: str, chosen: tuple):
    """What the run would train that is likely not meant, on the first examples it trains (cached per revision)."""
    try:
        return _traps_of(
            app_state.workspace().revision(),
            app_state.model_ref(),
            app_state.template(),
            strategy,
            fmt,
            chosen,
            examples,
            app_state.tokenizer(),
        )
    except LabError:
        return []


TRAP_SAMPLE = 32  # examples checked before Train: enough to find a template's trap, quick on every rerun


with st.expander("New run", expanded=not store.list()):
    kept = st.session_state.get(app_state.NEW_RUN_EXAMPLES) or []
    st.session_state[app_state.NEW_RUN_EXAMPLES] = [i for i in kept if 0 <= i < len(examples)]
    chosen = st.multiselect(
        f"Examples (empty: all {len(examples)})",
        range(len(examples)),
        key=app_state.NEW_RUN_EXAMPLES,
        format_func=lambda i: f"#{i} · {preview(examples[i], 40)}",
    )
    left, middle, right = st.columns(3)
    strategy = left.selectbox(
        "Strategy (what is learned)",
        STRATEGIES,
        # special-mask is the seed lesson's, in its classic format; under a chat template its bos opens every
        # turn, so there the default is TRL's completion-only loss (RunConfig's).
        index=STRATEGIES.index("special-mask" if fmt == "classic" else DEFAULTS.strategy),
        help=RunConfig.help_for("strategy"),
    )
    weight = left.slider(
        "Prompt weight w",
        0.0,
        1.0,
        DEFAULTS.prompt_weight,
        0.01,
        disabled=strategy != "prompt-weight",
        help=RunConfig.help_for("prompt_weight"),
    )
    engine = left.radio(
        "Engine",
        ENGINES,
        horizontal=True,
        help=(
            "lab: the fast loop (lm_head only where a token is learned). trl: TRL's SFTTrainer itself, with "
            "strategy trl-completion or trl-assistant."
        ),
    )
    dtype = left.radio("Precision", DTYPES, horizontal=True, help=RunConfig.help_for("dtype"))
    device = pick_device(st.session_state.get(app_state.DEVICE, DEFAULTS.device))
    try:
        shape = model_shape(model_config(app_state.model_ref(), app_state.trust_remote_code()))
    except LabError:  # no config to read: the probe's default shape
        shape = None
    said = precision_sentence(dtype, device, shape)  # measured once per machine and shape, then read back
    left.caption(
        app_state.markdown_text(said)
        + ("." if engine == "lab" else ". The trl engine trains in fp32 on a CPU, bf16 on a GPU.")
    )
    quantized = app_state.quantization_for(app_state.model_ref(), app_state.trust_remote_code())
    if quantized:
        middle.warning(app_state.markdown_text(no_full_fine_tuning(f"This model is quantized ({quantized})")) + ".")
    method = middle.radio(
        "Method",
        METHODS,
        horizontal=True,
        index=METHODS.index("lora" if quantized else DEFAULTS.method),
        help=RunConfig.help_for("method"),
    )
    quantization = middle.radio(
        "Quantize the frozen base (QLoRA)",
        QUANTIZATIONS,
        horizontal=True,
        disabled=method != "lora",
        help=RunConfig.help_for("quantization"),
    )
    sizes = app_state.weight_bytes_for(app_state.model_ref(), app_state.trust_remote_code())
    if sizes and method == "lora":
        middle.caption(
            "Base weights in memory: "
            + ", ".join(
                f"{name} {sizes[q] / 2**20:,.0f} MiB"
                + (f" ({sizes['none'] / sizes[q]:.1f}x less)" if q != "none" else "")
                for q, name in (("none", "fp32"), ("4bit", "4-bit NF4"), ("8bit", "8-bit"))
            )
            + ". The adapters and their optimizer state are the same in each."
        )
    lora_r = number(middle, "LoRA r", "lora_r", 1, 256, disabled=method != "lora")
    lora_alpha = number(middle, "LoRA alpha", "lora_alpha", 1, 512, disabled=method != "lora")
    epochs = number(right, "Epochs", "epochs", 1, 1000)
    lr = number(right, "Learning rate", "lr", 1e-7, 1.0, value=DEFAULT_LR[method], step=1e-5, format="%.0e")
    batch = number(right, "Batch size", "batch_size", 1, 256)
    batch_tokens = number(right, "Tokens per batch (at most, with padding)", "batch_tokens", 1, 1 << 20)
    accumulation = number(right, "Gradient accumulation", "grad_accum", 1, 256)
    max_length = number(right, "Max length (tokens)", "max_length", 8, 32768)
    seed = number(right, "Seed", "seed", 0, 2**31 - 1)
    with right.expander("Larger than one GPU? Place the base over devices"):
        max_memory = st.text_input(
            "Max memory per device",
            key="train-max-memory",
            placeholder="e.g. cuda:0=20GiB,cuda:1=20GiB",
            help=RunConfig.help_for("max_memory") + ". Empty: the whole model on one device.",
        ).strip()
    for group in _traps(strategy, fmt, tuple(chosen)):  # after the form is drawn: it may take a second (TRL)
        st.warning(f"Before you train: {app_state.markdown_text(group.sentence(shown=6))}.")
    if st.button("Train", type="primary"):
        config = RunConfig(
            model=app_state.model_ref(),
            format=fmt,
            template=app_state.template(),
            strategy=strategy,
            prompt_weight=weight,
            method=method,
            lora_r=int(lora_r),
            lora_alpha=int(lora_alpha),
            quantization=quantization if method == "lora" else "none",
            epochs=int(epochs),
            lr=float(lr),
            batch_size=int(batch),
            batch_tokens=int(batch_tokens),
            grad_accum=int(accumulation),
            max_length=int(max_length),
            seed=int(seed),
            device=st.session_state.get(app_state.DEVICE, DEFAULTS.device),
            dtype=dtype,
            max_memory=max_memory,
            engine=engine,
            trust_remote_code=app_state.trust_remote_code(),
        )
        try:
            picked = [examples[i] for i in chosen] if chosen else examples
            st.session_state[SELECTED] = runner.submit(config.validate(), picked)
        except LabError as e:
            st.error(f"Cannot start this run: {app_state.markdown_text(str(e))}.")

runs = store.list()
if not runs:
    st.info("No runs yet: open “New run” and press Train.")
    st.stop()
ids = [r.id for r in runs]
if st.session_state.get(SELECTED) not in ids:
    st.session_state[SELECTED] = ids[0]
active = any(r.active for r in runs)


LIVE_SECONDS = 2.0  # how often the live view redraws while anything trains


@st.fragment(run_every=LIVE_SECONDS if active else None)
def live_view() -> None:
    """The selected run and the runs table, redrawn every LIVE_SECONDS while anything trains; the rest of the
    page stays usable. One fragment: each redraw is one script run."""
    live_run()
    st.subheader("Runs")
    runs_table()


def live_run() -> None:
    """The selected run: its status, progress, placement and loss curves."""
    run = store.get(st.session_state[SELECTED])
    training = [r for r in store.list() if r.status == "running"]
    if run.status == "queued" and training:  # the panel follows the run that trains; the queued one waits
        st.caption(f"Run {app_state.markdown_text(run_label(run))} is queued; this is the run training now.")
        run = training[0]
    metrics = store.metrics(run.id)
    last = metrics[-1] if metrics else {}
    header, stop = st.columns([5, 1])
    header.markdown(
        f"**Run {app_state.markdown_text(run_label(run))}** · {run.status} · {run.config.engine} engine"
        + (f" · {app_state.markdown_text(run.message)}" if run.message else "")
    )
    if run.active and stop.button("Stop", key=f"stop-{run.id}", disabled=run.stop_requested):
        store.request_stop(run.id)
    if run.total_steps:
        seconds, left = run.seconds(last or None), run.seconds_left(last or None)
        timing = f" · about {left:.0f} s left" if left is not None else ""
        if not run.active and seconds is not None:
            timing = f" · trained {seconds:.1f} s"
        st.progress(
            run.step / run.total_steps,
            text=f"step {run.step}/{run.total_steps} · epoch {last.get('epoch', 0):.1f}/{run.config.epochs} · "
            f"{last.get('tokens_per_s', 0):.0f} tokens/s" + timing,
        )
    elif run.status == "queued":
        st.progress(0.0, text="queued: it trains when the runs before it are done")
    elif run.active:
        st.progress(0.0, text="loading the model and tokenizing…")
    placed = (read_precision(store.run_folder(run.id)) or {}).get("placement")
    if placed:
        st.caption(f"Placed by accelerate's device map: {app_state.markdown_text(placed)}.")
    if metrics:
        st.plotly_chart(
            app_state.styled(loss_curves(metrics, run.id)), theme=None, width="stretch", key=f"curve-{run.id}"
        )
    if run.active:
        st.caption("While a run trains, it shares the CPU cores with the pages: other pages answer more slowly.")
    if active and not any(r.active for r in store.list()):
        st.rerun()  # everything finished: redraw the whole page once and stop polling


def runs_table() -> None:
    """Every run with its progress and last losses, redrawn with the live view while anything trains."""
    runs_now = store.list()
    finals = store.last_metrics()
    shown = (
        "run", "status", "model", "strategy", "method", "epochs", "format", "steps", *LOSS_COLUMNS, "seconds", "note",
    )  # fmt: skip
    places = queue_places(runs_now)
    rows = [
        {k: v for k, v in run_row(r, finals.get(r.id), queued=places.get(r.id)).items() if k in shown} for r in runs_now
    ]
    table = st.dataframe(
        rows,
        hide_index=True,
        width="stretch",
        on_select="rerun",
        selection_mode="single-row",
        key="runs_table",
        column_config={k: st.column_config.NumberColumn(format="%.4f") for k in LOSS_COLUMNS}
        | {"seconds": st.column_config.NumberColumn(help="training time, summed over every stop and resume")},
    )
    st.caption(
        "Select a row to open its run. Losses are the last logged step's; prompt and completion losses are "
        "measured whatever the run trained on."
    )
    picked_rows = table.selection.rows if table and table.selection else []
    if picked_rows and runs_now[picked_rows[0]].id != st.session_state[SELECTED]:
        st.session_state[SELECTED] = runs_now[picked_rows[0]].id
        st.rerun()


live_view()
run = store.get(st.session_state[SELECTED])
actions = st.columns(3)
if run.status in RESUMABLE and actions[0].button(
    "Resume", help=("Goes on from the last checkpoint: the step a stop ended at, or the last epoch saved.")
):
    runner.resume(run.id)
    st.rerun()
with actions[1].popover("Delete", disabled=run.active):
    st.write(f"Delete run {run.id}, its metrics and its weights?")
    if st.button("Yes, delete it", type="primary"):
        store.delete(run.id)
        st.session_state.pop(SELECTED, None)
        st.rerun()

final = store.run_folder(run.id) / "final"
if run.status in WITH_WEIGHTS and final.is_dir():
    st.subheader("Base vs fine-tuned")
    question = st.text_input("Question", heldout_question()[0], key="compare_question")
    if st.button("Answer with both"):
        base = app_runs.answer_for(run.config, None, question)  # asked as the run is: its format and template
        tuned = app_runs.answer_for(run.config, run.id, question)
        specials = special_token_strings(app_state.tokenizer_for(run.config.model, run.config.trust_remote_code))
        left, right = st.columns(2)
        left.markdown("**Base model**")
        left.html(text_view(base, specials))
        right.markdown(f"**Fine-tuned ({run.id})**")
        right.html(text_view(tuned, specials))
        st.caption(
            "Greedy, 8 new tokens. The prompt ends where the answer starts in the run's format; special tokens "
            "are shown. Compare runs puts every run's answer beside the reference."
        )


if run.status in WITH_WEIGHTS and final.is_dir() and not run.active:
    app_further.take_it_further(store, run)
