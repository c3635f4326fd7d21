"""Real chat templates, read from the installed TRL package (never copied): the originals TRL ships in
`trl/chat_templates/` (Llama 3.x, Qwen 2.5/3, Gemma 3/4, GPT-OSS, DeepSeek, Phi-3, ...), put on a copy of a
tokenizer so that any page or command can show a conversation under any of them.

A template writes control tokens (`<start_of_turn>`, `<|eot_id|>`) that another model's tokenizer may not
know: on the copy they are added as special tokens, so each shows as one chip, and `added_tokens(tok)` names
them: token boundaries are then this tokenizer's, not those of the template's own model.
"""

from __future__ import annotations

import copy
import functools
import importlib.util
import re
from pathlib import Path

from lab.errors import FormatError

MODEL_TEMPLATE = "model"  # the tokenizer's own chat template
# Markup a template writes: <|...|>, <｜...｜>, <name>, </name>, <|name>, <name|>, [INST]-style brackets.
_CONTROL = re.compile(r"<[|｜]?/?[A-Za-z0-9_▁.:\-]+[|｜]?>|\[/?[A-Z_]{3,}\]")
_TURNS = [
    {"role": "system", "content": "S"},
    {"role": "user", "content": "U"},
    {"role": "assistant", "content": "A"},
    {"role": "user", "content": "V"},
    {"role": "assistant", "content": "B"},
]
# (messages, generation prompt): ending on an answer and on a question, with a system turn and without.
_PROBES = ((_TURNS, False), (_TURNS[:4], True), (_TURNS[1:], False), (_TURNS[1:4], True))


@functools.cache
def templates_dir() -> Path:
    """`trl/chat_templates/` of the installed TRL, found without importing TRL."""
    spec = importlib.util.find_spec("trl")
    if spec is None or not spec.submodule_search_locations:
        raise FormatError("TRL is not installed, so its chat templates cannot be read")
    return Path(list(spec.submodule_search_locations)[0]) / "chat_templates"


@functools.cache
def template_names() -> tuple[str, ...]:
    """Names of the original templates TRL ships (its `*_training` variants are what `trl-assistant` uses)."""
    return tuple(sorted(p.stem for p in templates_dir().glob("*.jinja") if not p.stem.endswith("_training")))


def template_choices() -> tuple[str, ...]:
    """What a picker offers: the model's own template, then TRL's by name."""
    return (MODEL_TEMPLATE, *template_names())


def template_text(name: str) -> str:
    """The Jinja text of a TRL template by name."""
    if name not in template_names():
        near = [n for n in template_names() if name.split("_")[0] in n][:6]
        hint = f"; near: {', '.join(near)}" if near else "; `python -m lab templates` lists them"
        raise FormatError(f"no chat template '{name}' in TRL{hint}")
    return (templates_dir() / f"{name}.jinja").read_text(encoding="utf-8")


def with_template(tokenizer, name: str | None):
    """The tokenizer, or a copy of it that renders with TRL's template `name` (its missing control tokens added
    as special tokens). `model` or None: the tokenizer itself."""
    if not name or name == MODEL_TEMPLATE:
        return tokenizer
    return _with_template(tokenizer, name)


@functools.lru_cache(maxsize=32)
def _with_template(tokenizer, name: str):
    text = template_text(name)
    tok = _copy(tokenizer, backend=False)
    tok.chat_template = text
    missing = [t for t in _control_tokens(tok, text) if len(tok.encode(t, add_special_tokens=False)) != 1]
    if missing:  # adding tokens changes the backend: this copy gets its own
        tok = _copy(tokenizer, backend=True)
        tok.chat_template = text
        tok.add_special_tokens({"additional_special_tokens": missing}, replace_extra_special_tokens=False)
    tok.lab_template = name
    tok.lab_added_tokens = tuple(missing)
    return tok


# What a tokenizer's copy may share with it: data read only when it was built (Gemma's 262k-entry vocabulary and
# half a million merges take seconds to copy), and the Rust backend unless tokens are added to the copy.
_SHARED = ("_vocab", "_merges")
_BACKEND = "_tokenizer"


def _copy(tokenizer, backend: bool):
    """A copy whose settings (template, special tokens) change without touching the original; the backend is
    copied only when `backend` (adding tokens changes it)."""
    tok = copy.copy(tokenizer)
    shared = _SHARED if backend else (*_SHARED, _BACKEND)
    tok.__dict__ = {k: v if k in shared else copy.deepcopy(v) for k, v in tokenizer.__dict__.items()}
    return tok


def _control_tokens(tokenizer, text: str) -> list[str]:
    """The markup strings the template writes around probe conversations, in order of first appearance."""
    found: dict[str, None] = {}
    for messages, generation_prompt in _PROBES:
        try:
            rendered = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=generation_prompt)
        except Exception:  # a template that refuses this probe (no system role, say): the others decide
            continue
        found |= dict.fromkeys(m.group() for m in _CONTROL.finditer(rendered))
    if not found:  # no probe renders: the markup in the template's own text
        found = dict.fromkeys(m.group() for m in _CONTROL.finditer(text))
    return [t for t in found if t not in (tokenizer.bos_token, tokenizer.eos_token, tokenizer.pad_token)]


def template_name(tokenizer) -> str:
    """The TRL template a tokenizer renders with (`model` for its own)."""
    return getattr(tokenizer, "lab_template", MODEL_TEMPLATE)


def added_tokens(tokenizer) -> tuple[str, ...]:
    """Control tokens a template copy added to the tokenizer (none for the model's own template)."""
    return getattr(tokenizer, "lab_added_tokens", ())


def added_tokens_sentence(tokenizer) -> str:
    """In words, when a template's control tokens were added to a tokenizer that lacked them; else ''."""
    added = added_tokens(tokenizer)
    if not added:
        return ""
    shown = ", ".join(f"`{t}`" for t in added[:6]) + (" …" if len(added) > 6 else "")
    return (
        f"this tokenizer lacks {len(added)} control tokens of the `{template_name(tokenizer)}` template ({shown}): "
        "they are added as special tokens so each is one chip, and token boundaries are this tokenizer's, not "
        "those of the template's own model. The model has no embedding for them: training would need new ones"
    )
