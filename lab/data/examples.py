"""Chat examples: turns, conversations, and rows of plain text that have no roles."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

ROLES = ("system", "user", "assistant")
# How a row was written, the shapes TRL reads: `messages`; `prompt-completion` with strings; the same with
# message lists (`chat-prompt-completion`); `text`. A row is written back in its own shape.
SHAPES = ("messages", "prompt-completion", "chat-prompt-completion", "text")


@dataclass(frozen=True)
class Turn:
    """One message of a conversation."""

    role: str
    content: str


@dataclass(frozen=True)
class Conversation:
    """An ordered list of turns: an optional system turn, then user and assistant turns."""

    turns: tuple[Turn, ...]

    def messages(self) -> list[dict[str, str]]:
        """The turns as the `[{"role", "content"}]` list chat templates take."""
        return [{"role": t.role, "content": t.content} for t in self.turns]

    @property
    def has_assistant(self) -> bool:
        return any(t.role == "assistant" for t in self.turns)

    def last_assistant_index(self) -> int | None:
        """Index of the last assistant turn, or None when there is none."""
        indices = [i for i, t in enumerate(self.turns) if t.role == "assistant"]
        return indices[-1] if indices else None


@dataclass(frozen=True)
class Example:
    """One dataset row: a conversation, or plain text that has no roles."""

    conversation: Conversation | None = None
    text: str | None = None
    source: str = ""  # where it came from, for messages: "data.jsonl line 3"
    uid: str = field(default="", compare=False)  # its identity in the edited set, whatever its place or text
    shape: str = "messages"  # one of SHAPES; `text` when conversation is None
    prompt_turns: int = 0  # chat-prompt-completion: how many turns the prompt holds

    def __post_init__(self):
        if self.conversation is None and self.shape != "text":
            object.__setattr__(self, "shape", "text")

    @property
    def is_text(self) -> bool:
        return self.conversation is None

    def empty_turns(self) -> list[int]:
        """Indices of turns whose content is empty or only whitespace."""
        if self.conversation is None:
            return [] if (self.text or "").strip() else [0]
        return [i for i, t in enumerate(self.conversation.turns) if not t.content.strip()]


def conversation(*pairs: tuple[str, str]) -> Example:
    """Build an example from (role, content) pairs."""
    return Example(conversation=Conversation(tuple(Turn(r, c) for r, c in pairs)))


def single_turn(user: str, assistant: str, system: str | None = None) -> Example:
    """A one-question, one-answer example."""
    pairs = ([("system", system)] if system else []) + [("user", user), ("assistant", assistant)]
    return conversation(*pairs)


def example_to_row(example: Example, with_id: bool = False) -> dict[str, Any]:
    """The row written for an example, in the shape it was read in (and its `id`, in the workspace)."""
    row = {"id": example.uid} if with_id and example.uid else {}
    if example.conversation is None:
        return row | {"text": example.text}
    messages = example.conversation.messages()
    if example.shape == "prompt-completion":
        return row | {"prompt": messages[0]["content"], "completion": messages[1]["content"]}
    if example.shape == "chat-prompt-completion":
        k = example.prompt_turns
        return row | {"prompt": messages[:k], "completion": messages[k:]}
    return row | {"messages": messages}


def shape_kept(example: Example) -> Example:
    """The example with a shape its turns can still be written in: a prompt-completion row whose turns are no
    longer one user prompt and one answer (or a prompt that no longer ends before an answer) becomes `messages`."""
    conv = example.conversation
    if conv is None or example.shape == "messages":
        return example
    roles = [t.role for t in conv.turns]
    if example.shape == "prompt-completion" and roles == ["user", "assistant"]:
        return example
    if example.shape == "chat-prompt-completion" and 0 < example.prompt_turns < len(roles):
        if roles[example.prompt_turns] == "assistant":
            return example
    return replace(example, shape="messages", prompt_turns=0)
