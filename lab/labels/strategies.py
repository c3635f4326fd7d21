"""The labelling strategies: which tokens a fine-tune learns from, and with what weight.

Each strategy returns Labels aligned with input_ids (label -100 = ignored; weight = the token's share in the
loss). Position 0 is never predicted (position i's logits predict token i+1), so counts skip it.

  copy               labels = input_ids (seed 000, first approach)
  special-mask       mask through each bos, keep the answer and its eos, mask again after it (seed 000)
  response-template  the old TRL DataCollatorForCompletionOnlyLM (removed in TRL 0.20): templates matched
                     by ids, and every pad-id token set to -100 first, as its parent collator did
  trl-completion     TRL 1.x SFTTrainer `completion_only_loss`: TRL's own dataset preparation
  trl-assistant      TRL 1.x SFTTrainer `assistant_only_loss`: TRL's own preparation, needs `{% generation %}`
  prompt-weight      seed 002: every token counts; prompt tokens weigh w, completion tokens 1
"""

from __future__ import annotations

import functools
from collections.abc import Callable

from lab.common import IGNORE_INDEX
from lab.errors import LabError
from lab.labels.formats import default_templates
from lab.labels.token_labels import Labels, LabelSettings, Note, from_mask, token_name
from lab.labels.tokens import Tokenized
from lab.labels.trl_labels import trl_labels

STRATEGIES = ("copy", "special-mask", "response-template", "trl-completion", "trl-assistant", "prompt-weight")
COMPLETION_ONLY = ("special-mask", "response-template", "trl-completion", "trl-assistant")  # answers alone
PROMPT_ROLES = ("system", "user", "tool")  # what the model is given, never what it should learn to write
DESCRIPTIONS = {
    "copy": "labels copied from input_ids: every token is learned, prompt included",
    "special-mask": "-100 from the start through each bos; the answer and its eos are learned",
    "response-template": "old TRL completion-only collator: template ids matched, pad-id tokens masked",
    "trl-completion": "TRL SFTTrainer completion_only_loss on prompt-completion data",
    "trl-assistant": "TRL SFTTrainer assistant_only_loss (needs {% generation %} in the chat template)",
    "prompt-weight": "every token learned; prompt tokens weigh w, completion tokens 1",
}


# -- copy, special-mask, prompt-weight ------------------------------------------------------------


def copy_labels(item: Tokenized, tokenizer, settings: LabelSettings) -> Labels:
    """Labels = input_ids."""
    return from_mask(item.encoded.ids, [True] * len(item.encoded))


def special_mask(item: Tokenized, tokenizer, settings: LabelSettings) -> Labels:
    """Seed 000's `create_special_mask`: mask up to and including each bos, keep through each eos (a bos that
    opens the whole text excepted, see `special_mask_flags`)."""
    bos, eos = tokenizer.bos_token_id, tokenizer.eos_token_id
    opens_text = bos_opens_text(tokenizer)
    keep = special_mask_flags(item.encoded.ids, bos, eos, opens_text)
    result = from_mask(item.encoded.ids, keep)
    enc = item.encoded
    if bos is None or bos not in enc.ids[1 if opens_text else 0 :]:
        where = (
            f"its only bos {token_name(tokenizer, bos)} is the one that opens the whole text (token 0), which marks "
            "no answer"
            if bos is not None and enc.ids and enc.ids[0] == bos and opens_text
            else f"the text holds no bos token ({token_name(tokenizer, bos)})"
        )
        return result.with_notes(Note(f"{where}, so special-mask masks every token"))
    outside = sorted({enc.roles[i] for i, k in enumerate(keep) if k and enc.roles[i] not in ("assistant",)})
    if outside:
        count = sum(1 for i, k in enumerate(keep) if k and enc.roles[i] != "assistant")
        prompt = set(outside) & set(PROMPT_ROLES)
        return result.with_notes(
            Note(
                f"special-mask learns {count} {'/'.join(outside)} tokens: "
                + (
                    f"in this format the bos {token_name(tokenizer, bos)} opens every turn, not only the answers"
                    if enc.ids.count(bos) > 1
                    else f"it trains from the bos {token_name(tokenizer, bos)} to the next eos "
                    f"{token_name(tokenizer, eos)}, and here that span holds more than the answers"
                ),
                "prompt-trained" if prompt else "",
            )
        )
    return result


@functools.lru_cache(maxsize=32)
def bos_opens_text(tokenizer) -> bool:
    """Whether the tokenizer writes its bos before every text (Gemma's `<bos>`), so that a bos at token 0 opens
    the whole text and marks no answer. SmolLM2's bos, `<|im_start|>`, is never added: it opens turns."""
    bos = tokenizer.bos_token_id
    return bos is not None and tokenizer("x")["input_ids"][:1] == [bos]


