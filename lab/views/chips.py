"""HTML views of an example: token chips with one label row per strategy, and the rendered text.

Plain HTML and CSS built here (no streamlit) so escaping and content are unit tested; a page only shows the
string. Every piece of user text passes through `html.escape`. Colour never carries meaning alone: a
learned token reads ✓, an ignored one -100, a weight its number.
"""

from __future__ import annotations

import html
import math
import re
from collections.abc import Sequence

from lab.common import IGNORE_INDEX
from lab.labels.rendered import Rendered
from lab.labels.token_labels import Labels
from lab.labels.tokens import Tokenized, visible

SHORT_NAMES = {
    "copy": "copy",
    "special-mask": "special",
    "response-template": "resp-tmpl",
    "trl-completion": "trl-compl",
    "trl-assistant": "trl-asst",
    "prompt-weight": "weight",
}

# Role colours are light fills with a strong border; label cells use blue (learned) vs grey (-100), which
# reads for the common colour-vision deficiencies and on a washed-out projector.
CSS = """<style>
.sl-legend{font:13px/1.4 system-ui,sans-serif;margin:.2em 0 .6em}
.sl-chips{display:flex;flex-wrap:wrap;gap:3px;font:12px/1.25 ui-monospace,Menlo,Consolas,monospace}
.sl-c{display:inline-flex;flex-direction:column;border:1px solid #90a4ae;border-radius:4px;background:#fafafa;
 min-width:2.2em;text-align:center;overflow:hidden}
.sl-c>.t{padding:2px 4px;white-space:pre;font-weight:600;color:#212121}
.sl-c>.l{padding:0 3px;font-size:11px;border-top:1px solid #fff}
.sl-c>.y{background:#0d47a1;color:#fff}
.sl-c>.n{background:#eceff1;color:#607d8b}
.sl-c>.x{background:#fff;color:#b0bec5}
.sl-system{border-color:#7e57c2}.sl-system>.t{background:#ede7f6}
.sl-user{border-color:#ef6c00}.sl-user>.t{background:#fff3e0}
.sl-assistant{border-color:#1565c0}.sl-assistant>.t{background:#e3f2fd}
.sl-tool{border-color:#2e7d32}.sl-tool>.t{background:#e8f5e9}
.sl-c.pt-reasoning>.t{background:#fce4ec;font-style:italic}.sl-c.pt-reasoning{border-color:#ad1457}
.sl-c.pt-tool-call>.t{background:#fff8e1;text-decoration:underline dotted}.sl-c.pt-tool-call{border-color:#f9a825}
.sl-text>.t{background:#f5f5f5}
.sl-c.sp>.t{background:#263238;color:#fff}
.sl-key{border:1px dashed #90a4ae;background:#fff;text-align:left}
.sl-key>.t{font-weight:700;background:#fff}
.sl-key>.l{color:#455a64}
.sl-text-view{font:14px/1.6 ui-monospace,Menlo,Consolas,monospace;white-space:pre-wrap;word-break:break-word;
 border:1px solid #cfd8dc;border-radius:6px;padding:.6em .8em;background:#fff}
.sl-text-view span,.sl-legend-row span{border-radius:3px}
.sl-role-system{background:#ede7f6}.sl-role-user{background:#fff3e0}.sl-role-assistant{background:#e3f2fd}
.sl-role-tool{background:#e8f5e9}.sl-part-reasoning{background:#fce4ec;font-style:italic}
.sl-part-tool-call{background:#fff8e1;text-decoration:underline dotted}
.sl-kind-template{font-style:italic;color:#455a64}
.sl-kind-special{background:#263238;color:#fff;padding:0 2px;font-weight:700}
.sl-ws{color:#90a4ae}
.sl-legend-row{display:flex;flex-wrap:wrap;gap:.4em 1.4em;padding:.2em 0;margin-bottom:.3em;
 font:13px/1.6 ui-monospace,Menlo,Consolas,monospace}
.sl-legend-row small{color:#455a64;font-family:system-ui,sans-serif}
</style>"""


