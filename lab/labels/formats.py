"""Example -> Rendered text with character spans of every segment, under three formats.

as-written     each row as TRL 1.x's SFTTrainer treats its shape: a `text` row verbatim with the eos TRL appends
               (and the tokenizer's own special tokens), a prompt-completion string row joined as TRL joins it
               (eos appended, the completion what completion-only loss trains), a conversation through the chat
               template. The default.
classic        seed 000 for conversations: `\\n\\n### Human: {user}` and `\\n\\n### Assistant:{bos} {assistant}`,
               an eos before every `### Human:` except the first and an eos at the end.
chat-template  conversations (prompt-completion string rows too) through the tokenizer's `apply_chat_template`;
               spans come from rendering growing prefixes, so any prefix-stable template works.
A `text` row renders as written under every format: turning it into turns is an edit a person makes.

Each Rendered also knows its completion (what the format's completion-only mask trains on, as character
spans) and the row TRL would be given for it (prompt-completion and conversational shapes).
"""

from __future__ import annotations

import functools
import json
import os

from lab.common import first_line
from lab.data.examples import Example, tool_call_pieces
from lab.data.markers import marker_roles
from lab.errors import FormatError
from lab.labels.rendered import Builder, Rendered, Segment, special_token_strings, without_specials

FORMATS = ("as-written", "classic", "chat-template")
CLASSIC_HEADERS = {"user": "### Human:", "assistant": "### Assistant:", "system": "### System:"}
CLASSIC_RESPONSE_TEMPLATE = "### Assistant:"
CLASSIC_INSTRUCTION_TEMPLATE = "### Human:"


def render(example: Example, tokenizer, fmt: str = "as-written") -> Rendered:
    """Render an example under a format (`as-written`, `classic` or `chat-template`).

    The result's `format` is what the row became: `text`, `prompt-completion` (both as written), `classic` or
    `chat-template`."""
    if fmt not in FORMATS:
        raise FormatError(f"unknown format '{fmt}'; use one of {', '.join(FORMATS)}")
    if example.conversation is None:
        return _render_text(example.text or "", tokenizer)
    if fmt == "as-written" and example.shape == "prompt-completion":
        turns = example.conversation.turns
        return _render_prompt_completion(turns[0].content, turns[1].content, tokenizer)
    if fmt == "classic":
        return _render_classic(example, tokenizer)
    return _render_chat_template(example, tokenizer)


def _with_eos(text: str, tokenizer) -> tuple[str, str]:
    """The text with the eos TRL appends to a non-conversational row (unless it already ends with it)."""
    eos = tokenizer.eos_token or ""
    return (text, "") if not eos or text.endswith(eos) else (text + eos, eos)


def _render_text(text: str, tokenizer) -> Rendered:
    """A `text` row as TRL trains it: the text, its eos, the tokenizer's special tokens. `### Human:` markers
    found in it colour the roles without changing a character."""
    full, added = _with_eos(text, tokenizer)
    b = Builder(special_token_strings(tokenizer))
    for start, end, role, kind in marker_roles(text):
        if kind == "template":
            b.template(text[start:end], role, -1)
        else:
            b.written(text[start:end], role)
    last_role = b.segments[-1].role if b.segments else "text"
    b.special(added, last_role, -1)
    notes = ["a text row is trained as written: TRL tokenizes it with the tokenizer's own special tokens"]
    if added:
        notes.append(f"TRL appends the eos `{added}` to a text row that does not end with it")
    return Rendered(full, tuple(b.segments), "text", (), {"text": text}, None, tuple(notes))


def _render_prompt_completion(prompt: str, completion: str, tokenizer) -> Rendered:
    """A prompt-completion string row as TRL joins it: prompt + completion + eos, the completion trained."""
    full, added = _with_eos(prompt + completion, tokenizer)
    b = Builder(special_token_strings(tokenizer))
    for piece, role in ((prompt, "user"), (completion, "assistant")):
        b.written(piece, role)
    b.special(added, "assistant", -1)
    row = {"prompt": prompt, "completion": completion}
    notes = ["a prompt-completion row: TRL joins prompt and completion with nothing between them"]
    return Rendered(full, tuple(b.segments), "prompt-completion", ((len(prompt), len(full)),), row, None, tuple(notes))


