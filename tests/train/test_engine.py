"""The lab engine on a tiny model: every strategy and method learns, logged losses equal a float64
computation, accumulation, a golden loss, stop and resume, NaN, checkpoints, batches, clipping."""

import copy

import pytest
import torch

from lab.common import IGNORE_INDEX
from lab.data.sources import load_sample
from lab.errors import LabError, TrainingFailed
from lab.train.batches import batches_for_epoch, run_batches, steps_per_epoch, training_items
from lab.train.config import RunConfig
from lab.train.engine import clip_gradients, train_lab
from lab.train.loss import TrainItem
from lab.train.weights import model_for_training
from tests.conftest import SEED


def tiny_config(tiny_model_dir, **changes):
    base = SEED | dict(model=str(tiny_model_dir), epochs=3, batch_size=2, lr=1e-3, dtype="fp32", checkpoint_seconds=0)
    return RunConfig(**(base | changes))


def train(tokenizer, config, sample="spanish", model=None, **kwargs):
    items = training_items(load_sample(sample), tokenizer, config).items
    model = model or model_for_training(config, "cpu")
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    reports = []
    status = train_lab(
        model, items, config, "cpu", lambda r: reports.append(r) or True, tokenizer.pad_token_id, **kwargs
    )
    return model, before, reports, status


def float64_losses(model, items: list[TrainItem]) -> tuple[float, float, float]:
    """The weighted loss and the mean prompt and completion losses of a step over `items`, from full logits in
    float64 (seed 002's formula written out: token t+1 predicted at position t, no lm_head shortcut)."""
    model = copy.deepcopy(model).double().eval()
    weighted = weights = 0.0
    prompt, completion = [], []
    for item in items:
        with torch.no_grad():
            logits = model(input_ids=torch.tensor([item.ids])).logits[0, :-1]
        ce = -torch.log_softmax(logits, dim=-1).gather(1, torch.tensor(item.ids[1:])[:, None]).squeeze(1)
        for t, loss in enumerate(ce.tolist(), start=1):
            (completion if item.completion[t] else prompt).append(loss)
            if item.labels[t] != IGNORE_INDEX and item.weights[t] > 0:
                weighted += item.weights[t] * loss
                weights += item.weights[t]
    return weighted / weights, sum(prompt) / len(prompt), sum(completion) / len(completion)


def first_step_items(items, config):
    return [items[k] for batch in run_batches(items, config, 0)[: config.grad_accum] for k in batch]


@pytest.mark.parametrize("strategy", ["copy", "special-mask", "response-template", "trl-completion", "prompt-weight"])
@pytest.mark.parametrize("method", ["full", "lora"])
def test_every_strategy_and_method_lowers_the_loss_and_changes_what_it_trains(
    tokenizer, tiny_model_dir, strategy, method
):
    config = tiny_config(
        tiny_model_dir, strategy=strategy, method=method, epochs=4, lr=3e-3 if method == "full" else 3e-2
    )
    items = training_items(load_sample("spanish"), tokenizer, config).items
    model = model_for_training(config, "cpu")
    expected = float64_losses(model, first_step_items(items, config))
    model, before, reports, status = train(tokenizer, config, model=model)
    assert status == "done" and reports[-1].step == reports[-1].total_steps == 12
    assert (reports[0].loss, reports[0].prompt_loss, reports[0].completion_loss) == pytest.approx(expected, rel=1e-5)
    assert reports[-1].loss < reports[0].loss
    changed = {n for n, p in model.named_parameters() if not torch.equal(p.detach(), before[n])}
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    if method == "lora":
        assert changed == trainable and all("lora_" in n for n in trainable)
    else:
        assert changed == trainable  # every weight of the model moved


def test_accumulated_micro_batches_log_the_losses_of_the_whole_step(tokenizer, tiny_model_dir):
    """Batch 1 x accumulation 2 logs the prompt and completion losses of both micro-batches (measured in
    float64 here), and batch 2 x accumulation 1 logs the same and reaches the same weights."""
    accumulated = tiny_config(tiny_model_dir, batch_size=1, grad_accum=2, epochs=2)
    items = training_items(load_sample("multiturn")[:2], tokenizer, accumulated).items
    assert sum(items[0].weights) != sum(items[1].weights)  # the step's normalisation matters
    assert [len(b) for b in run_batches(items, accumulated, 0)] == [1, 1]  # two micro-batches, one step
    model = model_for_training(accumulated, "cpu")
    expected = float64_losses(model, items)
    reports = []
    train_lab(model, items, accumulated, "cpu", lambda r: reports.append(r) or True, tokenizer.pad_token_id)
    assert [r.step for r in reports] == [1, 2]
    assert (reports[0].loss, reports[0].prompt_loss, reports[0].completion_loss) == pytest.approx(expected, rel=1e-5)

    together = tiny_config(tiny_model_dir, batch_size=2, grad_accum=1, epochs=2)
    one_batch = model_for_training(together, "cpu")
    logged = []
    train_lab(one_batch, items, together, "cpu", lambda r: logged.append(r) or True, tokenizer.pad_token_id)
    assert [(r.step, r.total_steps) for r in logged] == [(r.step, r.total_steps) for r in reports]
    for a, b in zip(reports, logged):
        assert (a.loss, a.prompt_loss, a.completion_loss) == pytest.approx(
            (b.loss, b.prompt_loss, b.completion_loss), rel=1e-5
        )
    # Adam's first steps move each weight by about lr whatever the gradient's size, so a gradient that is ~0 up to
    # rounding may move a rare weight either way: all weights agree within a tenth of a step, nearly all exactly.
    weights = dict(one_batch.named_parameters())
    differences = torch.cat([(p - weights[n]).abs().flatten() for n, p in model.named_parameters()])
    assert float(differences.max()) < accumulated.lr / 10
    assert float((differences > 1e-6).float().mean()) < 1e-3