# A room reads from metres away: larger text everywhere (Streamlit sizes in rem), chips and their labels too.
PROJECTOR_CSS = """<style>
html{font-size:21px}
.sl-legend{font-size:18px}
.sl-chips{font-size:18px;gap:4px}
.sl-c>.l{font-size:16px}
.sl-text-view{font-size:19px}
.sl-legend-row{font-size:17px}
</style>"""


def _weight_text(w: float) -> str:
    return "1" if w == 1 else f"{w:.2g}"


def _cell(labels: Labels, i: int, weighted: bool) -> str:
    if not labels.available:
        return '<div class="l x">n/a</div>'
    if weighted:
        w = labels.weights[i] if i > 0 else 0.0
        if w <= 0:
            return (
                '<div class="l n">-100</div>'
                if labels.labels[i] == IGNORE_INDEX or i == 0
                else '<div class="l n">0</div>'
            )
        alpha = 0.25 + 0.75 * min(w, 1.0)
        return f'<div class="l y" style="opacity:{alpha:.2f}">{_weight_text(w)}</div>'
    return '<div class="l y">✓</div>' if labels.trained(i) else '<div class="l n">-100</div>'


def _key_chip(title: str, names: list[str]) -> str:
    rows = "".join(f'<div class="l">{html.escape(SHORT_NAMES.get(n, n))}</div>' for n in names)
    return f'<div class="sl-c sl-key"><div class="t">{html.escape(title)}</div>{rows}</div>'


def _css_name(role: str) -> str:
    """A role as a CSS class name: a row may write any role, and only letters, digits, - and _ may pass."""
    return re.sub(r"[^A-Za-z0-9_-]", "_", role)


PART_WORDS = {"reasoning": "reasoning", "tool-call": "tool call"}


def _hover(enc, i: int) -> str:
    who = (
        "the first token: no position predicts it, so no strategy learns it"
        if i == 0
        else f"predicted by the logits at position {i - 1}"
    )
    part = f" ({PART_WORDS[enc.parts[i]]})" if enc.parts[i] in PART_WORDS else ""
    return f"position {i} · id {enc.ids[i]} · {enc.tokens[i]} · {enc.roles[i]} {enc.kinds[i]}{part} · {who}"


def token_chips(
    item: Tokenized, labelled: dict[str, Labels], names: list[str] | None = None, window: range | None = None
) -> str:
    """Every token as a chip (text with visible whitespace, role colour, special marked) over label rows.

    A key chip opens each turn and names the rows; hovering a chip shows its id, position and which
    position's logits predict it. `prompt-weight` shows the weight; the other rows show ✓ or -100. With a
    `window`, only its tokens are drawn, and a chip on each side counts the tokens left out and how many of
    them each strategy trains (a 250k-token example would otherwise be tens of MB of HTML).
    """
    enc = item.encoded
    names = [n for n in (names or list(labelled)) if n in labelled]
    drawn = window if window is not None else range(len(enc))
    drawn = range(max(drawn.start, 0), min(drawn.stop, len(enc)))
    parts = [CSS, '<div class="sl-chips">']
    if drawn.start > 0:
        parts.append(_gap_chip(labelled, names, range(0, drawn.start), "before"))
    turn = None
    for i in drawn:
        if enc.turns[i] != turn or i == drawn.start:
            turn = enc.turns[i]
            label = (
                "text"
                if turn is None or enc.roles[i] == "text"
                else ("default system" if turn == -1 else f"turn {turn} · {enc.roles[i]}")
            )
            weight = _turn_weight(item, turn)
            parts.append(_key_chip(label + (f" · weight {weight:g}" if weight is not None else ""), names))
        classes = f"sl-c sl-{_css_name(enc.roles[i])}" + (" sp" if enc.special[i] else "")
        classes += f" pt-{enc.parts[i]}" if enc.parts[i] else ""
        cells = "".join(_cell(labelled[n], i, n == "prompt-weight") for n in names)
        parts.append(
            f'<div class="{classes}" title="{html.escape(_hover(enc, i))}">'
            f'<div class="t">{html.escape(visible(enc.pieces[i]) or "∅")}</div>{cells}</div>'
        )
    if drawn.stop < len(enc):
        parts.append(_gap_chip(labelled, names, range(drawn.stop, len(enc)), "after"))
    parts.append("</div>")
    return "".join(parts)