def _render_classic(example: Example, tokenizer) -> Rendered:
    turns = example.conversation.turns
    for i, turn in enumerate(turns):
        if turn.role not in CLASSIC_HEADERS:
            raise FormatError(
                f"the classic format writes system, user and assistant turns; turn {i} is a {turn.role} turn: "
                "use the chat-template format"
            )
    bos, eos = tokenizer.bos_token or "", tokenizer.eos_token or ""
    notes = []
    if not bos:
        notes.append("the tokenizer has no bos token, so nothing marks where an answer starts")
    if not eos:
        notes.append("the tokenizer has no eos token, so nothing marks where an answer ends")
    b = Builder(special_token_strings(tokenizer))
    completion_spans = []
    seen_human = False
    prompt_end = None  # where the last assistant's text starts: TRL's prompt/completion cut
    for i, turn in enumerate(turns):
        if turn.role == "user":
            if seen_human and not b.text.endswith(eos):
                b.special(eos, turns[i - 1].role, i - 1)
            seen_human = True
        b.template("\n\n" + CLASSIC_HEADERS[turn.role], turn.role, i)
        if turn.role == "assistant":
            b.special(bos, "assistant", i)
            start = len(b.text)
            prompt_end = start
            b.template(" ", "assistant", i)
            b.content(turn.content, "assistant", i)
            completion_spans.append([start, len(b.text)])
        else:
            b.template(" ", turn.role, i)
            b.content(turn.content, turn.role, i)
    if eos and not b.text.endswith(eos):
        b.special(eos, turns[-1].role, len(turns) - 1)
    # The eos that closes an assistant answer belongs to the completion (special-mask keeps it).
    for span in completion_spans:
        if b.text.startswith(eos, span[1]) and eos:
            span[1] += len(eos)
    trl_row = None
    if prompt_end is not None:
        trl_row = {"prompt": b.text[:prompt_end], "completion": b.text[prompt_end:]}
    return Rendered(
        b.text, tuple(b.segments), "classic", tuple(map(tuple, completion_spans)), trl_row, None, tuple(notes), True
    )


def apply_chat_template(
    tokenizer, messages: list[dict], generation_prompt: bool = False, arguments: dict | None = None
) -> str:
    """The chat template's text for `messages` (with a row's `tools` and `chat_template_kwargs` in `arguments`,
    as SFTTrainer passes them); a template that refuses them raises FormatError in one line."""
    try:
        return tokenizer.apply_chat_template(
            messages, tokenize=False, add_generation_prompt=generation_prompt, **(arguments or {})
        )
    except Exception as e:
        raise FormatError(f"the chat template cannot render this conversation: {first_line(e)}") from None


def _render_chat_template(example: Example, tokenizer) -> Rendered:
    if not getattr(tokenizer, "chat_template", None):
        raise FormatError("this tokenizer has no chat template: pick a template, or use the classic format")
    conv = example.conversation
    messages = conv.messages()
    arguments = example.template_arguments()
    b = Builder(special_token_strings(tokenizer))
    notes, completion_spans = [], []
    prev, folded = "", []
    for i, turn in enumerate(conv.turns):
        try:
            full = apply_chat_template(tokenizer, messages[: i + 1], arguments=arguments)
        except FormatError:
            if i == len(conv.turns) - 1:
                raise
            return _render_whole(example, tokenizer, i)  # a template that refuses a part (a system turn alone)
        if not full.startswith(prev):
            return _render_whole(example, tokenizer, i)
        delta = full[len(prev) :]
        completion_start = None
        if turn.role == "assistant":
            with_prompt = apply_chat_template(tokenizer, messages[:i], generation_prompt=True, arguments=arguments)
            if with_prompt.startswith(prev) and full.startswith(with_prompt):
                gen_len = len(with_prompt) - len(prev)
                b.template(delta[:gen_len], "assistant", i)
                delta = delta[gen_len:]
                completion_start = len(b.text)
            else:
                notes.append(f"turn {i}: the generation prompt is not a prefix of the rendered answer")
        if i == 0 and turn.role != "system":
            # Some templates (SmolLM2's among them) write a default system prompt before the first turn.
            header = _turn_header(tokenizer, turn.role)
            cut = delta.find(header) if header else -1
            if cut > 0 and without_specials(delta[:cut], b.specials).strip():
                b.template(delta[:cut], "system", -1)
                delta = delta[cut:]
                notes.append("the chat template adds a default system prompt to conversations that have none")
        at = delta.find(turn.content) if turn.content else -1
        for j in list(folded):  # a message the template wrote into this turn (a system one, by Gemma's)
            k = delta.find(conv.turns[j].content)
            if 0 <= k and (at < 0 or k + len(conv.turns[j].content) <= at):
                b.template(delta[:k], turn.role, i)
                b.content(conv.turns[j].content, conv.turns[j].role, j)
                delta = delta[k + len(conv.turns[j].content) :]
                at = delta.find(turn.content) if turn.content else -1
                folded.remove(j)
                notes.append(
                    f"the chat template has no {conv.turns[j].role} role: turn {j} is written into turn {i} "
                    f"({turn.role})"
                )
        if at < 0:
            if turn.content and not without_specials(delta, b.specials).strip():
                folded.append(i)  # nothing written yet: it may appear inside a later turn
            elif turn.content:
                notes.append(f"turn {i}: the template changes the message text, so it is shown as template")
            b.template(delta, turn.role, i)
        else:
            b.template(delta[:at], turn.role, i)
            b.content(turn.content, turn.role, i)
            b.template(delta[at + len(turn.content) :], turn.role, i)
        if completion_start is not None:
            completion_spans.append((completion_start, len(b.text)))
        prev = full
    notes += [f"turn {j}: the chat template does not write this {conv.turns[j].role} message" for j in folded]
    return _chat_rendered(example, b, completion_spans, notes)