def test_golden_loss_at_a_fixed_seed(tokenizer, tiny_model_dir):
    _, _, reports, _ = train(tokenizer, tiny_config(tiny_model_dir, strategy="special-mask"))
    assert [round(r.loss, 4) for r in reports] == pytest.approx(GOLDEN, abs=2e-4)


GOLDEN = [10.7833, 10.8964, 10.7951, 10.3629, 10.4773, 10.5041, 10.273, 10.3341, 10.312]  # torch 2.13 CPU, fp32


def test_a_stop_ends_the_run_after_that_step(tokenizer, tiny_model_dir):
    config = tiny_config(tiny_model_dir, epochs=10)
    items = training_items(load_sample("spanish"), tokenizer, config).items
    model = model_for_training(config, "cpu")
    steps = []
    status = train_lab(
        model, items, config, "cpu", lambda r: steps.append(r.step) or r.step < 4, tokenizer.pad_token_id
    )
    assert status == "stopped" and steps == [1, 2, 3, 4]


def test_a_run_stopped_mid_epoch_and_resumed_takes_the_same_steps_as_one_that_never_stopped(tokenizer, tiny_model_dir):
    config = tiny_config(tiny_model_dir, epochs=3, checkpoint_seconds=1e9)
    items = training_items(load_sample("spanish"), tokenizer, config).items
    _, _, straight, _ = train(tokenizer, config)

    model = model_for_training(config, "cpu")
    saved = []
    first = []
    status = train_lab(
        model,
        items,
        config,
        "cpu",
        lambda r: first.append(r) or r.step < 4,
        tokenizer.pad_token_id,
        checkpoint=lambda step, state: saved.append(state),
    )
    assert status == "stopped" and [s["step"] for s in saved] == [4]
    assert (saved[0]["epoch"], saved[0]["batch"]) == (1, 1)
    weights = {k: v.clone() for k, v in model.state_dict().items()}
    again = model_for_training(config, "cpu")
    again.load_state_dict(weights)
    rest = []
    train_lab(again, items, config, "cpu", lambda r: rest.append(r) or True, tokenizer.pad_token_id, resume=saved[0])
    assert [r.step for r in first + rest] == [r.step for r in straight] == list(range(1, 10))
    assert [r.loss for r in first + rest] == pytest.approx([r.loss for r in straight], abs=1e-6)
    # the training time goes on from the checkpoint's: elapsed counts every step across the resume
    assert saved[0]["elapsed"] >= first[-1].elapsed
    assert all(a.elapsed <= b.elapsed for a, b in zip(first + rest, (first + rest)[1:]))
    assert rest[0].elapsed > saved[0]["elapsed"]


def test_a_huge_learning_rate_fails_with_a_sentence(tokenizer, tiny_model_dir):
    with pytest.raises(TrainingFailed, match=r"the loss became (nan|inf) at step \d+: lower the learning rate"):
        train(tokenizer, tiny_config(tiny_model_dir, lr=1e12, epochs=20))


def test_checkpoints_come_inside_epochs_the_last_one_included_and_resume_there(tokenizer, tiny_model_dir):
    config = tiny_config(tiny_model_dir, epochs=3)  # checkpoint_seconds=0: after every step but the last
    model = model_for_training(config, "cpu")
    saved = []

    def checkpoint(step, state):
        saved.append((copy.deepcopy(state), {k: v.clone() for k, v in model.state_dict().items()}))

    _, _, straight, _ = train(tokenizer, config, model=model, checkpoint=checkpoint)
    assert [s["step"] for s, _ in saved] == list(range(1, 9))
    positions = [(s["epoch"], s["batch"]) for s, _ in saved]
    assert positions == [(0, 1), (0, 2), (1, 0), (1, 1), (1, 2), (2, 0), (2, 1), (2, 2)]
    state, weights = saved[6]  # step 7: inside the last epoch, which used to have no checkpoint at all
    again = model_for_training(config, "cpu")
    again.load_state_dict(weights)
    _, _, rest, status = train(tokenizer, config, model=again, resume=state)
    assert status == "done" and [r.step for r in rest] == [8, 9]
    assert [r.loss for r in rest] == pytest.approx([r.loss for r in straight[7:]], abs=1e-6)


