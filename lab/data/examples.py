"""Chat examples: turns, conversations, and rows of plain text that have no roles."""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from typing import Any

ROLES = ("system", "user", "assistant", "tool")  # the roles the editor offers; a row may hold any other
WEIGHT_KEYS = ("weight", "loss_weight")  # OpenAI's chat fine-tuning; the per-message weight other tools read
REASONING_KEYS = ("reasoning_content", "thinking", "reasoning")  # where chat templates read an answer's reasoning
# How a row was written, the shapes TRL reads: `messages`; `prompt-completion` with strings; the same with
# message lists (`chat-prompt-completion`); `text`. A row is written back in its own shape.
SHAPES = ("messages", "prompt-completion", "chat-prompt-completion", "text")


@dataclass(frozen=True)
class Turn:
    """One message of a conversation, kept as written.

    `content` is the text a person reads and edits; a content written as a list of parts keeps its parts (as
    JSON text in `parts`) and shows their text joined. Every other key of the message (`tool_calls`, `name`,
    `tool_call_id`, `reasoning_content`, `weight`, keys the lab does not know) stays in `fields`, as JSON text,
    and reaches the chat template unchanged."""

    role: str
    content: str
    fields: str = ""  # the message's other keys as a JSON object, "" when it has none
    parts: str = ""  # the content as written when it is a list of parts (JSON), "" when it is text

    def other(self) -> dict[str, Any]:
        """The message's keys other than role and content."""
        return json.loads(self.fields) if self.fields else {}

    def message(self) -> dict[str, Any]:
        """The message as a chat template takes it: role, content (text, or its parts), every other key."""
        return {"role": self.role, "content": self.content_value(), **self.other()}

    def content_value(self) -> Any:
        """The content as written: the text, or the list of parts with the (edited) text in its text parts."""
        if not self.parts:
            return self.content
        parts = json.loads(self.parts)
        if parts is None:  # written as null (an assistant message that only calls tools)
            return None if not self.content else self.content
        if parts_text(parts) == self.content:
            return parts
        texts = [k for k, p in enumerate(parts) if isinstance(p, dict) and p.get("type") == "text"]
        if not texts:
            return [*parts, {"type": "text", "text": self.content}]
        first = texts[0]
        kept = [p for k, p in enumerate(parts) if k not in texts[1:]]  # the edit replaces every text part's text
        kept[first] = {**parts[first], "text": self.content}
        return kept

    @property
    def reasoning(self) -> str:
        """The reasoning written with this message (`reasoning_content`, `thinking` or `reasoning`), or ""."""
        other = self.other()
        return next((other[k] for k in REASONING_KEYS if isinstance(other.get(k), str)), "")

    @property
    def weight(self) -> float | None:
        """The weight the message was written with (OpenAI's `weight`, or a `loss_weight`), or None."""
        other = self.other()
        value = next((other[k] for k in WEIGHT_KEYS if k in other), None)
        return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None

    @property
    def tool_calls(self) -> list[dict[str, Any]]:
        """The message's tool calls as written ([] when none)."""
        calls = self.other().get("tool_calls")
        return calls if isinstance(calls, list) else []

    def with_fields(self, **changes: Any) -> Turn:
        """The turn with message keys set (a value of None removes the key)."""
        other = self.other()
        for key, value in changes.items():
            if value is None:
                other.pop(key, None)
            else:
                other[key] = value
        return replace(self, fields=json.dumps(other, ensure_ascii=False) if other else "")


def parts_text(parts: list) -> str:
    """The text of a content written as parts: its text parts joined."""
    if not isinstance(parts, list):
        return ""
    return "".join(str(p.get("text", "")) for p in parts if isinstance(p, dict) and p.get("type") == "text")


def tool_call_pieces(call: Any) -> tuple[str, str]:
    """(name, arguments as JSON text) of one tool call, in OpenAI's `{"function": {...}}` form or flat."""
    if not isinstance(call, dict):
        return "", ""
    inner = call.get("function") if isinstance(call.get("function"), dict) else call
    name = inner.get("name", "")
    args = inner.get("arguments", "")
    return str(name), args if isinstance(args, str) else json.dumps(args, ensure_ascii=False)


@dataclass(frozen=True)
class Conversation:
    """An ordered list of turns: an optional system turn, then user and assistant turns."""

    turns: tuple[Turn, ...]

    def messages(self) -> list[dict[str, Any]]:
        """The turns as the list of messages chat templates take, every key as written."""
        return [t.message() for t in self.turns]

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
    tools: str = ""  # the row's `tools` as written (JSON text), "" when none
    template_kwargs: str = ""  # the row's `chat_template_kwargs` (JSON text), e.g. {"enable_thinking": false}
    columns: str = ""  # the row's other columns (JSON text), kept and written back
    read_as: str = ""  # the conversion that read the row, in words ("ShareGPT: human → user, ..."), "" for none

    def __post_init__(self):
        if self.conversation is None and self.shape != "text":
            object.__setattr__(self, "shape", "text")

    @property
    def is_text(self) -> bool:
        return self.conversation is None

    def tool_list(self) -> list[Any] | None:
        """The row's tools as a list (a `tools` column written as JSON text is read, as TRL reads it)."""
        if not self.tools:
            return None
        value = json.loads(self.tools)
        if isinstance(value, str):
            value = json.loads(value)
        return value

    def template_arguments(self) -> dict[str, Any]:
        """What TRL's SFTTrainer passes to the chat template besides the messages: `tools` and the row's
        `chat_template_kwargs`."""
        extra = json.loads(self.template_kwargs) if self.template_kwargs else {}
        tools = self.tool_list()
        return ({"tools": tools} if tools else {}) | extra

    def empty_turns(self) -> list[int]:
        """Indices of turns whose content is empty or only whitespace (an answer that only calls tools is not)."""
        if self.conversation is None:
            return [] if (self.text or "").strip() else [0]
        return [i for i, t in enumerate(self.conversation.turns) if not t.content.strip() and not t.tool_calls]


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
    row |= json.loads(example.columns) if example.columns else {}
    if example.conversation is None:
        return row | {"text": example.text}
    extra = {"tools": json.loads(example.tools)} if example.tools else {}
    if example.template_kwargs:
        extra["chat_template_kwargs"] = json.loads(example.template_kwargs)
    messages = example.conversation.messages()
    if example.shape == "prompt-completion":
        return row | {"prompt": messages[0]["content"], "completion": messages[1]["content"]} | extra
    if example.shape == "chat-prompt-completion":
        k = example.prompt_turns
        return row | {"prompt": messages[:k], "completion": messages[k:]} | extra
    return row | {"messages": messages} | extra


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
