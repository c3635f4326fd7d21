"""TRL 1.x's own labels: `SFTTrainer`'s dataset preparation run on the lab's rows, lined up with its tokens.

trl-completion is `completion_only_loss=True` on prompt-completion rows; trl-assistant is
`assistant_only_loss=True` on conversations, through the chat template's `{% generation %}` markers or the
training template TRL itself swaps in. Tests check both against the batch a real one-step SFTTrainer trains on.
"""

from __future__ import annotations

import functools
import tempfile
import warnings
from types import SimpleNamespace

from lab.common import IGNORE_INDEX, first_line
from lab.errors import LabError
from lab.labels.token_labels import Labels, Note, unavailable
from lab.labels.tokens import Tokenized


@functools.lru_cache(maxsize=4)
def _sft_config(completion_only: bool, assistant_only: bool):
    from trl import SFTConfig  # heavy: TRL loads only when a TRL strategy is asked for

    with warnings.catch_warnings():  # TRL's own defaults trip transformers' deprecation notices
        warnings.simplefilter("ignore", FutureWarning)
        return SFTConfig(
            output_dir=tempfile.gettempdir(),
            max_length=None,
            completion_only_loss=completion_only,
            assistant_only_loss=assistant_only,
            report_to=[],
            dataset_num_proc=None,
            bf16=False,
            use_cpu=True,
        )


def generation_markers(tokenizer) -> bool:
    """Whether the chat template has `{% generation %}` markers (TRL's assistant-only loss needs them)."""
    from trl.chat_template_utils import has_generation_markers  # heavy, as above

    template = getattr(tokenizer, "chat_template", None)
    return bool(template) and has_generation_markers(template)


def assistant_only_trainable(tokenizer) -> bool:
    """Whether `assistant_only_loss=True` can train: the template has markers, or TRL has a training version."""
    if generation_markers(tokenizer):
        return True
    from trl.chat_template_utils import get_training_chat_template  # heavy, as above

    try:
        get_training_chat_template(tokenizer)
        return True
    except ValueError:
        return False


def trl_prepare(rows: list[dict], tokenizer, assistant_only: bool, completion_only: bool | None = None) -> list[dict]:
    """Run TRL's own `SFTTrainer._prepare_dataset` on rows; returns the prepared rows (input_ids, labels).
    `completion_only` is `completion_only_loss` (default: on unless `assistant_only`).

    The trainer instance is replaced by the three attributes the method reads, set the way
    `SFTTrainer.__init__` sets them; tests check the result against a real one-step SFTTrainer run.
    """
    # heavy, as above
    import datasets
    from trl import SFTTrainer
    from trl.chat_template_utils import get_training_chat_template

    chat_template = None
    if assistant_only and not generation_markers(tokenizer):
        chat_template = get_training_chat_template(tokenizer)  # raises ValueError when TRL cannot patch it
    completion_only = not assistant_only if completion_only is None else completion_only
    trainer = SimpleNamespace(_tokenizer=tokenizer, completion_only_loss=completion_only, chat_template=chat_template)
    datasets.disable_progress_bars()
    # Iterable: `Dataset.map` fingerprints its arguments by pickling the tokenizer (15 s for Gemma's 262k
    # vocabulary, per map); an iterable dataset maps lazily and hashes nothing.
    dataset = datasets.Dataset.from_list(rows).to_iterable_dataset()
    prepared = SFTTrainer._prepare_dataset(
        trainer,
        dataset,
        tokenizer,
        _sft_config(completion_only, assistant_only),
        packing=False,
        formatting_func=None,
        dataset_name="lab",
    )
    return [dict(row) for row in prepared]


def row_shape(row: dict) -> str:
    """The shape TRL sees in a row: text, prompt-completion, chat-prompt-completion or messages."""
    if "text" in row:
        return "text"
    if "messages" in row:
        return "messages"
    return "chat-prompt-completion" if isinstance(row["prompt"], list) else "prompt-completion"


