"""How a run is asked its questions: one home for a run's tokenizer, prompt and models.

A run trained in one format under one chat template (the model's own, or one of TRL's) is asked in that same
format and template everywhere: Train's "Answer with both", Compare runs, the Decoding page, `python -m lab
decode --run` and `inspect --run`, and an export's model card. Its base model is asked the same way, so the
two answers differ only by the fine-tune.
"""

from __future__ import annotations

from lab.look.generate import prompt_format, question_prompt
from lab.models.references import load_model
from lab.train.config import RunConfig, run_tokenizer
from lab.train.weights import load_trained


def run_prompt(config: RunConfig, question: str, fmt: str | None = None) -> str:
    """The text a question becomes for a run: in the run's own format (or `fmt`, a prompt format), through
    the run's chat template."""
    return question_prompt(question, run_tokenizer(config), fmt or prompt_format(config.format))


def published_base(config: RunConfig, device: str = "cpu"):
    """The model a run started from as published (full precision, unplaced): what the run is compared with."""
    return load_model(config.model, device, trust_remote_code=config.trust_remote_code)


def tuned_model(config: RunConfig, final_weights, device: str = "cpu"):
    """A run's fine-tuned model from its final weights (full weights, or its adapter on the base it trained on)."""
    return load_trained(config, final_weights, device)
