"""A fine-tune's answer to an example's question: the prompt a format writes up to the answer, and greedy
generation from it (seed 000's check: after training on five words, does "day" come back as "día"?)."""

from __future__ import annotations

import torch

from lab.common import pad_id
from lab.data.examples import Example, single_turn
from lab.errors import LabError
from lab.labels.formats import apply_chat_template, render
from lab.models.devices import input_device

RAW_TEXT = "raw text"  # the question as it is, no format around it
PROMPT_FORMATS = ("classic", "chat-template", RAW_TEXT)


def prompt_format(fmt: str) -> str:
    """The prompt format of a question for a run trained in `fmt`: a question is a conversation, and
    conversations as written go through the chat template."""
    return "chat-template" if fmt == "as-written" else fmt


def prompt_text(example: Example, tokenizer, fmt: str) -> str:
    """The text up to where the last answer starts (classic: through `### Assistant:` and its bos;
    chat-template: the conversation before it with the generation prompt)."""
    row = render(example, tokenizer, fmt).trl_completion_row
    if row is None:
        raise LabError("this example has no assistant turn, so there is no answer to compare")
    if "prompt" not in row:
        raise LabError("this example is a text row: it has no question and answer to split it at")
    if isinstance(row["prompt"], str):
        return row["prompt"]
    extra = {"tools": row["tools"]} if row.get("tools") else {}
    return apply_chat_template(
        tokenizer, row["prompt"], generation_prompt=True, arguments=extra | row.get("chat_template_kwargs", {})
    )


def question_prompt(question: str, tokenizer, fmt: str) -> str:
    """The text a question becomes before its answer: a one-turn example's prompt in `fmt` (classic or
    chat-template, as a run trained on it), or the question itself as raw text."""
    if fmt == RAW_TEXT:
        return question
    return prompt_text(single_turn(question, "x"), tokenizer, fmt)


def adds_special_tokens(fmt: str) -> bool:
    """Whether a prompt in `fmt` is tokenized with the tokenizer's own special tokens (the chat template
    writes its own), as training tokenized it."""
    return prompt_format(fmt) != "chat-template"


def greedy_answer(model, tokenizer, prompt: str, fmt: str, max_new_tokens: int = 8) -> str:
    """Greedy continuation of `prompt`, special tokens kept (an `<|im_end|>` shows the model stopping)."""
    encoded = tokenizer(prompt, return_tensors="pt", add_special_tokens=adds_special_tokens(fmt))
    device = input_device(model)
    with torch.no_grad():
        out = model.generate(
            **{k: v.to(device) for k, v in encoded.items()},
            do_sample=False,
            max_new_tokens=max_new_tokens,
            pad_token_id=pad_id(tokenizer),
            eos_token_id=tokenizer.eos_token_id,
        )
    return tokenizer.decode(out[0, encoded["input_ids"].shape[1] :], skip_special_tokens=False)