def one_shape(rows: list[dict]) -> None:
    """Raise LabError unless the rows share one shape: TRL prepares a dataset by the shape of its first row."""
    shapes = sorted({row_shape(row) for row in rows})
    if len(shapes) > 1:
        raise LabError(
            f"TRL trains one row shape per dataset and these rows mix {' and '.join(shapes)}: "
            "pick the classic or chat-template format, which turns every conversation into one shape"
        )


def trl_labels(items: list[Tokenized], tokenizer, assistant_only: bool) -> list[Labels]:
    """trl-completion (or trl-assistant) labels of every example, from TRL's preparation run once per row shape
    (TRL reads one shape per dataset: text, prompt-completion strings, prompt-completion messages, messages)."""
    name = "trl-assistant" if assistant_only else "trl-completion"
    results: list[Labels | None] = [None] * len(items)
    groups: dict[tuple, tuple[list[dict], list[int]]] = {}
    for k, item in enumerate(items):
        n = len(item.encoded)
        conv = item.example.conversation
        if assistant_only and conv is None:
            results[k] = unavailable(n, "trl-assistant needs a conversation: TRL trains every token of a text row")
        elif conv is not None and not conv.has_assistant:
            results[k] = unavailable(n, "no assistant turn: there is no completion to learn")
        elif assistant_only and item.rendered.format != "chat-template":
            results[k] = unavailable(
                n,
                "assistant_only_loss works on conversations rendered by the chat template; "
                + (
                    "this row is a prompt-completion of strings"
                    if item.rendered.format == "prompt-completion"
                    else "pick the chat-template format"
                ),
            )
        else:
            row = item.rendered.trl_messages_row if assistant_only else item.rendered.trl_completion_row
            rows, where = groups.setdefault(row_shape(row), ([], []))
            rows.append(row)
            where.append(k)
    for rows, where in groups.values():
        try:
            prepared = trl_prepare(rows, tokenizer, assistant_only)
        except Exception as e:  # TRL refuses the whole set: say so for each example
            sentence = _trl_refusal(e, assistant_only)
            for k in where:
                results[k] = unavailable(len(items[k].encoded), sentence)
            prepared = []
        for k, row in zip(where, prepared):
            results[k] = _align_trl(items[k], row, tokenizer, name)
    return results


def _trl_refusal(error: Exception, assistant_only: bool) -> str:
    if assistant_only and isinstance(error, ValueError) and "generation" in str(error):
        return (
            "the chat template has no {% generation %} markers and TRL has no training version of it: "
            "SFTTrainer with assistant_only_loss=True stops with an error"
        )
    return f"TRL's SFTTrainer refuses this data: {first_line(error)}"


def _align_trl(item: Tokenized, row: dict, tokenizer, name: str) -> Labels:
    ids, labels = list(row["input_ids"]), list(row["labels"])
    if ids != list(item.encoded.ids):
        swapped = name == "trl-assistant" and not generation_markers(tokenizer)
        why = (
            "TRL swaps in its training version of this chat template, which renders this conversation into "
            if swapped
            else "TRL tokenizes this example into "
        )
        return unavailable(
            len(item.encoded),
            f"{why}{len(ids)} tokens, not the {len(item.encoded)} shown here, so its labels cannot be lined up",
        )
    keep = [label != IGNORE_INDEX for label in labels]
    result = Labels(tuple(labels), tuple(1.0 if k else 0.0 for k in keep))
    conv = item.example.conversation
    if conv is None:
        return result.with_notes(Note("a text row has no completion: TRL's completion-only loss trains every token"))
    prompt = item.rendered.trl_completion_row["prompt"]
    answers = sum(t.role == "assistant" for t in conv.turns)
    in_prompt = sum(m["role"] == "assistant" for m in prompt) if isinstance(prompt, list) else answers - 1
    if name == "trl-completion" and in_prompt > 0:
        result = result.with_notes(
            Note("TRL's prompt-completion data has one completion: the answers in its prompt are not learned")
        )
    return result
