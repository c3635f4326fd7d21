"""Teacher-forced predictions: full distributions, loss = -log p, and the trainer's loss for the example."""

import pytest
import torch

from lab.data.sources import load_sample
from lab.labels.strategies import completion_flags, label_example
from lab.labels.token_labels import LabelSettings
from lab.labels.tokens import tokenize_example
from lab.look.teacher_forcing import inspect_example, log_probs, mean_losses, weighted_mean_loss
from lab.models.references import load_model
from lab.models.tiny import build_tiny_model
from lab.train.config import RunConfig
from lab.train.execute import execute
from lab.train.loss import TrainItem, collate, weighted_loss
from lab.train.store import RunStore
from lab.train.weights import load_trained
from tests.conftest import DOG, SEED


@pytest.fixture(scope="module")
def other(tokenizer, tmp_path_factory):
    """A second tiny model (another seed): the "fine-tuned" side differs from the base everywhere."""
    folder = build_tiny_model(tmp_path_factory.mktemp("other") / "model", tokenizer, seed=1)
    return load_model(str(folder), "cpu", dtype=torch.float32)


def test_probabilities_sum_to_one_over_the_whole_vocabulary(tokenizer, tiny):
    item = tokenize_example(DOG, tokenizer, "classic")
    probs = log_probs(tiny, list(item.encoded.ids)).exp()
    assert probs.shape == (len(item.encoded) - 1, len(tokenizer))
    assert torch.allclose(probs.sum(dim=1), torch.ones(len(item.encoded) - 1), atol=1e-5)


def test_each_position_is_the_models_own_softmax_for_base_and_tuned(tokenizer, tiny, other):
    """Every probability, loss, rank and candidate, checked against torch.log_softmax of each model's logits."""
    item = tokenize_example(DOG, tokenizer, "classic")
    labels = label_example(item, tokenizer, ("special-mask",))["special-mask"]
    positions = inspect_example(item, labels, completion_flags(item, tokenizer), tokenizer, tiny, other, top_k=3)
    ids = list(item.encoded.ids)
    assert [p.position for p in positions] == list(range(1, 24)) and [p.token_id for p in positions] == ids[1:]
    for model, side in ((tiny, "base"), (other, "tuned")):
        with torch.no_grad():
            logits = model(input_ids=torch.tensor([ids])).logits[0]
        for p in positions:
            row = torch.log_softmax(logits[p.position - 1].double(), dim=-1)  # position t is predicted at t-1
            own = torch.log_softmax(logits[p.position - 1], dim=-1)  # the model's fp32: ranks and ties as it sees them
            prediction = getattr(p, side)
            assert prediction.prob == pytest.approx(float(row[p.token_id].exp()), rel=1e-4)
            assert prediction.loss == pytest.approx(float(-row[p.token_id]), rel=1e-4, abs=1e-6)
            assert prediction.rank == 1 + int((own > own[p.token_id]).sum())
            top = own.topk(3)
            assert [c.token_id for c in prediction.top] == top.indices.tolist()
            assert [c.prob for c in prediction.top] == pytest.approx(row[top.indices].exp().tolist(), rel=1e-4)
            assert [c.text for c in prediction.top] == [tokenizer.decode([i]) for i in top.indices.tolist()]
    assert all(p.base.prob != p.tuned.prob for p in positions)  # two models, two columns
    assert [p.trained for p in positions][-3:] == [True, True, True] and not positions[0].trained
    assert positions[-1].token == "<|im_end|>" and positions[-1].completion


def test_the_mean_over_counted_positions_is_the_trainers_loss(tokenizer, tiny):
    item = tokenize_example(DOG, tokenizer, "classic")
    for strategy in ("special-mask", "prompt-weight", "copy"):
        labels = label_example(item, tokenizer, (strategy,), LabelSettings(0.3))[strategy]
        completion = completion_flags(item, tokenizer)
        positions = inspect_example(item, labels, completion, tokenizer, tiny)
        batch = collate(
            [TrainItem(item.encoded.ids, labels.labels, labels.weights, tuple(completion))], tokenizer.pad_token_id
        )
        with torch.no_grad():
            trainer = float(weighted_loss(tiny, batch).weighted_sum / batch.total_weight)
        assert weighted_mean_loss(positions, labels) == pytest.approx(trainer, rel=1e-5)
    means = mean_losses(positions)
    assert means["completion_before"] == pytest.approx(sum(p.base.loss for p in positions[-3:]) / 3)
    assert means["prompt_after"] is None


def test_a_lora_run_is_inspected_as_its_adapter_on_the_base(tokenizer, tiny_model_dir, tmp_path):
    store = RunStore(tmp_path)
    config = RunConfig(**SEED, model=str(tiny_model_dir), method="lora", epochs=3, lr=5e-2, dtype="fp32")
    run_id = store.create(config, load_sample("spanish"))
    assert execute(store, run_id) == "done"
    assert (store.run_folder(run_id) / "final" / "adapter_model.safetensors").is_file()
    tuned = load_trained(config, store.run_folder(run_id) / "final", "cpu")
    base = load_model(str(tiny_model_dir), "cpu", dtype=torch.float32)
    item = tokenize_example(DOG, tokenizer, "classic")
    labels = label_example(item, tokenizer, ("special-mask",))["special-mask"]
    positions = inspect_example(item, labels, completion_flags(item, tokenizer), tokenizer, base, tuned)
    means = mean_losses(positions)
    assert means["completion_after"] < means["completion_before"]


def test_on_the_shipped_model_the_masked_seed_run_learns_the_answers_not_the_prompt(tokenizer, tmp_path):
    """Seed 000's finding, end to end: after masked training the answer is predicted, the prompt is not."""
    store = RunStore(tmp_path)
    config = RunConfig(**SEED, epochs=15, dtype="fp32")
    run_id = store.create(config, load_sample("spanish"))
    assert execute(store, run_id) == "done"
    base = load_model(None, "cpu")
    tuned = load_trained(config, store.run_folder(run_id) / "final", "cpu")
    item = tokenize_example(DOG, tokenizer, "classic")
    labels = label_example(item, tokenizer, ("special-mask",))["special-mask"]
    positions = inspect_example(item, labels, completion_flags(item, tokenizer), tokenizer, base, tuned)
    means = mean_losses(positions)
    assert means["completion_after"] < 0.05 < 1.0 < means["completion_before"]
    assert means["prompt_after"] > means["prompt_before"]  # never trained on: it drifts
    trained = [p for p in positions if p.trained]
    assert [p.token for p in trained] == [" per", "ro", "<|im_end|>"] and all(p.tuned.rank == 1 for p in trained)
