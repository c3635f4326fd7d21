"""Decoding strategies step by step (seed 001): greedy, beam search, sampling with temperature / top-k / top-p.

Every trace comes from one `model.generate` call with `output_scores`, so a trace costs about what plain
generation costs and its output is exactly what `generate` returns. Beam search's live and pruned beams at
each step are rebuilt from the per-beam scores the same way generate ranks them (the top 2k continuations,
the first k that are not an eos stay live).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import torch

from lab.common import first_line, pad_id
from lab.errors import LabError
from lab.look.teacher_forcing import Candidate
from lab.models.devices import input_device

DECODERS = ("greedy", "beam", "sample")


@dataclass(frozen=True)
class DecodeSettings:
    """What a decoding run asks for; `validate` names the first setting that cannot work."""

    strategy: str = "greedy"
    max_new_tokens: int = 32
    num_beams: int = 4
    num_return: int = 1
    length_penalty: float = 1.0
    temperature: float = 1.0
    top_k: int = 50
    top_p: float = 1.0
    seed: int = 0
    samples: int = 1
    alternatives: int = 3

    def validate(self) -> DecodeSettings:
        checks = [
            (self.strategy in DECODERS, f"strategy must be one of {', '.join(DECODERS)}"),
            (self.max_new_tokens >= 1, "max_new_tokens must be at least 1"),
            (
                self.strategy != "sample" or self.temperature > 0,
                f"temperature must be > 0 to sample (got {self.temperature}); for a deterministic answer use greedy",
            ),
            (0 < self.top_p <= 1, f"top_p must be in (0, 1] (got {self.top_p})"),
            (self.top_k >= 0, f"top_k must be 0 (off) or more (got {self.top_k})"),
            (self.strategy != "beam" or self.num_beams >= 2, "num_beams must be at least 2 for beam search"),
            (
                self.strategy != "beam" or self.num_return <= self.num_beams,
                f"num_return ({self.num_return}) cannot exceed num_beams ({self.num_beams})",
            ),
            (self.samples >= 1, "samples must be at least 1"),
        ]
        for ok, sentence in checks:
            if not ok:
                raise LabError(sentence)
        return self


@dataclass(frozen=True)
class Step:
    """One generated token: its probability under the distribution decoding used, and the runners-up."""

    choice: Candidate
    alternatives: tuple[Candidate, ...]


@dataclass(frozen=True)
class BeamCandidate:
    beam: int  # which live beam it extends
    token_id: int
    text: str
    score: float  # cumulative log-probability
    kept: bool  # stays a live beam (False: pruned, or an eos that ends a hypothesis)


@dataclass(frozen=True)
class Trace:
    """One output: its text, its tokens step by step and, for beam search, every step's candidates."""

    text: str
    token_ids: tuple[int, ...]
    steps: tuple[Step, ...]
    score: float | None = None
    beam_steps: tuple[tuple[BeamCandidate, ...], ...] = ()


def _generation_kwargs(settings: DecodeSettings, tokenizer) -> dict:
    common = dict(
        max_new_tokens=settings.max_new_tokens,
        output_scores=True,
        return_dict_in_generate=True,
        pad_token_id=pad_id(tokenizer),
        eos_token_id=tokenizer.eos_token_id,
    )
    if settings.strategy == "greedy":
        return common | dict(do_sample=False, num_beams=1)
    if settings.strategy == "beam":
        return common | dict(
            do_sample=False,
            num_beams=settings.num_beams,
            num_return_sequences=settings.num_return,
            length_penalty=settings.length_penalty,
        )
    return common | dict(
        do_sample=True, num_beams=1, temperature=settings.temperature, top_k=settings.top_k, top_p=settings.top_p
    )


def _generate(model, inputs, kwargs):
    try:
        with torch.no_grad():
            return model.generate(**inputs, **kwargs)
    except ValueError as e:  # transformers' "generation config instance is invalid" and friends
        raise LabError(f"the generation settings are refused: {first_line(e)}") from None