def _written_pieces(turn) -> list[tuple[str, str]]:
    """The text of a message's reasoning and tool calls a template may write, each with its part name."""
    pieces = [(turn.reasoning.strip(), "reasoning")] if turn.reasoning.strip() else []
    if turn.parts and turn.content not in ("",):  # content parts a template writes one by one (Gemma trims each)
        texts = [p.get("text", "") for p in json.loads(turn.parts) or [] if isinstance(p, dict)]
        pieces += [(t.strip(), "") for t in texts if isinstance(t, str) and t.strip() and len(texts) > 1]
    for call in turn.tool_calls:
        name, args = tool_call_pieces(call)
        if name:
            pieces.append((name, "tool-call"))
        if args and args not in ("{}", ""):
            pieces.append((args, "tool-call"))
    return pieces


def _with_parts(example: Example, rendered_text: str, segments: list[Segment]) -> list[Segment]:
    """Template segments that hold a message's reasoning or tool call, cut out as that message's content with
    its part ("reasoning", "tool-call"): the template writes them, but they are what the message says."""
    out = list(segments)
    for i, turn in enumerate(example.conversation.turns):
        for piece, part in _written_pieces(turn):
            for variant in _variants(piece):
                k = next(
                    (
                        k
                        for k, s in enumerate(out)
                        if s.turn == i and s.kind == "template" and variant in rendered_text[s.start : s.end]
                    ),
                    None,
                )
                if k is None:
                    continue
                seg = out[k]
                at = rendered_text.index(variant, seg.start, seg.end)
                cut = [
                    Segment(seg.start, at, seg.role, "template", i),
                    Segment(at, at + len(variant), seg.role, "content", i, part),
                    Segment(at + len(variant), seg.end, seg.role, "template", i),
                ]
                out[k : k + 1] = [c for c in cut if c.end > c.start]
                break
    return out


def _variants(piece: str) -> list[str]:
    """A piece as templates may write it: as given, and JSON arguments with Jinja's `tojson` spacing or compact."""
    out = [piece]
    try:
        value = json.loads(piece)
    except (json.JSONDecodeError, TypeError):
        return out
    if isinstance(value, (dict, list)):
        out += [json.dumps(value, ensure_ascii=False), json.dumps(value, ensure_ascii=False, separators=(",", ":"))]
    return list(dict.fromkeys(out))


def _chat_rendered(example: Example, b: Builder, spans: list, notes: list[str]) -> Rendered:
    """A conversation rendered by its chat template, with the rows TRL is given for it: prompt-completion
    (split where the row was split, else at the last answer) and conversational, `tools` and
    `chat_template_kwargs` included."""
    messages = example.conversation.messages()
    extra = {"tools": example.tool_list()} if example.tools else {}
    if example.template_kwargs:
        extra["chat_template_kwargs"] = json.loads(example.template_kwargs)
    last = (
        example.prompt_turns
        if example.shape == "chat-prompt-completion"
        else example.conversation.last_assistant_index()
    )
    trl_completion = {"prompt": messages[:last], "completion": messages[last:]} | extra if last is not None else None
    return Rendered(
        b.text,
        tuple(_with_parts(example, b.text, b.segments)),
        "chat-template",
        tuple(spans),
        trl_completion,
        {"messages": messages} | extra,
        tuple(notes),
        False,
    )


