"""The Streamlit glue of the run store: the store as pages open it (a damaged one rebuilt and said so, one
that cannot be used named in a sentence), the process's training worker, and the caches of what a run's
weights give (keyed by the version of those weights, so a resumed run's new weights are never hidden)."""

from __future__ import annotations

import json

import streamlit as st

import app_state
from lab.common import lab_home
from lab.data import Example
from lab.data.examples import example_to_row
from lab.labels import LabelSettings, completion_flags, label_example, tokenize_example
from lab.look import greedy_answer, inspect_example
from lab.look.run_models import run_prompt
from lab.ship import trl_handoff
from lab.train import RunConfig, RunStore, load_trained, runner_for
from lab.train.store import StoreError

# Sentences of stores rebuilt from their run folders in this process, by lab home: every viewer is told once.
_RECOVERED: dict[str, str] = {}
SEEN_RECOVERY = "runs_recovery_seen"


def page_store() -> RunStore | None:
    """The run store for a page, or None after saying in the page why it cannot be used (a full or read-only
    home); a store that was rebuilt from the run folders is said once per viewer."""
    # One container, always drawn: a notice shown once must not move the widgets below it (the New run expander
    # one place further down is a new expander to Streamlit, and closed on the viewer's next change).
    said = st.container()
    try:
        store = run_store()
        store.mark_interrupted()  # runs whose process died read interrupted before the page lists them
    except StoreError as e:
        said.error(f"The run store cannot be used: {app_state.markdown_text(str(e))}.")
        return None
    if store.recovered:
        _RECOVERED[str(store.home)] = store.recovered
    notice = _RECOVERED.get(str(store.home))
    if notice and st.session_state.get(SEEN_RECOVERY) != notice:
        said.warning(f"Runs: {app_state.markdown_text(notice)}.")
        st.session_state[SEEN_RECOVERY] = notice
    return store


def run_store() -> RunStore:
    return RunStore(lab_home())


def runner():
    """The process's one training worker (lab.train.runner keeps it across Streamlit's re-imports)."""
    return runner_for(lab_home())


def trained_model_for(run_id: str):
    """A run's fine-tuned model as its final weights are now (full weights, or its adapter on the base)."""
    return _trained_model(run_id, run_store().weights_version(run_id))


@st.cache_resource(show_spinner=False, max_entries=2)
def _trained_model(run_id: str, version: str | None):
    """Cached per run and per version of its weights: a resumed run that finishes gets its new weights."""
    store = run_store()
    return load_trained(store.get(run_id).config, store.final_weights(run_id), "cpu")


def positions_for(run_id: str, example: Example, top_k: int = 5):
    """Every position of an example under the base model and a run's fine-tuned one, and the run's labels for
    it (cached per run, version of its weights, the example's content and k)."""
    content = json.dumps(example_to_row(example), ensure_ascii=False)
    return _positions(run_id, run_store().weights_version(run_id), content, top_k, example)


@st.cache_data(show_spinner="Running the base and the fine-tuned model…", max_entries=32)
def _positions(run_id: str, weights: str | None, content: str, top_k: int, _example: Example):
    config = run_store().get(run_id).config
    tokenizer = app_state.templated_tokenizer(config.model, config.trust_remote_code, config.template)
    item = tokenize_example(_example, tokenizer, config.format)
    labels = label_example(item, tokenizer, (config.strategy,), LabelSettings(config.prompt_weight))[config.strategy]
    base = app_state.model_for(config.model, "cpu", config.trust_remote_code)
    positions = inspect_example(
        item, labels, completion_flags(item, tokenizer), tokenizer, base, trained_model_for(run_id), top_k
    )
    return positions, labels


def answer_for(config: RunConfig, run_id: str | None, question: str) -> str:
    """The greedy answer to a question asked as a run with `config` was trained (its format and chat template,
    lab.look.run_models): run `run_id`'s fine-tuned model, or with None the base it started from (cached per
    run, version of its weights, settings and question)."""
    weights = run_store().weights_version(run_id) if run_id else None
    return _answer(json.dumps(config.to_json(), sort_keys=True), run_id, weights, question)


@st.cache_data(show_spinner="Answering…", max_entries=64)
def _answer(config_json: str, run_id: str | None, weights: str | None, question: str) -> str:
    config = RunConfig.from_json(json.loads(config_json))
    tokenizer = app_state.templated_tokenizer(config.model, config.trust_remote_code, config.template)
    prompt = run_prompt(config, question)
    chosen = trained_model_for(run_id) if run_id else app_state.model_for(config.model, "cpu", config.trust_remote_code)
    return greedy_answer(chosen, tokenizer, prompt, config.format)


def handoff_for(run_id: str):
    """The TRL hand-off of a run (cached per run and version of its weights: TRL reads its examples)."""
    return _handoff(run_id, run_store().weights_version(run_id))


@st.cache_data(show_spinner=False, max_entries=8)
def _handoff(run_id: str, weights: str | None):
    return trl_handoff(run_store(), run_id)