def _turn_weight(item: Tokenized, turn: int | None) -> float | None:
    """The weight a turn's message was written with (OpenAI's `weight`), shown on its key chip."""
    conv = item.example.conversation
    if conv is None or turn is None or not 0 <= turn < len(conv.turns):
        return None
    return conv.turns[turn].weight


def _gap_chip(labelled: dict[str, Labels], names: list[str], hidden: range, side: str) -> str:
    """The tokens not drawn on one side of the window: how many, and how many each strategy trains."""
    rows = "".join(
        f'<div class="l">{sum(1 for i in hidden if labelled[n].trained(i)):,} trained</div>'
        if labelled[n].available
        else '<div class="l x">n/a</div>'
        for n in names
    )
    title = f"{len(hidden):,} tokens {side}, not drawn"
    return f'<div class="sl-c sl-key sl-gap" title="{title}"><div class="t">… {title}</div>{rows}</div>'


def legend(names: list[str]) -> str:
    """One line naming the rows under each chip and how to read a cell."""
    rows = ", ".join(f"<b>{html.escape(SHORT_NAMES.get(n, n))}</b> = {html.escape(n)}" for n in names)
    return (
        f'{CSS}<div class="sl-legend">Rows under each token, top to bottom: {rows}. '
        "✓ = learned (its label is the token id), -100 = ignored, a number = the token's loss weight, "
        "n/a = the strategy cannot label this example. Dark chips are special tokens; · is a space, "
        "↵ a newline.</div>"
    )


def audit_badges(found: dict[str, dict[str, str]], codes: Sequence[str], structural: Sequence[str] = ()) -> str:
    """One badge per audit code: red with the strategies it hits (`all` for a `structural` code, which no
    strategy changes), its sentence on hover; green when clean."""
    badges = []
    for code in codes:
        hits = found.get(code, {})
        if hits:
            title = html.escape(next(iter(hits.values())), quote=True)
            where = "all strategies" if code in structural else html.escape(", ".join(hits))
            badges.append(f'<span class="sl-badge sl-bad" title="{title}">✗ {html.escape(code)} · {where}</span>')
        else:
            badges.append(f'<span class="sl-badge sl-ok">✓ {html.escape(code)}</span>')
    style = (
        "<style>.sl-badges{display:flex;flex-wrap:wrap;gap:6px;margin:.3em 0 .8em}"
        ".sl-badge{font:12px/1.6 system-ui,sans-serif;padding:1px 8px;border-radius:10px}"
        ".sl-bad{background:#fde2e1;color:#8a1c14;border:1px solid #f3a39b}"
        ".sl-ok{background:#e3f4e6;color:#1d6130;border:1px solid #a6d8b2}</style>"
    )
    return f'{style}<div class="sl-badges">{"".join(badges)}</div>'


def role_legend() -> str:
    """What the colours and marks of the rendered text mean, each shown as it appears there."""
    swatches = [
        ('<span class="sl-role-system">system</span>', "system"),
        ('<span class="sl-role-user">user</span>', "user"),
        ('<span class="sl-role-assistant">assistant</span>', "assistant"),
        ('<span class="sl-role-tool">tool</span>', "a tool's result"),
        ('<span class="sl-part-reasoning">reasoning</span>', "an answer's reasoning"),
        ('<span class="sl-part-tool-call">tool call</span>', "an answer's tool call"),
        ('<span class="sl-kind-special">&lt;|special|&gt;</span>', "special token"),
        ('<span class="sl-kind-template">### template</span>', "text the format adds"),
        ('<span class="sl-ws">·</span> <span class="sl-ws">↵</span>', "a space in template text, a newline"),
    ]
    items = "".join(
        f'<span class="sl-swatch">{shown} <small>{html.escape(what)}</small></span>' for shown, what in swatches
    )
    return f'{CSS}<div class="sl-legend-row">{items}</div>'


def rendered_text(rendered: Rendered) -> str:
    """The rendered text with role colours, template text in italics, special tokens as dark badges and
    whitespace made visible (a newline shows ↵ and still breaks the line)."""
    parts = [CSS, '<div class="sl-text-view">']
    for seg in rendered.segments:
        piece = rendered.text[seg.start : seg.end]
        inner = html.escape(piece)
        if seg.kind != "content":
            inner = inner.replace(" ", '<span class="sl-ws">·</span>')
        inner = inner.replace("\n", '<span class="sl-ws">↵</span>\n')
        part = f" sl-part-{seg.part}" if seg.part else ""
        parts.append(f'<span class="sl-role-{_css_name(seg.role)} sl-kind-{seg.kind}{part}">{inner}</span>')
    parts.append("</div>")
    return "".join(parts)


