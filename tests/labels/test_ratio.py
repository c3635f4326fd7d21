"""Generation ratio: hand-counted token counts, every statistic, skipped examples, loss share."""

import random
import statistics

import pytest

from lab.data.examples import Example, conversation, single_turn
from lab.data.sources import load_sample, sample_names
from lab.labels.ratio import ExampleRatio, count_tokens, generation_ratio, prompt_loss_share, statistics_of
from lab.labels.strategies import completion_flags
from lab.labels.tokens import tokenize_example
from tests.conftest import DOG


def test_rg_of_the_seed_example_counted_by_hand(tokenizer):
    # classic: 24 tokens; special-mask keeps `·per`, `ro`, `<|im_end|>` -> C = 3, P = 21
    [classic] = count_tokens([DOG], tokenizer, "classic")
    assert (classic.prompt_tokens, classic.completion_tokens, classic.ratio) == (21, 3, 3 / 21)
    # chat-template: `per`, `ro`, `<|im_end|>`, `\n` after `<|im_start|>assistant\n`; the template's default
    # system prompt makes the prompt 40 tokens
    [chat] = count_tokens([DOG], tokenizer, "chat-template")
    assert (chat.prompt_tokens, chat.completion_tokens) == (40, 4)


def test_multi_turn_examples_sum_over_their_answers(tokenizer):
    two = conversation(("user", "Hi"), ("assistant", "perro"), ("user", "Hi"), ("assistant", "perro"))
    [one_turn] = count_tokens([single_turn("Hi", "perro")], tokenizer, "classic")
    [both] = count_tokens([two], tokenizer, "classic")
    assert both.completion_tokens == 2 * one_turn.completion_tokens == 6


ODD_SHAPES = [
    conversation(("user", "a"), ("assistant", "b"), ("user", "c")),  # ends with a question
    conversation(("user", "no answer")),
    conversation(("system", "Be brief."), ("user", "a"), ("assistant", "b"), ("user", "c"), ("assistant", "d")),
    Example(text="<|im_start|>plain text<|im_end|> more"),
]


def test_counts_equal_the_completion_mask_of_every_sample(tokenizer):
    for name in sample_names() + ["odd shapes"]:
        for fmt in ("classic", "chat-template"):
            examples = ODD_SHAPES if name == "odd shapes" else load_sample(name)
            for example, counted in zip(examples, count_tokens(examples, tokenizer, fmt)):
                item = tokenize_example(example, tokenizer, fmt)
                completion = sum(completion_flags(item, tokenizer))
                assert (counted.completion_tokens, counted.prompt_tokens) == (
                    completion,
                    len(item.encoded) - completion,
                ), (name, fmt)


def test_every_statistic_on_literal_counts():
    per_example = [
        ExampleRatio(0, 10, 1),
        ExampleRatio(1, 10, 10),
        ExampleRatio(2, 2, 20),
        ExampleRatio(3, 5, 0, "no completion tokens"),
        ExampleRatio(4, 4, 4),
    ]
    stats = statistics_of(per_example)
    assert stats.count == 4 and [e.index for e in stats.skipped] == [3]
    assert stats.arithmetic_mean == pytest.approx((0.1 + 1 + 10 + 1) / 4)
    assert stats.geometric_mean == pytest.approx(1.0)
    assert stats.median == 1.0 and stats.share_above_1 == 0.25
    assert (stats.prompt_tokens, stats.completion_tokens) == (26, 35)
    assert stats.to_json()["per_example"] == [0.1, 1.0, 10.0, None, 1.0]
    assert stats.to_json()["skipped"] == 1
    assert stats.to_json()["skipped_examples"] == [{"example": 3, "reason": "no completion tokens"}]


def test_loss_share_of_the_prompt_under_a_weight():
    stats = statistics_of([ExampleRatio(0, 30, 10)])
    assert stats.loss_share(0) == 0
    assert stats.loss_share(1) == 30 / 40
    assert stats.loss_share(0.1) == pytest.approx(3 / 13)
    assert stats.effective_tokens(0.1) == pytest.approx(13)
    assert prompt_loss_share(0, 0, 0.5) is None


