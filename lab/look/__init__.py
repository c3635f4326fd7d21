"""Looking at a model: teacher-forced predictions per token, decoding step by step, and greedy answers.

teacher_forcing  every position's prediction of the next token, base vs fine-tuned (`inspect_example`)
decoding         greedy, beam search and sampling traces from one `generate` call (`decode`)
generate         the prompt up to an example's answer and a greedy answer to it
run_models       how a run is asked: the prompt in its format under its chat template, its base and tuned models
"""

from lab.look.decoding import DECODERS, DecodeSettings, Trace, decode, spread
from lab.look.generate import (
    PROMPT_FORMATS,
    adds_special_tokens,
    greedy_answer,
    prompt_format,
    prompt_text,
    question_prompt,
)
from lab.look.teacher_forcing import Position, inspect_example, mean_losses, weighted_mean_loss

__all__ = [
    "PROMPT_FORMATS",
    "adds_special_tokens",
    "prompt_format",
    "question_prompt",
    "DECODERS",
    "DecodeSettings",
    "Position",
    "Trace",
    "decode",
    "greedy_answer",
    "inspect_example",
    "mean_losses",
    "prompt_text",
    "spread",
    "weighted_mean_loss",
]
