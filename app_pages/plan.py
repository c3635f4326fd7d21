"""Will it fit? The memory of fine-tuning a model by each method, counted from its config (nothing is loaded)."""

import streamlit as st

import app_state
from lab.errors import LabError
from lab.models import PLAN_DTYPES, PLAN_METHODS
from lab.models.plan import ACTIVATIONS_HOW, PARTS, map_summary
from lab.models.references import resolve
from lab.views import plan_figure
from lab.views.figures import PLAN_LABELS

st.title("Will it fit?")
st.caption(
    "The memory one training step needs, for each way of fine-tuning, counted from the model's config on the meta "
    "device: no weight is loaded or downloaded, so any model whose config you have can be planned."
)
top = st.columns([3, 2, 2, 2])
ref = (
    top[0]
    .text_input("Model (built-in name, local folder or hub id)", value=app_state.model_ref(), key="plan_model")
    .strip()
)
dtype = top[1].radio(
    "Weights held in", PLAN_DTYPES, horizontal=True, key="plan_dtype", help="bf16: as `dtype=bfloat16` loads them"
)
batch = top[2].number_input("Batch size", 1, 4096, 1, key="plan_batch")
seq = top[3].number_input("Sequence length", 1, 1_000_000, 512, step=128, key="plan_seq")
below = st.columns([3, 4])
checkpointing = below[0].toggle(
    "Gradient checkpointing", key="plan_checkpointing", help="keep each layer's input and recompute the rest"
)
memory = (
    below[1]
    .text_input(
        "Devices and their memory (empty: this machine)",
        key="plan_memory",
        placeholder="e.g. cuda:0=24GiB  or  cuda:0=24GiB,cuda:1=24GiB,cpu=64GiB",
    )
    .strip()
)

try:
    resolve(ref)  # a folder or name that cannot be, said before any work
    with st.spinner("Counting on the meta device…"):
        plans = [
            app_state.plan_for(
                ref, m, dtype, int(batch), int(seq), checkpointing, memory, app_state.trust_remote_code()
            )
            for m in PLAN_METHODS
        ]
except LabError as e:
    st.error(app_state.markdown_text(str(e)))
    st.stop()

capacity = plans[0].capacity
peak = max(p.bytes["total"] for p in plans)
drawn = {d: size for d, size in capacity.items() if memory or size <= 3 * peak}
st.plotly_chart(app_state.styled(plan_figure(plans, drawn)), theme=None, key="plan_figure")
if not drawn:
    device, size = next(iter(capacity.items()))
    st.caption(f"This machine's {device} has {size / 2**30:.1f} GiB (not drawn: far above every bar).")

for p in plans:
    mark = ":green[:material/check_circle:]" if p.fits else ":red[:material/cancel:]"
    st.markdown(f"{mark} **{PLAN_LABELS[p.method]}**: {app_state.markdown_text(p.sentence())}")

app_state.table(
    [
        {
            "method": PLAN_LABELS[p.method],
            "trained parameters": p.trainable_parameters,
            **{f"{part} (GiB)": p.bytes[part] / 2**30 for part in PARTS},
            "peak (GiB)": p.bytes["total"] / 2**30,
        }
        for p in plans
    ],
    column_config={f"{c} (GiB)": st.column_config.NumberColumn(format="%.3f") for c in (*PARTS, "peak")},
)
st.caption(
    f"{plans[0].parameters:,} parameters. Gradients and AdamW's two moments are kept for the trained parameters "
    "only, in their dtype (LoRA adapters: fp32). The peak is weights + moments + the larger of gradients and "
    "activations: the backward frees each layer's activations as it makes that layer's gradients. "
    f"Activations are {ACTIVATIONS_HOW}."
)

if "cpu" in capacity:
    st.caption(
        "On a CPU, resident memory runs above these counts: glibc keeps freed memory in per-thread arenas, and a "
        "lab run keeps it on purpose for speed. Measured here (`benchmarks/plan_vs_peak.py`), what the program "
        "held was within 5% of the plan and resident memory was 1.2 to 2.2 times it: leave 1.5-2x free."
    )

if len(capacity) > 1 or memory:
    st.subheader("Where each part sits")
    shown = st.radio("Method", PLAN_METHODS, format_func=PLAN_LABELS.get, horizontal=True, key="plan_map_method")
    chosen = plans[PLAN_METHODS.index(shown)]
    app_state.table(
        [
            {
                "device": device,
                "modules": names,
                "count": count,
            }
            for device, names, count in map_summary(chosen.device_map)
        ]
    )
    app_state.table(
        [
            {"device": d, "planned (GiB)": used / 2**30, "memory (GiB)": chosen.capacity.get(d, 0) / 2**30}
            for d, used in chosen.per_device.items()
        ]
    )
    st.caption(
        "accelerate's device map (`infer_auto_device_map`), each device offered the share of its memory that "
        "weights take of the plan, so that a module's gradients, moments and activations fit beside it."
    )
else:
    device, size = next(iter(capacity.items()))
    st.caption(f"One device: {device} ({size / 2**30:.1f} GiB).")