def test_geometric_mean_matches_the_standard_library():
    rng = random.Random(0)
    per_example = [ExampleRatio(i, rng.randint(1, 900), rng.randint(1, 900)) for i in range(200)]
    stats = statistics_of(per_example)
    assert stats.geometric_mean == pytest.approx(statistics.geometric_mean(stats.ratios()), rel=1e-12)


def test_examples_with_nothing_to_compare_are_skipped_and_named(tokenizer):
    examples = [DOG, conversation(("user", "no answer")), Example(text="plain text with no bos")]
    stats = generation_ratio(examples, tokenizer, "classic")
    assert stats.count == 1
    assert [(e.index, e.skipped) for e in stats.skipped] == [
        (1, "no assistant turn: no completion tokens"),
        (2, "no completion tokens (plain text with no bos)"),
    ]
    assert statistics_of([]).arithmetic_mean is None


def test_the_built_in_samples_spread_rg_over_decades(tokenizer):
    reading = generation_ratio(load_sample("reading"), tokenizer, "classic")
    explain = generation_ratio(load_sample("explain"), tokenizer, "classic")
    assert reading.geometric_mean < 0.02 and explain.geometric_mean > 5
    assert reading.loss_share(0.1) > 0.9 > 0.02 > explain.loss_share(0.1)


def test_a_large_batch_gives_the_same_counts_as_small_ones(tokenizer):
    sample = load_sample("multiturn")
    examples = sample * 700  # 3,500 examples: more than one tokenizer batch
    one_by_one = [count_tokens([e], tokenizer, "chat-template")[0] for e in sample]
    counts = count_tokens(examples, tokenizer, "chat-template")
    assert counts == [
        ExampleRatio(k, c.prompt_tokens, c.completion_tokens, c.skipped) for k, c in enumerate(one_by_one * 700)
    ]
    stats = generation_ratio(examples, tokenizer, "classic")
    assert stats.geometric_mean == pytest.approx(generation_ratio(sample, tokenizer, "classic").geometric_mean)


def test_a_template_that_rewrites_earlier_text_falls_back_to_the_full_render(tokenizer, tmp_path):
    from tests.conftest import tokenizer_copy

    counting = (
        "{{ messages | length }} turns\n{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}"
        "<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
    )
    odd = tokenizer_copy(tokenizer, tmp_path, chat_template=counting)
    examples = [
        single_turn("q", "a"),
        conversation(("user", "a"), ("assistant", "b"), ("user", "c"), ("assistant", "d")),
    ]
    for example, counted in zip(examples, count_tokens(examples, odd, "chat-template")):
        item = tokenize_example(example, odd, "chat-template")
        assert counted.completion_tokens == sum(completion_flags(item, odd))
        assert counted.prompt_tokens + counted.completion_tokens == len(item.encoded)


def test_a_stream_is_counted_in_batches_that_report_their_progress(tokenizer):
    """`generation_ratio` reads any iterable once, a batch at a time, and tells `progress` each batch's size: the
    page's bar and the CLI's tqdm count from it. The statistics equal those of the whole list at once."""
    from lab.labels import ratio

    examples = load_sample("spanish") * 1000  # 5,000 examples: three batches of 2,048 and the rest
    heard = []
    streamed = generation_ratio(iter(examples), tokenizer, "classic", progress=heard.append)
    assert heard == [ratio.BATCH, ratio.BATCH, 5000 - 2 * ratio.BATCH]
    whole = statistics_of(count_tokens(examples, tokenizer, "classic"))
    assert (streamed.count, streamed.prompt_tokens, streamed.completion_tokens) == (
        whole.count,
        whole.prompt_tokens,
        whole.completion_tokens,
    )
    assert streamed.median == whole.median and streamed.ratios() == whole.ratios()
