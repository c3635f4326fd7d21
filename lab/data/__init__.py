"""The data: chat examples, the files and corpora they come from, and the set a person is editing.

examples   Turn, Conversation, Example (every message key kept); `conversation()` and `single_turn()` build one
files      every file type, folder and hub id read as rows, lazily (`iter_rows`)
sources    every file type and source read into examples (`read_examples`, lazily `iter_examples`), samples,
           uploads (sampled past the editor's limit), JSONL out
shapes     ShareGPT and Alpaca rows converted to TRL's `messages`, with the sentence that says how
corpora    the ChatterBot dialog corpus (`chatterbot:LANGUAGE[/TOPIC]`), offline
workspace  the edited set on disk (`Workspace`), saved atomically
edits      pure edits of a set (add, move, delete turns and examples), `problems` and `preview` in words
"""

from lab.data.examples import ROLES, Conversation, Example, Turn, conversation, single_turn
from lab.data.sources import examples_from_upload, load_sample, read_examples, sample_names, to_jsonl
from lab.data.workspace import Workspace

__all__ = [
    "ROLES",
    "Conversation",
    "Example",
    "Turn",
    "Workspace",
    "conversation",
    "examples_from_upload",
    "load_sample",
    "read_examples",
    "sample_names",
    "single_turn",
    "to_jsonl",
]
