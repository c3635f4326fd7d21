"""From an example to what a fine-tune learns: rendering, tokens, the labelling strategies and their checks.

rendered      `Rendered`: a rendering's text, segments (role, turn, kind), completion spans and TRL rows
formats       the formats (as-written, classic, chat-template) that render an example
tokens        `tokenize_example`: ids, the text each token covers, role, kind, completion (`Tokenized`)
token_labels  `Labels` (a label and a weight per token, notes in words) and `LabelSettings`
strategies    the six strategies (`STRATEGIES`), `label_all`, `label_example`, `completion_flags`
trl_labels    trl-completion and trl-assistant from TRL's own dataset preparation
compare       where strategies disagree, in words; tokens trained and the prompt's share per strategy
check         the dataset lint behind `python -m lab check` (stable finding codes)
ratio         the generation ratio Rg and the prompt's share of the loss under a weight w
"""

from lab.labels.check import CODES, Finding, FindingGroup, check, group_findings
from lab.labels.compare import compare, summarise
from lab.labels.formats import FORMATS, apply_chat_template, default_templates, render
from lab.labels.ratio import RatioStats, generation_ratio
from lab.labels.rendered import Rendered, special_token_strings
from lab.labels.strategies import DESCRIPTIONS, STRATEGIES, completion_flags, label_all, label_example
from lab.labels.token_labels import Labels, LabelSettings, Note
from lab.labels.tokens import Tokenized, tokenize_example, visible

__all__ = [
    "FindingGroup",
    "group_findings",
    "special_token_strings",
    "CODES",
    "DESCRIPTIONS",
    "FORMATS",
    "STRATEGIES",
    "Finding",
    "LabelSettings",
    "Labels",
    "Note",
    "RatioStats",
    "Rendered",
    "Tokenized",
    "apply_chat_template",
    "check",
    "compare",
    "completion_flags",
    "default_templates",
    "generation_ratio",
    "label_all",
    "label_example",
    "render",
    "summarise",
    "tokenize_example",
    "visible",
]
