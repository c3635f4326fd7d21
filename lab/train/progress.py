"""What a training engine reports after each logged optimizer step, and how it is told to stop."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class StepReport:
    """One logged optimizer step: its losses (weighted, and measured over prompt and completion), lr, speed."""

    step: int
    total_steps: int
    epoch: float
    loss: float
    prompt_loss: float | None
    completion_loss: float | None
    lr: float
    tokens_per_s: float
    elapsed: float


Reporter = Callable[[StepReport], bool]  # returns False to stop after this step
