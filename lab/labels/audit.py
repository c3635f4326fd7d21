"""The template audit: the traps a chat template (or a row as written) sets for fine-tuning, found in one example
under a strategy's labels. Each is a Note with a stable code, one sentence naming the example.

  double-bos             the tokens TRL trains on start with two bos (a template writes one, the tokenizer adds one)
  injected-text          the rendering holds words that are in no message and are not markup (a default system
                         prompt, a knowledge-cutoff date); said whether they are trained
  stop-token-untrained   the token that ends an answer is -100 under the strategy: the model never learns to stop
  stop-token-not-eos     the token that ends an answer is not one generation stops on (tokenizer eos, generation
                         config): the model learns to say it and generation runs on
  not-prefix-preserving  rendering the first k messages is not a prefix of rendering k+1 (TRL's check, per
                         conversation): what is masked differs from what the model sees at inference
  empty-think-trained    an empty reasoning block the template inserts lies inside the trained span
  history-altered        an earlier turn's content is dropped or changed by the rendering (e.g. reasoning)
  tool-output-trained    a tool's result lies inside the trained span: the model learns to write what tools return
  field-dropped          the template never renders a key the row has (tool calls, reasoning, tools): training
                         sees less than was written, e.g. an answer that was a tool call trains as an empty answer
  weight-ignored         a message written with weight 0 (OpenAI's `weight`, a `loss_weight`) is trained: TRL reads
                         no per-message weight, so what the data says not to learn is learned
  reasoning-history-dropped  the template strips the reasoning of earlier answers and keeps the last one's: the
                         model trains on a history other than the one written
"""

from __future__ import annotations

import re

from lab.data.examples import tool_call_pieces
from lab.errors import FormatError
from lab.labels.formats import apply_chat_template
from lab.labels.token_labels import Labels, Note, token_name
from lab.labels.tokens import Tokenized

AUDIT_CODES = (
    "double-bos",
    "injected-text",
    "stop-token-untrained",
    "stop-token-not-eos",
    "not-prefix-preserving",
    "empty-think-trained",
    "history-altered",
    "tool-output-trained",
    "field-dropped",
    "reasoning-history-dropped",
    "weight-ignored",
)
# The codes no strategy changes (found once per example, whatever is trained).
STRUCTURAL_CODES = (
    "double-bos",
    "stop-token-not-eos",
    "not-prefix-preserving",
    "history-altered",
    "field-dropped",
    "reasoning-history-dropped",
)
_WORDS = re.compile(r"[A-Za-z][\w'’-]*(?:[ ,:.;]+[A-Za-z0-9][\w'’-]*){2,}")  # three words or more in a row
_EMPTY_THINK = re.compile(r"<think>\s*</think>|<\|channel>thought\s*<channel\|>")


def audit(
    item: Tokenized, labels: Labels | None, tokenizer, stop_ids: set[int] | None = None, structural: bool = True
) -> list[Note]:
    """The audit codes one example raises; `labels` (a strategy's) decide what is trained, None: all of it.
    `structural=False` leaves out the codes no strategy changes (for the second strategy on, in `check`)."""
    enc, rendered = item.encoded, item.rendered
    trained = [labels.trained(i) if labels else i > 0 for i in range(len(enc))]
    notes: list[Note] = []
    bos = tokenizer.bos_token_id
    if structural and bos is not None and len(enc) > 1 and enc.ids[0] == enc.ids[1] == bos:
        notes.append(
            Note(
                f"the tokens start with two bos {token_name(tokenizer, bos)}: the text already holds one and the "
                "tokenizer adds another",
                "double-bos",
            )
        )
    notes += _injected(item, trained)
    conv = item.example.conversation
    if conv is not None:
        notes += _tool_output(item, trained)
        notes += _weight_ignored(item, trained)
    if conv is not None and rendered.format in ("chat-template", "classic"):
        notes += _stop_tokens(item, labels, trained, tokenizer, stop_ids, structural)
        notes += _history(item) if structural else []
        notes += _dropped(item) if structural else []
    if conv is not None and rendered.format == "chat-template":
        notes += _prefix(item, tokenizer) if structural else []
        notes += _empty_think(item, trained)
    return notes


