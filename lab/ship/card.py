"""The README model card of an exported run: what it was trained from, on what, how, and how it answers."""

from __future__ import annotations

import hashlib
import json
import time

from lab.data.sources import load_sample
from lab.labels.strategies import DESCRIPTIONS
from lab.look.generate import greedy_answer, question_prompt
from lab.models.references import load_model, resolve
from lab.models.shipped import SHIPPED
from lab.train.store import RunStore
from lab.train.weights import load_trained


def data_hash(store: RunStore, run_id: str) -> str:
    """sha256 of the examples file the run trained on, as stored in its folder."""
    return hashlib.sha256((store.run_folder(run_id) / "examples.jsonl").read_bytes()).hexdigest()


def base_description(ref: str) -> str:
    """The base model in words: a shipped one with its hub original, a folder, or a hub id."""
    if ref in SHIPPED:
        return f"{SHIPPED[ref].description}; the original is `{SHIPPED[ref].hub_id}` on the hub"
    return f"`{ref}` ({resolve(ref).kind})"


def heldout_answers(store: RunStore, run_id: str, tokenizer) -> tuple[str, str, str]:
    """The held-out question (seed 000's "day"), and the base and the fine-tuned model's greedy answers."""
    config = store.get(run_id).config
    question = load_sample("spanish_heldout")[0].conversation.turns[0].content
    prompt = question_prompt(question, tokenizer, config.format)
    base = load_model(config.model, "cpu", trust_remote_code=config.trust_remote_code)
    tuned = load_trained(config, store.final_weights(run_id), "cpu")
    return (
        question,
        greedy_answer(base, tokenizer, prompt, config.format),
        greedy_answer(tuned, tokenizer, prompt, config.format),
    )


def model_card(store: RunStore, run_id: str, weights: str, stop_ids: list[int], tokenizer) -> str:
    """The README.md of an export."""
    run = store.get(run_id)
    config = run.config
    last = (store.metrics(run_id) or [{}])[-1]
    losses = ", ".join(
        f"{name} {last[key]:.4f}"
        for key, name in (("loss", "weighted"), ("prompt_loss", "prompt"), ("completion_loss", "completion"))
        if last.get(key) is not None
    )
    question, before, after = heldout_answers(store, run_id, tokenizer)
    template = (
        "the tokenizer's chat template, saved with it"
        if config.format == "chat-template"
        else "`### Human:` / `### Assistant:` with the bos after the response template (seed 000)"
    )
    stops = ", ".join(f"`{tokenizer.convert_ids_to_tokens(i)}` ({i})" for i in stop_ids)
    settings = json.dumps(config.to_json(), indent=2)
    batch = config.batch_size
    return f"""# {run_id}: a {config.strategy} fine-tune of {config.model}

Exported by SFT Lab on {time.strftime("%Y-%m-%d")}.

| | |
|---|---|
| base model | {base_description(config.model)} |
| weights | {weights} |
| data | {run.examples} examples, sha256 `{data_hash(store, run_id)}` |
| format | {config.format}: {template} |
| strategy | {config.strategy}: {DESCRIPTIONS[config.strategy]} |
| method | {config.method}, engine {config.engine}, {config.epochs} epochs, lr {config.lr:g}, batch {batch} |
| final losses | {losses or "none logged"} (step {run.step} of {run.total_steps}) |
| generation stops on | {stops} |

## The held-out question
{question}

- before: `{before!r}`
- after: `{after!r}`

(greedy, 8 new tokens, the prompt in the run's {config.format} format, special tokens kept)

## Every setting of the run
```json
{settings}
```
"""
