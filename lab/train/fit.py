"""Whether a run fits in the memory this lab may use, asked before it trains: the planner's count of one step
(weights, gradients, AdamW's moments, activations) against the device's memory, a container's limit included.
A run that cannot fit is refused in a sentence, instead of the kernel killing the process that trains it."""

from __future__ import annotations

from lab.errors import LabError
from lab.models.plan import plan
from lab.models.references import model_config
from lab.train.config import RunConfig


def memory_problem(config: RunConfig) -> str | None:
    """Why the run cannot fit (one sentence), or None when it fits or cannot be planned (the run then says)."""
    try:
        planned = plan(
            model_config(config.model, config.trust_remote_code),
            method=config.method_shown,
            dtype="bf16" if config.dtype == "bf16" else "fp32",
            batch_size=1,
            seq_len=min(config.batch_tokens, config.batch_size * config.max_length),  # a batch's tokens, at most
            max_memory=config.max_memory or None,
            lora_r=config.lora_r,
            lora_targets=config.lora_targets,
            lora_alpha=config.lora_alpha,
        )
    except LabError:  # no config to plan from: loading the model will say why, in the run
        return None
    if planned.fits:
        return None
    return (
        f"this run would not fit in memory: {planned.sentence()}; pick LoRA or QLoRA, or fewer tokens per batch "
        "(python -m lab plan counts each option)"
    )