def audit_strategies(
    item: Tokenized, labelled: dict[str, Labels], tokenizer, stop_ids: set[int] | None = None
) -> list[tuple[str, Note]]:
    """(strategy, note) for every strategy that can label the example; the codes no strategy changes are
    looked for once, under the first of them."""
    out, structural = [], True
    for name, labels in labelled.items():
        if labels.available:
            out += [(name, note) for note in audit(item, labels, tokenizer, stop_ids, structural)]
            structural = False
    return out


def _tool_output(item: Tokenized, trained: list[bool]) -> list[Note]:
    enc = item.encoded
    hit = [i for i in range(1, len(enc)) if trained[i] and enc.roles[i] == "tool" and enc.kinds[i] == "content"]
    if not hit:
        return []
    turn = enc.turns[hit[0]]
    return [
        Note(
            f"the result of tool turn {turn} is trained ({len(hit)} tokens, token {hit[0]} first): the model "
            "learns to write what the tool returns instead of waiting for it",
            "tool-output-trained",
        )
    ]


def _weight_ignored(item: Tokenized, trained: list[bool]) -> list[Note]:
    enc = item.encoded
    for t, turn in enumerate(item.example.conversation.turns):
        if turn.weight != 0:
            continue
        hit = [i for i in range(1, len(enc)) if trained[i] and enc.turns[i] == t and enc.kinds[i] == "content"]
        if hit:
            return [
                Note(
                    f"message {t} is written with weight 0 (not to be learned, as OpenAI's fine-tuning reads it), "
                    f"yet {len(hit)} of its tokens are trained: TRL reads no per-message weight",
                    "weight-ignored",
                )
            ]
    return []


def _dropped(item: Tokenized) -> list[Note]:
    """Keys of the row the rendering never shows: reasoning, tool calls, tools; and reasoning kept only late."""
    text, example = item.rendered.text, item.example
    turns = example.conversation.turns
    reasoning = [(t, turn.reasoning.strip()) for t, turn in enumerate(turns) if turn.reasoning.strip()]
    shown = [t for t, r in reasoning if r in text]
    missing = [t for t, r in reasoning if r not in text]
    if missing and shown and max(shown) > max(missing):
        return [
            Note(
                f"the template drops the reasoning of earlier answers (turn {', '.join(map(str, missing))}) and "
                f"keeps turn {max(shown)}'s: the model trains on a history other than the one written, and those "
                "turns' reasoning is never learned",
                "reasoning-history-dropped",
            )
        ]
    for t, turn in enumerate(turns):
        names = [tool_call_pieces(c)[0] for c in turn.tool_calls]
        if any(n and n not in text for n in names):
            empty = " so that answer trains as an empty answer" if not turn.content.strip() else ""
            return [Note(f"the template does not render turn {t}'s tool call ({names[0]}),{empty}", "field-dropped")]
    if missing:
        return [
            Note(
                f"the template does not render the reasoning of turn {missing[0]}: it is written in the row and "
                "never trained",
                "field-dropped",
            )
        ]
    tools = example.tool_list() or []
    tool_names = [tool_call_pieces(tool)[0] for tool in tools if isinstance(tool, dict)]
    if tool_names and not any(n and n in text for n in tool_names):
        return [
            Note(
                f"the template does not render the row's tools ({', '.join(tool_names[:3])}): the model never sees "
                "which tools it may call",
                "field-dropped",
            )
        ]
    return []


def _spans_tokens(item: Tokenized, start: int, end: int) -> list[int]:
    return [i for i, (s, e) in enumerate(item.encoded.offsets) if s < end and e > start]


def _injected(item: Tokenized, trained: list[bool]) -> list[Note]:
    text = item.rendered.text
    for seg in item.rendered.segments:
        if seg.kind != "template":
            continue
        m = _WORDS.search(text[seg.start : seg.end])
        if not m:
            continue
        start, end = seg.start + m.start(), seg.start + m.end()
        conv = item.example.conversation
        if conv is not None and any(text[start:end] in t.content for t in conv.turns):
            continue  # a message the template moved (Gemma folds the system turn into the first user turn)
        learned = any(trained[i] for i in _spans_tokens(item, start, end))
        words = text[start:end] if end - start <= 60 else text[start : start + 57] + "…"
        return [
            Note(
                f"the rendering adds text that is in no message: “{words}”"
                + (" — and it is trained" if learned else " (not trained, but the model reads it every time)"),
                "injected-text",
            )
        ]
    return []