def _steps(scores, tokens: list[int], row: int, tokenizer, alternatives: int) -> tuple[Step, ...]:
    steps = []
    for s, token in enumerate(tokens):
        probs = torch.softmax(scores[s][row].float(), dim=-1)
        top = probs.topk(alternatives + 1)
        others = [(int(i), float(p)) for i, p in zip(top.indices, top.values) if int(i) != token][:alternatives]
        steps.append(
            Step(
                Candidate(token, tokenizer.decode([token]), float(probs[token])),
                tuple(Candidate(i, tokenizer.decode([i]), p) for i, p in others),
            )
        )
    return tuple(steps)


def _new_tokens(sequence: torch.Tensor, prompt_length: int, tokenizer) -> list[int]:
    tokens = sequence[prompt_length:].tolist()
    if tokenizer.pad_token_id is not None and tokenizer.pad_token_id == tokenizer.eos_token_id:
        # pad == eos: keep the first eos (the model stopping), drop the padding after it
        if tokenizer.eos_token_id in tokens:
            tokens = tokens[: tokens.index(tokenizer.eos_token_id) + 1]
    return tokens


def beam_steps(scores, num_beams: int, eos_id: int | None, tokenizer) -> tuple[tuple[BeamCandidate, ...], ...]:
    """Every step's top 2k continuations of the live beams, with cumulative log-probabilities and which stay."""
    running = torch.full((num_beams,), -1e9)
    running[0] = 0.0  # all beams start as the same prompt: only the first one counts at step 0
    out = []
    for step_scores in scores:
        total = running[:, None] + step_scores.float()
        values, flat = total.flatten().topk(2 * num_beams)
        vocab = step_scores.shape[1]
        candidates, kept = [], []
        for value, index in zip(values.tolist(), flat.tolist()):
            beam, token = divmod(index, vocab)
            live = token != eos_id and len(kept) < num_beams
            if live:
                kept.append(value)
            candidates.append(BeamCandidate(beam, token, tokenizer.decode([token]), value, live))
        out.append(tuple(candidates))
        if len(kept) < num_beams:
            break
        running = torch.tensor(kept)
    return tuple(out)


def decode(model, tokenizer, prompt: str, settings: DecodeSettings, add_special_tokens: bool = True) -> list[Trace]:
    """Generate from `prompt` with the settings' strategy; one trace per returned beam or per sample."""
    settings.validate()
    device = input_device(model)
    inputs = {
        k: v.to(device)
        for k, v in tokenizer(prompt, return_tensors="pt", add_special_tokens=add_special_tokens).items()
    }
    prompt_length = inputs["input_ids"].shape[1]
    kwargs = _generation_kwargs(settings, tokenizer)
    traces = []
    runs = settings.samples if settings.strategy == "sample" else 1
    for k in range(runs):
        if settings.strategy == "sample":
            torch.manual_seed(settings.seed + k)
        out = _generate(model, inputs, kwargs)
        beams = (
            beam_steps(out.scores, settings.num_beams, tokenizer.eos_token_id, tokenizer)
            if settings.strategy == "beam"
            else ()
        )
        for row, sequence in enumerate(out.sequences):
            tokens = _new_tokens(sequence, prompt_length, tokenizer)
            if settings.strategy == "beam":
                # generate's per-step scores are per live beam; follow this output's beam through them
                indices = out.beam_indices[row].tolist()
                steps = tuple(
                    _steps([out.scores[s]], [t], indices[s], tokenizer, settings.alternatives)[0]
                    for s, t in enumerate(tokens)
                    if indices[s] >= 0
                )
                score = float(out.sequences_scores[row])
            else:
                steps, score = _steps(out.scores, tokens, row, tokenizer, settings.alternatives), None
            traces.append(Trace(tokenizer.decode(tokens), tuple(tokens), steps, score, beams))
    return traces


def spread(traces: list[Trace]) -> list[tuple[str, int]]:
    """Distinct outputs of repeated sampling and how often each came out, most frequent first."""
    return Counter(t.text for t in traces).most_common()
