"""SFT Lab entrypoint. The pages arrive with the next issues; today it shows the library's data path."""

import html

import streamlit as st

st.set_page_config(page_title="SFT Lab", page_icon="🧪", layout="wide")
st.title("SFT Lab")
st.write(
    "See what a supervised fine-tune of a causal language model learns from your chat data, run it, "
    "and look inside the result."
)
st.markdown(
    """
The lab will hold these pages:
1. **Examples**: edit single- and multi-turn chat examples; pick the classic `### Human:` template or the
   model's chat template.
2. **Tokens & labels**: every token as a chip, and its label under each strategy: copy, special-mask,
   response-template, TRL completion-only, TRL assistant-only, prompt-weight.
3. **Train**: full, masked, TRL or prompt-loss-weighted fine-tuning in the background, LoRA optional.
4. **Inside the model**: per-token loss and next-token predictions, base vs fine-tuned.
5. **Decoding**: greedy, beam search and sampling, step by step.
6. **Generation ratio**: completion / prompt tokens of a dataset and what a prompt-loss-weight does.

Today the library and the command line are ready:
"""
)
st.code(
    "python -m lab tokens --user 'How do you say \"dog\" in Spanish?' --assistant perro --strategy all\n"
    "python -m lab check sample:spanish --format chat-template",
    language="bash",
)

from lab.examples import load_sample, sample_names  # noqa: E402

name = st.selectbox("Built-in sample sets", sample_names())
for example in load_sample(name)[:3]:
    turns = example.conversation.turns if example.conversation else ()
    st.markdown(
        "<br>".join(f"<b>{html.escape(t.role)}</b>: {html.escape(t.content[:200])}" for t in turns),
        unsafe_allow_html=True,
    )
