"""The Examples page's editors for what a message holds besides its text: an answer's reasoning and tool calls
(name and JSON arguments), a tool turn's name and call id, a message's weight, and the row's tools.

Each edit goes through the same `change` as the page's other edits (a stale one is refused in words), and a
malformed tool call or tools list is refused in a sentence, with nothing written.
"""

from __future__ import annotations

import json

import streamlit as st

import app_state
from lab.data import edits
from lab.data.examples import Example, Turn, tool_call_pieces


def _typed(key: str, before_text: str, apply) -> None:
    if st.session_state[key] != before_text:
        apply(st.session_state[key])


def turn_fields(example: Example, t: int, turn: Turn, version: str, before, change) -> None:
    """Under turn t's text: its reasoning and tool calls (assistant), the tool it answers (tool), its weight."""
    said = []
    if turn.role == "tool":
        other = turn.other()
        said += [f"{k} `{app_state.markdown_text(str(other[k]))}`" for k in ("name", "tool_call_id") if k in other]
    if turn.weight is not None:
        said.append(
            f"weight {turn.weight:g}"
            + (" (OpenAI's fine-tuning does not train it; TRL does)" if turn.weight == 0 else "")
        )
    if said:
        st.caption(f"Turn {t}: " + " · ".join(said))
    if turn.role != "assistant":
        return
    if turn.reasoning or turn.tool_calls:
        key = f"reasoning-{version}-{t}"
        st.text_area(
            f"Reasoning of turn {t}",
            turn.reasoning,
            key=key,
            height=68 + 22 * min(turn.reasoning.count("\n") + 1, 8),
            on_change=_typed,
            args=(
                key,
                turn.reasoning,
                lambda text, t=t: change(before, lambda rows, at: edits.set_reasoning(rows, at, t, text)),
            ),
            help="What the answer thought before it, written as `reasoning_content` (or the key the row used).",
        )
    for k, call in enumerate(turn.tool_calls):
        name, arguments = tool_call_pieces(call)
        with st.form(f"call-{version}-{t}-{k}", border=True):
            st.markdown(f"**Tool call {k} of turn {t}**")
            left, right = st.columns([1, 3])
            new_name = left.text_input("Function", name)
            new_args = right.text_area("Arguments (a JSON object)", _pretty(arguments), height=90)
            if st.form_submit_button("Save the tool call"):
                change(before, lambda rows, at, k=k, a=new_name, b=new_args: edits.set_tool_call(rows, at, t, k, a, b))
                st.rerun()


def row_tools(example: Example, version: str, before, change) -> None:
    """The row's `tools`, the schemas the chat template shows the model, as JSON text."""
    tools = example.tool_list()
    label = f"The row's tools ({len(tools)})" if tools else "The row's tools (none)"
    with st.expander(label, expanded=False), st.form(f"tools-{version}", border=False):
        text = st.text_area(
            "A JSON list of tool schemas, passed to the chat template as `tools` (as TRL's SFTTrainer does)",
            json.dumps(tools, ensure_ascii=False, indent=2) if tools else "",
            height=200,
        )
        if st.form_submit_button("Save the tools"):
            change(before, lambda rows, at: edits.set_tools(rows, at, text))
            st.rerun()


def _pretty(arguments: str) -> str:
    try:
        return json.dumps(json.loads(arguments), ensure_ascii=False, indent=1)
    except (json.JSONDecodeError, TypeError):
        return arguments