def text_view(text: str, specials: Sequence[str] = ()) -> str:
    """Text as a model reads or writes it (a prompt, an answer): special tokens (longest first) as dark badges,
    every newline shown as ↵ and kept, everything escaped."""
    pattern = "|".join(re.escape(s) for s in sorted(specials, key=len, reverse=True) if s)
    pieces = re.split(f"({pattern})", text) if pattern else [text]
    parts = [CSS, '<div class="sl-text-view">']
    for k, piece in enumerate(pieces):
        inner = html.escape(piece).replace("\n", '<span class="sl-ws">↵</span>\n')
        parts.append(f'<span class="sl-kind-special">{inner}</span>' if k % 2 else inner)
    parts.append("</div>")
    return "".join(parts)


def sentences(items: list[str]) -> str:
    """A bulleted list of sentences; `code` spans become <code>, everything else is escaped text."""
    rows = []
    for sentence in items:
        parts = html.escape(sentence).split("`")
        rows.append("".join(f"<code>{p}</code>" if k % 2 else p for k, p in enumerate(parts)))
    return '<ul class="sl-list">' + "".join(f"<li>{r}</li>" for r in rows) + "</ul>"


LOSS_NEUTRAL = math.log(10)  # p = 0.1: white on the loss scale; bluer is more confident, redder is worse
LOSS_LIMIT = 2 * LOSS_NEUTRAL  # p = 0.01 and below: full red; a change of 4.6 nats or more: full colour


def _diverging(value: float) -> str:
    """A colour on one diverging scale with fixed limits: -1 blue, 0 white, +1 red (clipped)."""
    x = max(-1.0, min(1.0, value))
    if x < 0:
        r, g, b = (int(255 + (c - 255) * -x) for c in (33, 102, 172))
    else:
        r, g, b = (int(255 + (c - 255) * x) for c in (178, 24, 43))
    return f"rgb({r},{g},{b})"


def loss_chips(positions, view: str = "after", marks: bool = True) -> str:
    """Each token as a chip coloured by its loss (`before`, `after`) or by the change (`change`), on one
    diverging scale with fixed limits, the value printed under it; with `marks`, the run's trained tokens are
    underlined and ✓ (off for the base model beside several runs: it trained on nothing)."""
    parts = [CSS, '<div class="sl-chips">']
    for p in positions:
        trained = marks and p.trained
        before = p.base.loss
        after = p.tuned.loss if p.tuned is not None else None
        if view != "before" and after is None:
            continue
        if view == "change":
            value, scaled, shown = after - before, (after - before) / LOSS_LIMIT, f"{after - before:+.2f}"
        else:
            value = before if view == "before" else after
            scaled, shown = (value - LOSS_NEUTRAL) / LOSS_NEUTRAL, f"{value:.2f}"
        whose = f"{p.role} {PART_WORDS.get(p.part, '')}".strip() if p.role else ""
        title = (
            f"position {p.position} · {p.token!r}"
            + (f" · {whose}" if whose else "")
            + f" · loss before {before:.3f}"
            + (f" · after {after:.3f}" if after is not None else "")
            + (" · trained" if trained else "")
        )
        style = f"background:{_diverging(scaled)}" + (";box-shadow:inset 0 -3px 0 #000" if trained else "")
        # The role's border and the part's mark (a tool call, reasoning) around the loss colour, as on Tokens & labels
        classes = "sl-c" + (f" sl-{_css_name(p.role)}" if p.role else "") + (f" pt-{p.part}" if p.part else "")
        parts.append(
            f'<div class="{classes}" title="{html.escape(title)}"><div class="t" style="{style}">'
            f"{html.escape(visible(p.token) or '∅')}</div>"
            f'<div class="l">{shown}{" ✓" if trained else ""}</div></div>'
        )
    parts.append("</div>")
    return "".join(parts)
