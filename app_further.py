"""The Train page's "Take it further" box for a finished run: the model exported for others to load, and the same
run handed to TRL's CLI under accelerate (shown, downloadable, written to a folder)."""

from __future__ import annotations

import streamlit as st

import app_runs
import app_state
from lab.common import lab_home
from lab.errors import LabError
from lab.ship import export_model, write_handoff
from lab.ship.export import GGUF_NOTE
from lab.train import Run, RunStore
from lab.views import sentences


def _folder(column, label: str, default, key: str) -> str:
    """Where to write: any folder on this machine, or on a lab shared with a room (not started with TRUST=1) the
    lab's own folder under its home, shown and not asked for: a viewer never writes to the server's folders."""
    if app_state.remote_code_allowed():
        return column.text_input(label, str(default), key=key)
    column.caption(
        f"{label.split(' (')[0]} `{app_state.markdown_text(str(default))}`: on a lab shared over the network, files "
        "go under the lab's home (or use the downloads)."
    )
    return str(default)


def take_it_further(store: RunStore, run: Run) -> None:
    """The Export box: the model others load, and the same run on TRL's CLI under accelerate."""
    st.subheader("Take it further")
    left, right = st.columns(2)
    left.markdown(
        "**The model**: safetensors, the tokenizer with its template, a generation config that stops "
        "where the fine-tune learned to stop, a model card"
    )
    folder = _folder(
        left, "Export to (a new or empty folder)", lab_home() / "exports" / run.id, f"export-folder-{run.id}"
    )
    lora = run.config.method == "lora"
    merge = left.checkbox(
        "Merge the adapter into the base (float32)",
        disabled=not lora,
        key=f"merge-{run.id}",
        help="Otherwise a LoRA run exports its adapter alone, for PEFT.",
    )
    if left.button("Export the model", key=f"export-{run.id}"):
        try:
            exported = export_model(store, run.id, folder, merge=merge and lora)
            where = app_state.markdown_text(str(exported.folder))
            left.success(f"Wrote {exported.weights} and {len(exported.files)} files to {where}.")
            left.html(sentences([f"`{name}`" for name in exported.files]))
        except LabError as e:
            left.error(f"Nothing was exported: {app_state.markdown_text(str(e))}.")
    left.caption(GGUF_NOTE)

    right.markdown(
        "**The same run with TRL's CLI**: its data, `sft.yaml` for `trl sft --config`, and "
        "`launch.sh` with the accelerate commands (DDP, FSDP2, ZeRO)"
    )
    if right.button("Show the TRL hand-off", key=f"handoff-{run.id}"):
        st.session_state["handoff_shown"] = run.id
    if st.session_state.get("handoff_shown") != run.id:
        return
    try:
        with right, st.spinner("Reading the run's examples through TRL's own preparation…"):
            handoff = app_runs.handoff_for(run.id)
    except LabError as e:
        right.error(f"No hand-off: {app_state.markdown_text(str(e))}.")
        return
    right.info(
        f"Loss: {handoff.setting}. "
        + (
            f"What differs from the run: {handoff.differs}."
            if handoff.differs
            else "TRL trains exactly the labels the run trained."
        )
    )
    right.code(handoff.files["sft.yaml"], language="yaml", wrap_lines=True)
    right.code(handoff.files["launch.sh"], language="bash", wrap_lines=True)
    downloads = right.columns(len(handoff.files))
    for column, (name, text) in zip(downloads, handoff.files.items()):
        column.download_button(name, text, file_name=name, key=f"download-{name}-{run.id}")
    target = _folder(
        right, "Write them to (a new or empty folder)", lab_home() / "trl" / run.id, f"handoff-folder-{run.id}"
    )
    if right.button("Write the hand-off", key=f"write-handoff-{run.id}"):
        try:
            written = write_handoff(handoff, target)
            where = app_state.markdown_text(target)
            right.success(f"Wrote {', '.join(p.name for p in written)} to {where}: run {where}/launch.sh.")
        except LabError as e:
            right.error(f"Nothing was written: {app_state.markdown_text(str(e))}.")