def special_mask_flags(ids, bos: int | None, eos: int | None, opens_text: bool = False) -> list[bool]:
    """Seed 000's mask: -100 through each bos, kept through the next eos. With `opens_text` (see
    `bos_opens_text`), a bos at token 0 opens the whole text and marks no answer, so the mask goes on to the bos
    that does: the seed's intent. Without this, Gemma trains its whole prompt under special-mask."""
    keep, in_prompt = [], True
    for k, token_id in enumerate(ids):
        if in_prompt:
            keep.append(False)
            if token_id == bos and (k > 0 or not opens_text):
                in_prompt = False
        else:
            keep.append(True)
            if token_id == eos:
                in_prompt = True
    return keep


def completion_flags(item: Tokenized, tokenizer) -> list[bool]:
    """The format's completion: special-mask's kept tokens (classic, text rows), the completion of a
    prompt-completion row, the assistant answers (chat-template)."""
    if item.rendered.format in ("chat-template", "prompt-completion") and item.example.conversation is not None:
        return list(item.encoded.completion)
    return [label != IGNORE_INDEX for label in special_mask(item, tokenizer, LabelSettings()).labels]


def prompt_weight(item: Tokenized, tokenizer, settings: LabelSettings) -> Labels:
    """Seed 002: every token a label; completion weight 1, prompt weight w."""
    w = settings.prompt_weight
    completion = completion_flags(item, tokenizer)
    weights = tuple(1.0 if c else w for c in completion)
    result = Labels(tuple(item.encoded.ids), weights)
    if not any(completion[1:]):
        result = result.with_notes(
            Note(f"this example has no completion tokens: only prompt tokens, at weight w = {w:g}")
        )
    return result


# -- the old completion-only collator -------------------------------------------------------------


def _find_all(seq: list[int], pattern: list[int]) -> list[int]:
    n = len(pattern)
    return [i for i in range(len(seq) - n + 1) if pattern and seq[i : i + n] == pattern]


def template_ids_in_context(item: Tokenized, template: str) -> list[int] | None:
    """The ids of the tokens that cover the template's first occurrence in the text, or None."""
    at = item.rendered.text.find(template)
    if at < 0:
        return None
    end = at + len(template)
    return [t for t, (s, e) in zip(item.encoded.ids, item.encoded.offsets) if s < end and e > at]


def response_template(item: Tokenized, tokenizer, settings: LabelSettings) -> Labels:
    """`DataCollatorForCompletionOnlyLM(response_template, instruction_template)` as TRL < 0.20 had it."""
    default_response, default_instruction = default_templates(tokenizer, item.rendered.format)
    response = settings.response_template or default_response
    # An empty instruction template is none at all: the collator then keeps everything after the last response.
    instruction = default_instruction if settings.instruction_template is None else settings.instruction_template
    response_ids = tokenizer.encode(response, add_special_tokens=False)
    instruction_ids = tokenizer.encode(instruction, add_special_tokens=False) if instruction else None
    ids = list(item.encoded.ids)
    # Its parent, transformers' DataCollatorForLanguageModeling(mlm=False), sets every pad-id token to -100
    # before the templates are searched; when pad == eos that includes every eos (TRL issue 1623).
    pad = tokenizer.pad_token_id
    labels = [IGNORE_INDEX if pad is not None and t == pad else t for t in ids]
    notes = []
    starts = _find_all(labels, response_ids)
    response_ends = [s + len(response_ids) for s in starts]
    if not starts:
        notes.append(_not_found_note("response", response, response_ids, item))
        labels = [IGNORE_INDEX] * len(ids)
    elif instruction_ids is None:
        labels[: response_ends[-1]] = [IGNORE_INDEX] * response_ends[-1]
    else:
        human = _find_all(labels, instruction_ids)
        if not human:
            notes.append(_not_found_note("instruction", instruction, instruction_ids, item))
            labels = [IGNORE_INDEX] * len(ids)
        else:
            if human[0] > response_ends[0]:
                human = [0] + human
            for k, (start, end) in enumerate(zip(human, response_ends)):
                lo = 0 if k == 0 else start
                labels[lo:end] = [IGNORE_INDEX] * (end - lo)
            if len(response_ends) < len(human):
                labels[human[-1] :] = [IGNORE_INDEX] * (len(ids) - human[-1])
    enc = item.encoded
    learns_something = any(label != IGNORE_INDEX for label in labels)
    if (
        learns_something
        and pad is not None
        and pad == tokenizer.eos_token_id
        and any(t == pad and enc.completion[i] for i, t in enumerate(ids))
    ):
        notes.append(
            Note(
                f"pad == eos ({token_name(tokenizer, pad)}): this collator masks every pad-id token, so "
                "the eos that ends each answer is masked too and the model never learns to stop "
                "(TRL issue 1623)",
                "eos-masked",
            )
        )
    keep = [label != IGNORE_INDEX for label in labels]
    return Labels(tuple(labels), tuple(1.0 if k else 0.0 for k in keep), tuple(notes))


