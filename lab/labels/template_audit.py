"""Every TRL chat template audited on one model's tokenizer: a few probe conversations rendered under each, and
the audit codes they raise under TRL's completion-only and assistant-only losses (`python -m lab templates`)."""

from __future__ import annotations

from dataclasses import dataclass

from lab.common import first_line
from lab.data.examples import Example, conversation, single_turn
from lab.labels.audit import AUDIT_CODES
from lab.labels.check import check
from lab.labels.templates import MODEL_TEMPLATE, added_tokens, template_choices, with_template
from lab.labels.trl_labels import assistant_only_trainable

PROBES: tuple[Example, ...] = (
    single_turn('How do you say "dog" in Spanish?', "perro"),
    conversation(("user", "2+2?"), ("assistant", "<think>add them</think>4"), ("user", "and 3+3?"), ("assistant", "6")),
    conversation(("system", "Answer in one word."), ("user", "Capital of France?"), ("assistant", "Paris")),
)
AUDITED_UNDER = ("trl-completion", "trl-assistant")


@dataclass(frozen=True)
class TemplateAudit:
    """One template on one tokenizer: the control tokens it lacked, whether TRL's assistant-only loss can train
    with it, and the audit codes the probes raise (or why it cannot render them)."""

    name: str
    added: tuple[str, ...]
    assistant_only: bool
    codes: tuple[str, ...]
    error: str = ""

    def to_json(self) -> dict:
        return {
            "template": self.name,
            "added_tokens": list(self.added),
            "assistant_only_loss": self.assistant_only,
            "codes": list(self.codes),
            "error": self.error or None,
        }


def audit_templates(tokenizer, names=None, stop_ids: set[int] | None = None) -> list[TemplateAudit]:
    """The audit of each named template (default: the model's own, then every TRL original)."""
    out = []
    for name in names or template_choices():
        if name == MODEL_TEMPLATE and not getattr(tokenizer, "chat_template", None):
            out.append(TemplateAudit(name, (), False, (), "the model has no chat template of its own"))
            continue
        try:
            tok = with_template(tokenizer, name)
            trainable = assistant_only_trainable(tok)
            findings = check(list(PROBES), tok, "as-written", AUDITED_UNDER, max_length=None, stop_ids=stop_ids)
        except Exception as e:  # a template that fails on these probes: said, the others still listed
            out.append(TemplateAudit(name, (), False, (), first_line(e)))
            continue
        unrenderable = [f.message for f in findings if f.code == "unrenderable"]
        codes = tuple(c for c in AUDIT_CODES if any(f.code == c for f in findings))
        out.append(TemplateAudit(name, added_tokens(tok), trainable, codes, unrenderable[0] if unrenderable else ""))
    return out
