"""Is a fine-tune's answer right, or a training answer said again? Seed 000's held-out check, in words.

After training on five words, a masked run asked for "day" answers "hola": an answer it learned for another
question. An answer is compared with the reference and with the answers of the run's own training examples,
ignoring special tokens, case, surrounding whitespace and closing punctuation.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from lab.data.examples import Example

_EDGES = re.compile(r"^[\s\"'“”‘’«»¿¡]+|[\s\"'“”‘’«».,;:!?]+$")


@dataclass(frozen=True)
class AnswerCheck:
    """An answer as said (special tokens stripped), whether it is the reference, and which training example's
    answer it repeats, if any; `sentence` says so in words."""

    said: str
    correct: bool | None  # None without a reference
    repeats: int | None  # the training example whose answer it is, when that is not the reference
    sentence: str


def plain_answer(text: str, specials: Sequence[str] = ()) -> str:
    """The answer without special tokens, cut where the first one ends it (an `<|im_end|>`)."""
    for token in sorted(specials, key=len, reverse=True):
        if token:
            text = text.replace(token, "\0")
    return text.strip("\0").split("\0")[0].strip()


def _key(text: str) -> str:
    return _EDGES.sub("", text).casefold()


def check_answer(
    answer: str, reference: str | None, training: list[Example], specials: Sequence[str] = ()
) -> AnswerCheck:
    """Compare a generated answer with the reference and with each training example's last answer."""
    said = plain_answer(answer, specials)
    correct = None if not reference else _key(said) == _key(reference)
    repeats = None
    if not correct and _key(said):
        for k, example in enumerate(training):
            last = example.conversation.last_assistant_index() if example.conversation else None
            if last is not None and _key(example.conversation.turns[last].content) == _key(said):
                repeats = k
                break
    if correct:
        sentence = f"“{said}” is the reference answer."
    elif repeats is not None:
        question = next(t.content for t in training[repeats].conversation.turns if t.role == "user")
        sentence = (
            f"“{said}” is the answer of training example #{repeats} ({question}): said again, not "
            "learned for this question."
        )
    elif reference:
        sentence = f"“{said}” is not the reference answer “{reference}”." if said else "The answer is empty."
    else:
        sentence = ""
    return AnswerCheck(said, correct, repeats, sentence)
