"""The README model card of an exported run: what it was trained from, on what, how, and how it answers."""

from __future__ import annotations

import hashlib
import json
import time

from lab.data.examples import Example, example_to_row
from lab.data.sources import heldout_question, load_sample
from lab.labels.strategies import DESCRIPTIONS
from lab.labels.templates import MODEL_TEMPLATE
from lab.look.generate import greedy_answer
from lab.look.run_models import published_base, run_prompt, tuned_model
from lab.models.references import resolve
from lab.models.shipped import SHIPPED
from lab.train.config import run_tokenizer
from lab.train.store import RunStore


def data_hash(store: RunStore, run_id: str) -> str:
    """sha256 of the examples file the run trained on, as stored in its folder."""
    return hashlib.sha256((store.run_folder(run_id) / "examples.jsonl").read_bytes()).hexdigest()


def base_description(ref: str) -> str:
    """The base model in words: a shipped one with its hub original, a folder, or a hub id."""
    if ref in SHIPPED:
        return f"{SHIPPED[ref].description}; the original is `{SHIPPED[ref].hub_id}` on the hub"
    return f"`{ref}` ({resolve(ref).kind})"


def card_question(examples: list[Example]) -> tuple[str, str] | None:
    """The question the card asks, and where it comes from: seed 000's held-out "day" for a run on the Spanish
    sample (a word it never saw), otherwise the first question of the run's own data; None without one."""
    if [example_to_row(e) for e in examples] == [example_to_row(e) for e in load_sample("spanish")]:
        return heldout_question()[0], "held out: seed 000's question, on a word none of its examples has"
    for k, example in enumerate(examples):
        turns = [] if example.is_text else example.conversation.turns
        asked = [t.content for t in turns[: example.conversation.last_assistant_index() or 0] if t.role == "user"]
        if asked:
            return asked[-1], f"the last question of its training example #{k}: a question it trained on"
    return None


def card_answers(store: RunStore, run_id: str) -> tuple[str, str, str, str] | None:
    """(question, where it comes from, the base model's answer, the fine-tuned one's), asked as the run was
    trained (lab.look.run_models), or None when its data has no question."""
    config = store.get(run_id).config
    asked = card_question(store.examples(run_id))
    if asked is None:
        return None
    question, where = asked
    prompt, tokenizer = run_prompt(config, question), run_tokenizer(config)
    base, tuned = published_base(config), tuned_model(config, store.final_weights(run_id))
    fmt = config.format
    return question, where, greedy_answer(base, tokenizer, prompt, fmt), greedy_answer(tuned, tokenizer, prompt, fmt)


def format_description(config) -> str:
    """The text the run's rows became, in words."""
    if config.format == "classic":
        return "`### Human:` / `### Assistant:` with the bos after the response template (seed 000)"
    template = "the model's own" if config.template == MODEL_TEMPLATE else f"TRL's `{config.template}`"
    through = f"the chat template ({template}, saved with the tokenizer)"
    if config.format == "chat-template":
        return f"every conversation through {through}"
    return f"each row as TRL's SFTTrainer reads it: conversations through {through}, text rows as written"


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
    answered = card_answers(store, run_id)
    if answered:
        question, where, before, after = answered
        asked = (
            f"## A question, base vs fine-tuned\n{question}\n\n({where})\n\n- before: `{before!r}`\n"
            f"- after: `{after!r}`\n\n(greedy, 8 new tokens, the prompt in the run's {config.format} format "
            "under its chat template, special tokens kept)\n"
        )
    else:
        asked = "## A question, base vs fine-tuned\nIts data holds no question to ask (text rows only).\n"
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
| format | {config.format}: {format_description(config)} |
| strategy | {config.strategy}: {DESCRIPTIONS[config.strategy]} |
| method | {config.method}, engine {config.engine}, {config.epochs} epochs, lr {config.lr:g}, batch {batch} |
| final losses | {losses or "none logged"} (step {run.step} of {run.total_steps}) |
| generation stops on | {stops} |

{asked}
## Every setting of the run
```json
{settings}
```
"""
