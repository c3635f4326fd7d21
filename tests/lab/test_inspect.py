"""Teacher-forced predictions: full distributions, loss = -log p, and the trainer's loss for the example."""

import math

import pytest
import torch

from lab.examples import single_turn
from lab.inspect import inspect_example, log_probs, mean_losses, weighted_mean_loss
from lab.labels import LabelSettings, completion_flags, label_example, prepare
from lab.loss import TrainItem, collate, weighted_loss
from lab.models import load_model

DOG = single_turn('How do you say "dog" in Spanish?', "perro")


@pytest.fixture(scope="module")
def tiny(tiny_model_dir):
    return load_model(str(tiny_model_dir), "cpu", dtype=torch.float32)


def test_probabilities_sum_to_one_over_the_whole_vocabulary(tokenizer, tiny):
    item = prepare(DOG, tokenizer, "classic")
    probs = log_probs(tiny, list(item.encoded.ids)).exp()
    assert probs.shape == (len(item.encoded) - 1, len(tokenizer))
    assert torch.allclose(probs.sum(dim=1), torch.ones(len(item.encoded) - 1), atol=1e-5)


def test_each_loss_is_minus_log_p_and_the_rank_counts_better_tokens(tokenizer, tiny):
    item = prepare(DOG, tokenizer, "classic")
    labels = label_example(item, tokenizer, ("special-mask",))["special-mask"]
    positions = inspect_example(item, labels, completion_flags(item, tokenizer), tokenizer, tiny, tiny, top_k=3)
    assert [p.position for p in positions] == list(range(1, 24))
    logp = log_probs(tiny, list(item.encoded.ids))
    for p in positions:
        assert p.base.loss == pytest.approx(-math.log(p.base.prob), rel=1e-5)
        assert p.base.rank == int((logp[p.position - 1] > logp[p.position - 1, p.token_id]).sum()) + 1
        assert [c.prob for c in p.base.top] == sorted((c.prob for c in p.base.top), reverse=True)
        assert p.tuned == p.base  # the same model twice
    assert [p.trained for p in positions][-3:] == [True, True, True] and not positions[0].trained
    assert positions[-1].token == "<|im_end|>" and positions[-1].completion


def test_the_mean_over_counted_positions_is_the_trainers_loss(tokenizer, tiny):
    item = prepare(DOG, tokenizer, "classic")
    for strategy in ("special-mask", "prompt-weight", "copy"):
        labels = label_example(item, tokenizer, (strategy,), LabelSettings(0.3))[strategy]
        completion = completion_flags(item, tokenizer)
        positions = inspect_example(item, labels, completion, tokenizer, tiny)
        batch = collate([TrainItem(item.encoded.ids, labels.labels, labels.weights, tuple(completion))],
                        tokenizer.pad_token_id)
        with torch.no_grad():
            trainer = float(weighted_loss(tiny, batch).weighted_sum / batch.total_weight)
        assert weighted_mean_loss(positions, labels) == pytest.approx(trainer, rel=1e-5)
    means = mean_losses(positions)
    assert means["completion_before"] == pytest.approx(sum(p.base.loss for p in positions[-3:]) / 3)
    assert means["prompt_after"] is None


def test_a_lora_run_is_inspected_as_its_adapter_on_the_base(tokenizer, tiny_model_dir, tmp_path):
    from lab.execute import execute
    from lab.examples import load_sample
    from lab.runs import RunStore
    from lab.training import RunConfig, load_trained

    store = RunStore(tmp_path)
    config = RunConfig(model=str(tiny_model_dir), method="lora", epochs=3, lr=5e-2)
    run_id = store.create(config, load_sample("spanish"))
    assert execute(store, run_id) == "done"
    assert (store.run_folder(run_id) / "final" / "adapter_model.safetensors").is_file()
    tuned = load_trained(config, store.run_folder(run_id) / "final", "cpu")
    base = load_model(str(tiny_model_dir), "cpu", dtype=torch.float32)
    item = prepare(DOG, tokenizer, "classic")
    labels = label_example(item, tokenizer, ("special-mask",))["special-mask"]
    positions = inspect_example(item, labels, completion_flags(item, tokenizer), tokenizer, base, tuned)
    means = mean_losses(positions)
    assert means["completion_after"] < means["completion_before"]


def test_on_the_shipped_model_the_masked_seed_run_learns_the_answers_not_the_prompt(tokenizer, tmp_path):
    """Seed 000's finding, end to end: after masked training the answer is predicted, the prompt is not."""
    from lab.execute import execute
    from lab.examples import load_sample
    from lab.runs import RunStore
    from lab.training import RunConfig, load_trained

    store = RunStore(tmp_path)
    config = RunConfig(strategy="special-mask", epochs=15)
    run_id = store.create(config, load_sample("spanish"))
    assert execute(store, run_id) == "done"
    base = load_model(None, "cpu")
    tuned = load_trained(config, store.run_folder(run_id) / "final", "cpu")
    item = prepare(DOG, tokenizer, "classic")
    labels = label_example(item, tokenizer, ("special-mask",))["special-mask"]
    positions = inspect_example(item, labels, completion_flags(item, tokenizer), tokenizer, base, tuned)
    means = mean_losses(positions)
    assert means["completion_after"] < 0.05 < 1.0 < means["completion_before"]
    assert means["prompt_after"] > means["prompt_before"]  # never trained on: it drifts
    trained = [p for p in positions if p.trained]
    assert [p.token for p in trained] == [" per", "ro", "<|im_end|>"] and all(p.tuned.rank == 1 for p in trained)
