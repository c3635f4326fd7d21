"""A 1 MB turn (about 200k tokens) on Tokens & labels: a window of chips is drawn, around the answer, and the
chips beside it count what is left out; the disagreements are found in one pass (they took 41 s, quadratic)."""

import re

from lab.common import IGNORE_INDEX
from lab.data import Workspace, single_turn
from lab.labels import STRATEGIES, LabelSettings, compare, label_example, tokenize_example
from lab.views import token_chips
from tests.app.conftest import html_of, open_app

WORDS = "the quick brown fox jumps over the lazy dog and keeps running "
HUGE = single_turn(WORDS * (1_000_000 // len(WORDS)), "ok")


def chip_count(view: str) -> int:
    return len(re.findall(r'<div class="sl-c sl-(?:user|assistant|system|text)', view))


def test_a_window_draws_its_tokens_as_the_full_view_does_and_counts_the_rest(tokenizer):
    item = tokenize_example(HUGE, tokenizer, "classic")
    labelled = label_example(item, tokenizer, STRATEGIES, LabelSettings(0.1))
    window = range(1000, 1500)
    view = token_chips(item, labelled, list(STRATEGIES), window)
    assert chip_count(view) == 500
    available = [lab for lab in labelled.values() if lab.available]
    after = [sum(1 for i in range(1500, len(item.encoded)) if lab.labels[i] != IGNORE_INDEX and lab.weights[i] > 0)
             for lab in available]  # fmt: skip
    gaps = re.findall(r'class="sl-c sl-key sl-gap".*?</div></div>', view)
    assert len(gaps) == 2
    assert "1,000 tokens before, not drawn" in gaps[0]
    assert f"{len(item.encoded) - 1500:,} tokens after, not drawn" in gaps[1]
    assert re.findall(r"([\d,]+) trained", gaps[1]) == [f"{n:,}" for n in after]
    assert len(re.findall(r"([\d,]+) trained", gaps[0])) == len(available) < len(STRATEGIES)
    assert gaps[0].count("n/a") == len(STRATEGIES) - len(available)

    small = tokenize_example(single_turn("Say dog in Spanish.", "perro"), tokenizer, "classic")
    small_labels = label_example(small, tokenizer, STRATEGIES, LabelSettings(0.1))
    whole = token_chips(small, small_labels, list(STRATEGIES))
    assert token_chips(small, small_labels, list(STRATEGIES), range(0, len(small.encoded))) == whole


def test_disagreements_on_a_huge_turn_are_found_in_one_pass(tokenizer):
    item = tokenize_example(HUGE, tokenizer, "classic")
    labelled = label_example(item, tokenizer, STRATEGIES, LabelSettings(0.1))
    runs = compare(item, labelled, tokenizer)
    prompt = [r for r in runs if r.reason == "user text (prompt)"]
    assert len(prompt) == 1 and prompt[0].last - prompt[0].first > 150_000
    assert len(prompt[0].pieces) == prompt[0].last - prompt[0].first + 1


def test_the_tokens_page_draws_a_window_of_a_1_mb_turn(app_home, tokenizer):
    Workspace(app_home).save([HUGE])
    at = open_app("app_pages/tokens.py", query={"format": "classic"})
    assert not at.exception
    (window,) = [n for n in at.number_input if "are drawn, from token" in n.label]
    drawn = html_of(at)
    assert chip_count(drawn) == 2000  # the last 2000 tokens: the window ends with the answer
    assert window.value == len(tokenize_example(HUGE, tokenizer, "classic").encoded) - 2000
    assert "tokens before, not drawn" in drawn and "tokens after" not in drawn
    window.set_value(0).run()
    assert chip_count(html_of(at)) == 2000 and "tokens after, not drawn" in html_of(at)


def test_a_50_mb_turn_is_refused_in_a_sentence_before_it_is_tokenized(app_home, tokenizer):
    """A 10M-word turn took the server past 9 GiB and never drew; it stayed in the workspace, so the page did it
    again after a restart. Now the page says why it does not draw it, at once, and the other pages go on."""

    from lab.labels.check import check
    from lab.labels.tokens import MAX_TEXT_CHARS

    giant = single_turn("word " * (MAX_TEXT_CHARS // 5 + 1), "ok")
    Workspace(app_home).save([giant, single_turn("Hi", "Hola")])
    at = open_app("app_pages/tokens.py")
    assert not at.exception
    said = [e.value for e in at.error] + [w.value for w in at.warning]
    assert any("more than the 4,000,000 the lab tokenizes" in s for s in said), said
    [finding] = [f for f in check([giant], tokenizer, "classic", ("copy",)) if f.code == "unrenderable"]
    assert "shorten or split it" in finding.message