def answer_ends(item: Tokenized) -> list[tuple[int, int]]:
    """(turn, position of the token that ends it) for each assistant turn: the first special token after its
    last content token."""
    enc = item.encoded
    out = []
    for turn in sorted({t for t, r in zip(enc.turns, enc.roles) if r == "assistant" and t >= 0}):
        content = [i for i in range(len(enc)) if enc.turns[i] == turn and enc.kinds[i] == "content"]
        if not content:
            continue
        after = [i for i in range(content[-1] + 1, len(enc)) if enc.special[i]]
        if after:
            out.append((turn, after[0]))
    return out


def _stop_tokens(item, labels, trained, tokenizer, stop_ids, structural: bool) -> list[Note]:
    notes = []
    stops = set(stop_ids or ()) | {tokenizer.eos_token_id}
    ends = answer_ends(item)
    enc = item.encoded
    for turn, pos in ends:
        answer_trained = any(trained[i] for i in range(len(enc)) if enc.turns[i] == turn and enc.kinds[i] == "content")
        already = labels is not None and any(n.code == "eos-masked" for n in labels.notes)  # said, as eos
        if labels is not None and answer_trained and not trained[pos] and not already:
            notes.append(
                Note(
                    f"the token that ends answer {turn}, {token_name(tokenizer, enc.ids[pos])} (token {pos}), is "
                    "not trained: the model never learns to stop",
                    "stop-token-untrained",
                )
            )
            break
    for _turn, pos in ends if structural else ():
        if enc.ids[pos] not in stops:
            names = ", ".join(token_name(tokenizer, s) for s in sorted(s for s in stops if s is not None))
            notes.append(
                Note(
                    f"answers end with {token_name(tokenizer, enc.ids[pos])}, which generation does not stop on "
                    f"(it stops on {names}): the model learns to say it and generation runs on; add it to the "
                    "generation config's eos_token_id",
                    "stop-token-not-eos",
                )
            )
            break
    return notes


def _history(item: Tokenized) -> list[Note]:
    """A message whose content is nowhere in the rendering as written (moved is not altered: Gemma folds the
    system turn into the first user turn). The last answer is checked too: rewritten, it trains on something
    else than the data."""
    for t, turn in enumerate(item.example.conversation.turns):
        if turn.content.strip() and turn.content not in item.rendered.text:
            return [
                Note(
                    f"turn {t} ({turn.role}) is not in the rendering as written: the template drops or changes "
                    "its content",
                    "history-altered",
                )
            ]
    return []


def _prefix(item: Tokenized, tokenizer) -> list[Note]:
    messages = item.example.conversation.messages()
    try:
        arguments = item.example.template_arguments()
        renders = [
            apply_chat_template(tokenizer, messages[:k], arguments=arguments) for k in range(1, len(messages) + 1)
        ]
    except FormatError:
        return []
    for k in range(1, len(renders)):
        if not renders[k].startswith(renders[k - 1]):
            return [
                Note(
                    f"the template renders the first {k} messages differently once message {k} follows: what is "
                    "masked here differs from what the model sees at inference",
                    "not-prefix-preserving",
                )
            ]
    return []


def _empty_think(item: Tokenized, trained: list[bool]) -> list[Note]:
    """An empty reasoning block written by the template (not inside any message's content) that is trained."""
    text = item.rendered.text
    content = [(s.start, s.end) for s in item.rendered.segments if s.kind == "content"]
    for m in _EMPTY_THINK.finditer(text):
        if any(s < m.end() and e > m.start() for s, e in content):
            continue
        if any(trained[i] for i in _spans_tokens(item, m.start(), m.end())):
            return [
                Note(
                    f"the template inserts an empty reasoning block ({m.group()!r}) inside the trained span: the "
                    "model learns to answer without thinking",
                    "empty-think-trained",
                )
            ]
    return []
