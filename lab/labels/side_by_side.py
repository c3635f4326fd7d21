"""One conversation under several chat templates: its tokens under each, what one strategy trains, the token that
ends each answer and the audit, so the same data can be seen to train differently (Templates side by side,
`python -m lab templates --data`)."""

from __future__ import annotations

from dataclasses import dataclass

from lab.common import first_line
from lab.data.examples import Example
from lab.errors import LabError
from lab.labels.audit import answer_ends, audit
from lab.labels.compare import summarise
from lab.labels.formats import default_templates
from lab.labels.strategies import label_example
from lab.labels.templates import MODEL_TEMPLATE, added_tokens, with_template
from lab.labels.token_labels import DEFAULT_PROMPT_WEIGHT, Labels, LabelSettings, Note
from lab.labels.tokens import Tokenized, tokenize_example

# The templates shown by default beside the model's own: four families whose traps differ.
SIDE_BY_SIDE = (MODEL_TEMPLATE, "gemma3", "llama3_1", "qwen3", "gptoss")


@dataclass(frozen=True)
class UnderTemplate:
    """The conversation under one template: its tokens, the strategy's labels and the audit notes; or why it
    cannot be shown (`error`)."""

    name: str
    item: Tokenized | None = None
    labels: Labels | None = None
    notes: tuple[Note, ...] = ()
    added: tuple[str, ...] = ()
    stop_tokens: tuple[str, ...] = ()  # the token that ends the answers (each distinct one once)
    trained: int | None = None  # tokens the strategy trains; None when it cannot label the conversation
    prompt_trained: int = 0  # of them, outside the answers
    error: str = ""

    @property
    def tokens(self) -> int:
        return len(self.item.encoded) if self.item else 0

    @property
    def codes(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(n.code for n in self.notes if n.code))

    def to_json(self) -> dict:
        return {
            "template": self.name,
            "tokens": self.tokens,
            "trained": self.trained,
            "prompt_trained": self.prompt_trained,
            "stop_tokens": list(self.stop_tokens),
            "codes": list(self.codes),
            "added_tokens": list(self.added),
            "error": self.error or None,
        }


def under_templates(
    example: Example,
    tokenizer,
    names=SIDE_BY_SIDE,
    strategy: str = "trl-completion",
    prompt_weight: float = DEFAULT_PROMPT_WEIGHT,
    stop_ids: set[int] | None = None,
) -> list[UnderTemplate]:
    """The conversation rendered by each named template (`model`: the tokenizer's own) and labelled by
    `strategy`, with each template's own response template for `response-template`."""
    if example.conversation is None:
        raise LabError("a text row is trained as written: only a conversation can be rendered by chat templates")
    out = []
    for name in names:
        if name == MODEL_TEMPLATE and not getattr(tokenizer, "chat_template", None):
            out.append(UnderTemplate(name, error="the model has no chat template of its own"))
            continue
        try:
            tok = with_template(tokenizer, name)
            item = tokenize_example(example, tok, "chat-template")
        except (LabError, ValueError) as e:  # a template that refuses this conversation: said, the others shown
            out.append(UnderTemplate(name, error=first_line(e)))
            continue
        response, instruction = default_templates(tok, "chat-template")
        labels = label_example(item, tok, (strategy,), LabelSettings(prompt_weight, response, instruction))[strategy]
        notes = tuple(labels.notes) + tuple(audit(item, labels, tok, stop_ids)) if labels.available else labels.notes
        [summary] = summarise(item, {strategy: labels}, tok)
        ends = tuple(dict.fromkeys(tok.convert_ids_to_tokens(item.encoded.ids[pos]) for _, pos in answer_ends(item)))
        trained = summary.trained if labels.available else None
        out.append(UnderTemplate(name, item, labels, notes, added_tokens(tok), ends, trained, summary.prompt_tokens))
    return out
