"""Real conversations nobody in the room wrote, offline: the ChatterBot dialog corpus from PyPI.

`chatterbot-corpus` (BSD 3-Clause, installed with --no-deps; it only ships YAML) holds dialogs in 28
languages, one file per topic. Each dialog is a list of statements, each answering the one before, so the
turns alternate user / assistant; a last statement with no answer is left out, as are dialogs with none.
Read one as `chatterbot:LANGUAGE` or `chatterbot:LANGUAGE/TOPIC` wherever the lab takes a dataset.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import yaml

from lab.common import CHATTERBOT_PREFIX
from lab.data.examples import Conversation, Example, Turn
from lab.errors import DataError


def corpus_folder() -> Path:
    """The corpus's data folder inside its installed package (the package is not imported)."""
    spec = importlib.util.find_spec("chatterbot_corpus")
    if spec is None or spec.origin is None:
        raise DataError("the ChatterBot corpus is not installed: pip install --no-deps chatterbot-corpus==1.3.3")
    return Path(spec.origin).parent / "data"


def languages() -> list[str]:
    """Languages the installed corpus holds (empty when it is not installed)."""
    try:
        folder = corpus_folder()
    except DataError:
        return []
    return sorted(p.name for p in folder.iterdir() if p.is_dir() and any(p.glob("*.yml")))


def topics(language: str) -> list[str]:
    folder = corpus_folder() / language
    if not folder.is_dir():
        raise DataError(f"the ChatterBot corpus has no language '{language}'; it has: {', '.join(languages())}")
    return sorted(p.stem for p in folder.glob("*.yml"))


def _dialog_turns(dialog) -> list[Turn]:
    statements = (
        [str(s).strip() for s in dialog if s is not None and str(s).strip()] if isinstance(dialog, list) else []
    )
    if len(statements) % 2:
        statements = statements[:-1]  # the last statement has no answer
    return [Turn("user" if k % 2 == 0 else "assistant", s) for k, s in enumerate(statements)]


def load_chatterbot(reference: str) -> list[Example]:
    """Dialogs of one language (all topics) or one `language/topic` as conversations."""
    language, _, topic = reference.partition("/")
    names = [topic] if topic else topics(language)
    if topic and topic not in topics(language):
        raise DataError(
            f"the ChatterBot corpus has no topic '{topic}' in {language}; it has: {', '.join(topics(language))}"
        )
    examples = []
    for name in names:
        path = corpus_folder() / language / f"{name}.yml"
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        for k, dialog in enumerate(data.get("conversations") or []):
            turns = _dialog_turns(dialog)
            if turns:
                examples.append(
                    Example(conversation=Conversation(tuple(turns)), source=f"chatterbot {language}/{name} dialog {k}")
                )
    if not examples:
        raise DataError(f"{CHATTERBOT_PREFIX}{reference} holds no dialog with an answer")
    return examples
