"""The HTML views: every token a chip with one row per strategy, escaped user text, counts per strategy."""

import re

from lab.data.examples import single_turn
from lab.labels.compare import summarise
from lab.labels.strategies import STRATEGIES, label_example
from lab.labels.token_labels import LabelSettings
from lab.labels.tokens import tokenize_example
from lab.views.chips import legend, rendered_text, role_legend, sentences, token_chips
from tests.conftest import DOG, chip_texts


# A literal chip list, laid out as it reads:
# fmt: off
def test_every_token_is_a_chip_with_one_cell_per_strategy(tokenizer):
    item = tokenize_example(DOG, tokenizer, "classic")
    labelled = label_example(item, tokenizer)
    html = token_chips(item, labelled)
    assert chip_texts(html, raw=True) == [
        "↵", "↵", "###", "·Human", ":", "·How", "·do", "·you", "·say", "·&quot;", "dog", "&quot;", "·in", "·Spanish",
        "?", "↵", "↵", "###", "·Assistant", ":", "&lt;|im_start|&gt;", "·per", "ro", "&lt;|im_end|&gt;"]
    last = html.rsplit('<div class="sl-c sl-assistant sp"', 1)[1]  # the closing eos
    cells = re.findall(r'<div class="l (\w)"[^>]*>([^<]*)</div>', last)
    assert cells == [("y", "✓"), ("y", "✓"), ("n", "-100"), ("y", "✓"), ("x", "n/a"), ("y", "1")]
    assert 'title="position 23 · id 2 · &lt;|im_end|&gt; · assistant special · predicted by the logits at ' \
           'position 22"' in html
    assert "the first token: no position predicts it" in html
# fmt: on


def test_only_the_chosen_strategies_get_rows_and_the_key_names_them(tokenizer):
    item = tokenize_example(DOG, tokenizer, "classic")
    html = token_chips(item, label_example(item, tokenizer), ["copy", "prompt-weight"])
    key = html.split('<div class="sl-c sl-key">', 1)[1].split('<div class="sl-c ', 1)[0]
    assert re.findall(r'<div class="l">([^<]*)</div>', key) == ["copy", "weight"]
    assert '<div class="l y" style="opacity:0.33">0.1</div>' in html
    assert "special-mask" in legend(STRATEGIES) and "-100 = ignored" in legend(STRATEGIES)


def test_user_text_is_escaped_everywhere(tokenizer):
    attack = "<script>alert(1)</script><img src=x onerror=alert(1)>"
    item = tokenize_example(single_turn(attack, attack), tokenizer, "chat-template")
    for html in (
        token_chips(item, label_example(item, tokenizer)),
        rendered_text(item.rendered),
        sentences([f"token 3 (`{attack}`) is {attack}"]),
    ):
        assert "<script" not in html and "<img" not in html and "&lt;" in html
    assert sentences(["a `b<` c"]) == '<ul class="sl-list"><li>a <code>b&lt;</code> c</li></ul>'


def test_rendered_text_marks_specials_and_keeps_newlines(tokenizer):
    html = rendered_text(tokenize_example(DOG, tokenizer, "classic").rendered)
    assert '<span class="sl-role-assistant sl-kind-special">&lt;|im_start|&gt;</span>' in html
    assert '<span class="sl-ws">↵</span>\n' in html
    assert "How do you say &quot;dog&quot; in Spanish?" in html


def test_counts_per_strategy_and_the_prompt_share_of_the_loss(tokenizer):
    item = tokenize_example(DOG, tokenizer, "classic")
    rows = {r.name: r for r in summarise(item, label_example(item, tokenizer, settings=LabelSettings(0.1)), tokenizer)}
    assert {n: r.trained for n, r in rows.items()} == {
        "copy": 23,
        "special-mask": 3,
        "response-template": 3,
        "trl-completion": 3,
        "trl-assistant": 0,
        "prompt-weight": 23,
    }
    assert rows["copy"].prompt_share == 20 / 23 and rows["special-mask"].prompt_share == 0
    assert rows["response-template"].prompt_tokens == 1  # it learns the bos, which opens the answer
    assert abs(rows["prompt-weight"].prompt_share - 2.0 / 5.0) < 1e-12  # 20 prompt tokens x 0.1 vs 3 x 1
    assert rows["trl-assistant"].available is False and rows["trl-assistant"].prompt_share is None


def test_the_colour_legend_shows_each_swatch_as_the_text_marks_it():
    html = role_legend()
    for role in ("system", "user", "assistant"):
        assert f'<span class="sl-role-{role}">{role}</span>' in html
    assert '<span class="sl-kind-special">&lt;|special|&gt;</span>' in html


def test_loss_chips_keep_the_role_and_part_of_each_token():
    """Inside the model and Compare runs colour chips by loss; a tool call, reasoning and a tool's result still
    read as such: the role's border and the part's class around the loss colour, and in the hover."""
    from lab.look.teacher_forcing import Position, Prediction
    from lab.views.chips import loss_chips

    guess = Prediction(0.5, 1, 0.69, ())
    positions = [
        Position(1, 10, "get", True, True, guess, guess, "assistant", "tool-call"),
        Position(2, 11, "think", True, True, guess, guess, "assistant", "reasoning"),
        Position(3, 12, "22", False, False, guess, guess, "tool", ""),
    ]
    view = loss_chips(positions, "after")
    assert 'class="sl-c sl-assistant pt-tool-call" title="position 1 · &#x27;get&#x27; · assistant tool call' in view
    assert 'class="sl-c sl-assistant pt-reasoning" title="position 2 · &#x27;think&#x27; · assistant reasoning' in view
    assert 'class="sl-c sl-tool" title="position 3 · &#x27;22&#x27; · tool · loss before' in view
