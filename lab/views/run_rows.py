"""Runs as table rows, for the Train page's runs table and Compare runs (one home: both pages read them)."""

from __future__ import annotations

from lab.train.run import Run

LOSS_COLUMNS = ("loss", "prompt loss", "completion loss")


def run_row(run: Run, last: dict | None, name: str | None = None) -> dict:
    """One run as a row: who it is, what it trained, where it stands, its training time and last logged losses
    (None where nothing was logged yet). `name` replaces the run's id in the first column."""
    seconds = run.seconds(last)
    last = last or {}
    config = run.config
    steps = f"{run.step}/{run.total_steps}" if run.total_steps else ("loading" if run.active else "-")
    return {
        "run": name or run.id,
        "status": run.status,
        "strategy": config.strategy,
        "method": config.method_shown,
        "engine": config.engine,
        "examples": run.examples,
        "epochs": config.epochs,
        "steps": steps,
        "seconds": round(seconds, 1) if seconds is not None else None,
        "tokens/s": round(last["tokens_per_s"]) if last.get("tokens_per_s") is not None else None,
        "loss": last.get("loss"),
        "prompt loss": last.get("prompt_loss"),
        "completion loss": last.get("completion_loss"),
        "note": run.message,
    }