def _not_found_note(which: str, template: str, template_ids: list[int], item: Tokenized) -> Note:
    in_context = template_ids_in_context(item, template)
    if in_context is None:
        detail = "the text does not contain it"
    elif in_context != template_ids:
        detail = (
            f"its ids alone are {template_ids} but in this text it tokenizes as {in_context}; pass the "
            "in-context ids, or start the template where tokens split the same way"
        )
    else:
        detail = "its ids are masked by the pad rule before the search"
    return Note(
        f"{which} template `{template}` not found ({detail}): the whole example is masked", "template-not-found"
    )


# -- TRL 1.x SFTTrainer ---------------------------------------------------------------------------

# -- all strategies -------------------------------------------------------------------------------

StrategyFn = Callable[[Tokenized, object, LabelSettings], Labels]
PER_EXAMPLE: dict[str, StrategyFn] = {
    "copy": copy_labels,
    "special-mask": special_mask,
    "response-template": response_template,
    "prompt-weight": prompt_weight,
}


def label_all(
    items: list[Tokenized], tokenizer, names=STRATEGIES, settings: LabelSettings = LabelSettings()
) -> list[dict[str, Labels]]:
    """Labels of every example under every named strategy (TRL strategies run once over the whole list)."""
    unknown = [n for n in names if n not in STRATEGIES]
    if unknown:
        raise LabError(f"unknown strategy '{unknown[0]}'; strategies: {', '.join(STRATEGIES)}")
    out = [dict() for _ in items]
    for name in names:
        if name in PER_EXAMPLE:
            column = [PER_EXAMPLE[name](item, tokenizer, settings) for item in items]
        else:
            column = trl_labels(items, tokenizer, assistant_only=name == "trl-assistant")
        for k, (item, labels) in enumerate(zip(items, column)):
            out[k][name] = _diagnose(name, item, labels, tokenizer)
    return out


def label_example(
    item: Tokenized, tokenizer, names=STRATEGIES, settings: LabelSettings = LabelSettings()
) -> dict[str, Labels]:
    """Labels of one example under every named strategy."""
    return label_all([item], tokenizer, names, settings)[0]


def _diagnose(name: str, item: Tokenized, labels: Labels, tokenizer) -> Labels:
    """Add the problems every strategy can have: nothing learned, prompt tokens learned by a completion-only
    strategy, or an answer's eos masked."""
    if not labels.available:
        return labels
    if labels.counted == 0 and not any(n.code == "template-not-found" for n in labels.notes):
        return labels.with_notes(Note(f"{name} learns no token of this example: nothing to learn", "fully-masked"))
    eos, enc = tokenizer.eos_token_id, item.encoded
    found = []
    prompt = [i for i in range(1, len(enc)) if labels.trained(i) and enc.roles[i] in PROMPT_ROLES]
    if name in COMPLETION_ONLY and prompt and not any(n.code == "prompt-trained" for n in labels.notes):
        roles = "/".join(sorted({enc.roles[i] for i in prompt}))
        found.append(
            Note(
                f"{name} learns {len(prompt)} {roles} tokens (token {prompt[0]} first): a completion-only mask "
                "should learn the answers alone",
                "prompt-trained",
            )
        )
    masked_eos = [
        i
        for i in range(1, len(enc))
        if enc.ids[i] == eos
        and enc.roles[i] == "assistant"
        and enc.completion[i]
        and not labels.trained(i)
        and any(labels.trained(j) for j in range(1, len(enc)) if enc.turns[j] == enc.turns[i])
    ]
    last = len(enc) - 1
    if item.example.conversation is None and last > 0 and enc.ids[last] == eos and not labels.trained(last):
        if any(labels.trained(j) for j in range(1, last)):
            masked_eos.append(last)  # a text row's closing eos: what ends the text the row teaches
    if masked_eos and not any(n.code == "eos-masked" for n in labels.notes):
        found.append(
            Note(
                f"{name} masks the eos {token_name(tokenizer, eos)} that ends "
                + ("the text" if item.example.conversation is None else "an answer")
                + f" (token {masked_eos[0]}): "
                "the model never learns to stop",
                "eos-masked",
            )
        )
    return labels.with_notes(*found)
