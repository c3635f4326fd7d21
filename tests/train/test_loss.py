"""The weighted loss: shift by one, seed 002's formula in float64, w = 0 / w = 1, and accumulation."""

import pytest
import torch

from lab.data.sources import load_sample
from lab.labels.strategies import label_example
from lab.labels.token_labels import LabelSettings
from lab.labels.tokens import tokenize_example
from lab.train.batches import training_items
from lab.train.config import RunConfig
from lab.train.loss import TrainItem, collate, reference_loss, weighted_loss
from tests.conftest import DOG


def items_for(tokenizer, strategy, weight=0.1, sample="multiturn"):
    config = RunConfig(format="classic", strategy=strategy, prompt_weight=weight)
    return training_items(load_sample(sample), tokenizer, config).items


def test_collate_shifts_labels_weights_and_completion_by_one():
    item = TrainItem(
        ids=(5, 6, 7, 8), labels=(-100, -100, 7, 8), weights=(0.0, 0.0, 1.0, 1.0), completion=(False, False, True, True)
    )
    batch = collate([item, TrainItem((9, 10), (9, 10), (0.5, 0.5), (False, True))], pad_id=2)
    assert batch.input_ids.tolist() == [[5, 6, 7, 8], [9, 10, 2, 2]]
    assert batch.attention_mask.tolist() == [[1, 1, 1, 1], [1, 1, 0, 0]]
    assert batch.targets.tolist() == [[6, 7, 8, -100], [10, -100, -100, -100]]
    assert batch.weights.tolist() == [[0.0, 1.0, 1.0, 0.0], [0.5, 0.0, 0.0, 0.0]]
    assert batch.completion.tolist() == [[False, True, True, False], [True, False, False, False]]
    assert batch.total_weight == 2.5 and batch.tokens == 6


def test_the_fast_loss_equals_seed_002s_formula_in_float64(tokenizer, tiny):
    batch = collate(items_for(tokenizer, "prompt-weight", 0.3), tokenizer.pad_token_id)
    with torch.no_grad():
        fast = weighted_loss(tiny, batch).weighted_sum / batch.total_weight
        logits = tiny(input_ids=batch.input_ids, attention_mask=batch.attention_mask).logits
    assert float(fast) == pytest.approx(float(reference_loss(logits, batch)), rel=1e-5)


def test_weight_0_is_the_masked_loss_and_weight_1_the_copy_loss(tokenizer, tiny):
    def loss(strategy, w=0.1):
        batch = collate(items_for(tokenizer, strategy, w), tokenizer.pad_token_id)
        with torch.no_grad():
            return float(weighted_loss(tiny, batch).weighted_sum / batch.total_weight)

    assert loss("prompt-weight", 0.0) == pytest.approx(loss("special-mask"), rel=1e-6)
    assert loss("prompt-weight", 1.0) == pytest.approx(loss("copy"), rel=1e-6)


def test_measured_prompt_and_completion_losses_whatever_the_weights(tokenizer, tiny):
    masked = collate(items_for(tokenizer, "special-mask"), tokenizer.pad_token_id)
    full = collate(items_for(tokenizer, "copy"), tokenizer.pad_token_id)
    with torch.no_grad():
        a, b = weighted_loss(tiny, masked), weighted_loss(tiny, full)
    assert a.prompt_count == b.prompt_count > 0 and a.completion_count == b.completion_count > 0
    assert a.prompt_loss_sum == pytest.approx(b.prompt_loss_sum, rel=1e-5)
    assert a.completion_loss_sum == pytest.approx(b.completion_loss_sum, rel=1e-5)


def test_batch_1_times_accumulation_4_updates_like_batch_4(tokenizer, tiny):
    items = items_for(tokenizer, "prompt-weight", 0.2)[:4]  # different lengths: padding in the big batch

    def gradient(batches):
        tiny.zero_grad()
        total = sum(b.total_weight for b in batches)
        for b in batches:
            (weighted_loss(tiny, b, measure=False).weighted_sum / total).backward()
        return torch.cat([p.grad.flatten() for p in tiny.parameters()])

    one_by_four = gradient([collate([i], tokenizer.pad_token_id) for i in items])
    four_at_once = gradient([collate(items, tokenizer.pad_token_id)])
    tiny.zero_grad()
    assert torch.allclose(one_by_four, four_at_once, atol=1e-6, rtol=1e-4)


def test_training_items_carry_exactly_the_labels_tokens_and_labels_shows(tokenizer):
    example = DOG
    for strategy in ("copy", "special-mask", "response-template", "trl-completion", "prompt-weight"):
        [item] = training_items(
            [example], tokenizer, RunConfig(format="classic", strategy=strategy, prompt_weight=0.25)
        ).items
        shown = label_example(tokenize_example(example, tokenizer, "classic"), tokenizer, settings=LabelSettings(0.25))
        assert item.labels == shown[strategy].labels and item.weights == shown[strategy].weights