def test_a_stop_takes_effect_within_one_step_whatever_logging_steps_is(tokenizer, tiny_model_dir):
    config = tiny_config(tiny_model_dir, epochs=10, logging_steps=1000, checkpoint_seconds=1e9)
    items = training_items(load_sample("spanish"), tokenizer, config).items
    asked, saved = [], []
    status = train_lab(
        model_for_training(config, "cpu"),
        items,
        config,
        "cpu",
        lambda r: True,
        tokenizer.pad_token_id,
        checkpoint=lambda step, state: saved.append(step),
        stop_requested=lambda: asked.append(True) or len(asked) == 2,
    )
    assert status == "stopped" and saved == [2]  # asked after steps 1 and 2; stopped (and saved) at step 2


def test_batches_cover_every_example_once_per_epoch_and_repeat_for_a_seed():
    items = [TrainItem((1,) * n, (1,) * n, (1.0,) * n, (True,) * n) for n in (3, 9, 4, 8, 2, 7, 5)]
    batches = batches_for_epoch(items, 3, seed=1, epoch=0)
    assert sorted(i for b in batches for i in b) == list(range(7))
    assert batches == batches_for_epoch(items, 3, seed=1, epoch=0) != batches_for_epoch(items, 3, seed=1, epoch=1)


def test_a_token_budget_splits_long_examples_into_smaller_batches():
    items = [TrainItem((1,) * n, (1,) * n, (1.0,) * n, (True,) * n) for n in (3, 9, 4, 8, 2, 7, 5, 30)]
    batches = batches_for_epoch(items, 3, seed=1, epoch=0, batch_tokens=16)
    assert sorted(i for b in batches for i in b) == list(range(8))
    assert all(len(b) <= 3 and (len(b) == 1 or len(b) * max(len(items[i]) for i in b) <= 16) for b in batches)
    assert sorted(map(sorted, batches)) == [[0, 2, 4], [1], [3], [5, 6], [7]]  # 30 tokens: a batch of its own
    config = RunConfig(batch_size=3, batch_tokens=16, grad_accum=2, epochs=3, seed=1)
    assert steps_per_epoch(items, config) == [3, 3, 3]


@pytest.mark.parametrize("batch_size, batch_tokens, grad_accum", [(3, 90, 1), (2, 1 << 30, 3), (3, 16, 2)])
def test_the_step_count_equals_the_batches_laid_out_epoch_by_epoch(batch_size, batch_tokens, grad_accum):
    items = [TrainItem((1,) * n, (1,) * n, (1.0,) * n, (True,) * n) for n in (3, 9, 4, 8, 2, 7, 5, 30)]
    config = RunConfig(batch_size=batch_size, batch_tokens=batch_tokens, grad_accum=grad_accum, epochs=1000)
    laid_out = [-(-len(batches_for_epoch(items, batch_size, 42, e, batch_tokens)) // grad_accum) for e in range(1000)]
    assert steps_per_epoch(items, config) == laid_out


def test_settings_that_cannot_work_are_named():
    for changes, sentence in [
        ({"epochs": 1_000_000_000}, "epochs must be between 1 and 1000"),
        ({"logging_steps": 0}, "logging_steps must be at least 1"),
        ({"checkpoint_seconds": float("nan")}, "checkpoint_seconds must be 0 or more"),
    ]:
        with pytest.raises(LabError, match=sentence):
            RunConfig(**changes).validate()
    with pytest.raises(LabError, match="engine trl trains with TRL's own labels"):
        RunConfig(engine="trl", strategy="copy").validate()
    with pytest.raises(LabError, match=r"the prompt weight w must be in \[0, 1\], got"):
        RunConfig(prompt_weight=2).validate()
    with pytest.raises(LabError, match="unknown run settings: colour"):
        RunConfig.from_json({"colour": "red"})
    assert RunConfig.from_json(RunConfig(method="lora").to_json()) == RunConfig(method="lora")


def test_the_learning_rate_defaults_to_the_methods_and_every_setting_has_help():
    assert (RunConfig().lr, RunConfig(method="lora").lr, RunConfig(method="lora", lr=5e-5).lr) == (2e-4, 1e-3, 5e-5)
    assert RunConfig.from_json({"method": "lora"}).lr == 1e-3
    assert all(RunConfig.help_for(name) for name in RunConfig.__dataclass_fields__)


@pytest.mark.parametrize("scale", [1e-3, 1e3])  # within bounds (left alone) and clipped
def test_gradient_clipping_equals_torchs(scale):
    torch.manual_seed(0)
    ours = [torch.nn.Parameter(torch.zeros(n)) for n in (5, 7)]
    theirs = [torch.nn.Parameter(torch.zeros(n)) for n in (5, 7)]
    for a, b in zip(ours, theirs):
        a.grad = torch.randn(a.shape) * scale
        b.grad = a.grad.clone()
    clip_gradients(ours, 1.0, "cpu")
    torch.nn.utils.clip_grad_norm_(theirs, 1.0)
    assert all(torch.equal(a.grad, b.grad) for a, b in zip(ours, theirs))
