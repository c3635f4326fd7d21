"""Finished runs on the tiny model to export: a full run and a LoRA run of the seed set."""

import pytest

from lab.data import load_sample
from lab.train import RunConfig, RunStore, execute
from tests.conftest import SEED


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> RunStore:
    return RunStore(tmp_path_factory.mktemp("home"))


def finished(store: RunStore, tiny_model_dir, sample: str = "spanish", **changes) -> str:
    """A run trained to its end (3 epochs, fp32) with the given RunConfig changes."""
    settings = SEED | dict(model=str(tiny_model_dir), epochs=3, lr=1e-2, dtype="fp32") | changes
    run_id = store.create(RunConfig(**settings), load_sample(sample))
    assert execute(store, run_id) == "done"
    return run_id
