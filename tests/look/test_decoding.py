"""Decoding traces equal what generate returns; sampling repeats with a seed; bad settings are sentences."""

import pytest
import torch

from lab.errors import LabError
from lab.look.decoding import DecodeSettings, decode, spread

PROMPT = '\n\n### Human: How do you say "dog" in Spanish?\n\n### Assistant:<|im_start|>'


def plain(tiny, tokenizer, **kwargs):
    inputs = tokenizer(PROMPT, return_tensors="pt")
    with torch.no_grad():
        out = tiny.generate(**inputs, max_new_tokens=8, pad_token_id=tokenizer.pad_token_id, **kwargs)
    return out[:, inputs["input_ids"].shape[1] :].tolist()


def test_the_greedy_trace_is_generates_greedy_output(tiny, tokenizer):
    [trace] = decode(tiny, tokenizer, PROMPT, DecodeSettings("greedy", max_new_tokens=8))
    expected = plain(tiny, tokenizer, do_sample=False)[0]
    assert len(expected) == 8 and list(trace.token_ids) == expected and len(trace.steps) == 8
    prompt_ids = tokenizer(PROMPT)["input_ids"]
    for s, step in enumerate(trace.steps):  # each step's probability is the model's own softmax there
        with torch.no_grad():
            logits = tiny(input_ids=torch.tensor([prompt_ids + expected[:s]])).logits[0, -1]
        probs = torch.softmax(logits.double(), dim=-1)
        assert step.choice.token_id == expected[s] == int(probs.argmax())
        assert step.choice.prob == pytest.approx(float(probs[expected[s]]), rel=1e-4)
        assert [a.token_id for a in step.alternatives] == probs.topk(4).indices.tolist()[1:]


def test_the_best_beam_is_generates_beam_output_and_the_live_beams_explain_it(tiny, tokenizer):
    traces = decode(tiny, tokenizer, PROMPT, DecodeSettings("beam", max_new_tokens=8, num_beams=3, num_return=2))
    best = plain(tiny, tokenizer, do_sample=False, num_beams=3)[0]
    assert best and list(traces[0].token_ids) == best
    assert len(traces) == 2 and traces[0].score >= traces[1].score
    assert [len(t.steps) for t in traces] == [len(t.token_ids) for t in traces]
    first_step = traces[0].beam_steps[0]
    assert len(first_step) == 6 and sum(c.kept for c in first_step) == 3
    assert all(c.beam == 0 for c in first_step)  # at step 0 every beam is the same prompt
    for trace in traces:  # every returned beam's path runs through the rebuilt candidates, live until its eos
        for s, token in enumerate(trace.token_ids[: len(trace.beam_steps)]):
            assert any(c.token_id == token and (c.kept or token == tokenizer.eos_token_id) for c in trace.beam_steps[s])


def test_sampling_with_a_seed_repeats_and_shows_its_spread(tiny, tokenizer):
    settings = DecodeSettings("sample", max_new_tokens=6, temperature=1.5, top_k=0, top_p=1.0, seed=7, samples=4)
    first = decode(tiny, tokenizer, PROMPT, settings)
    again = decode(tiny, tokenizer, PROMPT, settings)
    assert [t.token_ids for t in first] == [t.token_ids for t in again]
    assert sum(count for _, count in spread(first)) == 4
    narrow = decode(tiny, tokenizer, PROMPT, DecodeSettings("sample", max_new_tokens=4, top_k=1, samples=3))
    assert len(spread(narrow)) == 1  # top_k = 1 is greedy: one output


@pytest.mark.parametrize(
    "settings, sentence",
    [
        (DecodeSettings("sample", temperature=0), "temperature must be > 0 to sample"),
        (DecodeSettings("sample", top_p=0), r"top_p must be in \(0, 1\]"),
        (DecodeSettings("sample", top_p=1.5), r"top_p must be in \(0, 1\]"),
        (DecodeSettings("beam", num_beams=2, num_return=3), r"num_return \(3\) cannot exceed num_beams \(2\)"),
        (DecodeSettings("beam", num_beams=1), "num_beams must be at least 2"),
        (DecodeSettings("nucleus"), "strategy must be one of greedy, beam, sample"),
    ],
)
def test_bad_settings_are_named(tiny, tokenizer, settings, sentence):
    with pytest.raises(LabError, match=sentence):
        decode(tiny, tokenizer, PROMPT, settings)