def _render_whole(example: Example, tokenizer, changed: int) -> Rendered:
    """A template that rewrites earlier turns as the conversation grows (not prefix-preserving): the whole
    conversation rendered once, as TRL renders it, each message found in it in order; the rest is template."""
    conv = example.conversation
    messages = conv.messages()
    arguments = example.template_arguments()
    full = apply_chat_template(tokenizer, messages, arguments=arguments)
    b = Builder(special_token_strings(tokenizer))
    notes = [
        f"the chat template renders earlier turns differently once turn {changed} follows (not prefix-preserving): "
        "the text is the whole conversation's rendering, each message found in it"
    ]
    completion_spans, cursor = [], 0
    for i, turn in enumerate(conv.turns):
        at = full.find(turn.content, cursor) if turn.content else -1
        if at < 0:
            if turn.content:
                notes.append(f"turn {i}: the template changes the message text, so it is shown as template")
            continue
        start = at
        if turn.role == "assistant":
            try:
                with_prompt = apply_chat_template(tokenizer, messages[:i], generation_prompt=True, arguments=arguments)
            except FormatError:
                with_prompt = ""
            common = len(os.path.commonprefix([with_prompt, full]))
            start = common if cursor <= common <= at and common == len(with_prompt) else at
        b.template(full[cursor:start], turn.role, i)
        b.template(full[start:at], turn.role, i)
        b.content(turn.content, turn.role, i)
        cursor = at + len(turn.content)
        if turn.role == "assistant":
            nxt = [full.find(t.content, cursor) for t in conv.turns[i + 1 :] if t.content]
            end = min([n for n in nxt if n >= 0], default=len(full))
            head = _turn_header(tokenizer, conv.turns[i + 1].role) if i + 1 < len(conv.turns) else ""
            cut = full.find(head, cursor, end) if head else -1
            end = cut if cut >= 0 else end
            b.template(full[cursor:end], turn.role, i)
            cursor = end
            completion_spans.append((start, end))
    b.template(full[cursor:], conv.turns[-1].role, len(conv.turns) - 1)
    return _chat_rendered(example, b, completion_spans, notes)


@functools.lru_cache(maxsize=32)
@functools.lru_cache(maxsize=64)
def _turn_header(tokenizer, role: str) -> str:
    """The text a chat template writes before a message of `role`, e.g. `<|im_start|>user\\n`: found after a
    user-assistant exchange (templates without a system role fold one into the next user turn), else after a
    system message."""
    marker = "\x00"
    exchange = [{"role": "user", "content": "\x01"}, {"role": "assistant", "content": "\x02"}]
    for before in (exchange, [{"role": "system", "content": "\x01"}]):
        try:
            alone = apply_chat_template(tokenizer, before)
            rendered = apply_chat_template(tokenizer, [*before, {"role": role, "content": marker}])
        except FormatError:
            continue
        if rendered.startswith(alone) and marker in rendered:
            header = rendered[len(alone) : rendered.index(marker)]
            if "\x01" not in header and "\x02" not in header:
                return header
    return ""


@functools.lru_cache(maxsize=32)
def default_templates(tokenizer, fmt: str) -> tuple[str, str]:
    """(response, instruction) templates for the response-template strategy under a format.

    classic, text and prompt-completion rows: `### Assistant:` and `### Human:`. chat-template: the template's
    own generation prompt and the header it writes before a user message, both found by rendering
    (e.g. `<|im_start|>assistant\\n`).
    """
    classic = (CLASSIC_RESPONSE_TEMPLATE, CLASSIC_INSTRUCTION_TEMPLATE)
    if fmt not in ("chat-template", "as-written") or not getattr(tokenizer, "chat_template", None):
        return classic
    user = [{"role": "user", "content": "\x00"}]
    try:
        plain = apply_chat_template(tokenizer, user)
        with_prompt = apply_chat_template(tokenizer, user, generation_prompt=True)
    except FormatError:
        return classic
    response = with_prompt[len(plain) :] if with_prompt.startswith(plain) else ""
    return response or classic[0], _turn_header(tokenizer, "user") or classic[1]
