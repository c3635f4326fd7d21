"""Runs as table rows, for the Train page's runs table and Compare runs (one home: both pages read them)."""

from __future__ import annotations

from pathlib import PurePath

from lab.train.run import Run

LOSS_COLUMNS = ("loss", "prompt loss", "completion loss")
MISSING = "–"  # what a cell with nothing to show reads (never "None")


def model_name(model: str) -> str:
    """A model reference as short as it stays recognisable: a folder's last part, a hub id or a built-in name."""
    return model if model.count("/") == 1 and not model.startswith((".", "/", "~")) else PurePath(model).name


def run_label(run: Run) -> str:
    """One line that tells runs apart in every picker: model, strategy, method, epochs, format and the id's end,
    e.g. `gemma3-270m · special-mask · lora · 15 ep · classic · 1a2b3c`."""
    c = run.config
    return f"{model_name(c.model)} · {c.strategy} · {c.method_shown} · {c.epochs} ep · {c.format} · {run.id[-6:]}"


def ordinal(n: int) -> str:
    return f"{n}{'th' if 10 <= n % 100 <= 20 else {1: 'st', 2: 'nd', 3: 'rd'}.get(n % 10, 'th')}"


def run_row(run: Run, last: dict | None, name: str | None = None, queued: int | None = None) -> dict:
    """One run as a row: who it is, what it trained, where it stands, its training time and last logged losses
    (`MISSING` where nothing was logged yet). `name` replaces the run's id in the first column; `queued` is the
    run's place among the queued runs (1: next)."""
    seconds = run.seconds(last)
    last = last or {}
    config = run.config
    if run.status == "queued":
        steps = f"queued ({ordinal(queued)})" if queued else "queued"
    elif run.total_steps:
        steps = f"{run.step}/{run.total_steps}"
    else:
        steps = "loading the model" if run.active else MISSING

    def shown(value, digits=None):
        return MISSING if value is None else round(value, digits) if digits is not None else value

    return {
        "run": name or run.id,
        "status": run.status,
        "model": model_name(config.model),
        "strategy": config.strategy,
        "method": config.method_shown,
        "epochs": config.epochs,
        "format": config.format,
        "engine": config.engine,
        "examples": run.examples,
        "steps": steps,
        "seconds": shown(seconds, 1),
        "tokens/s": MISSING if last.get("tokens_per_s") is None else round(last["tokens_per_s"]),
        "loss": shown(last.get("loss")),
        "prompt loss": shown(last.get("prompt_loss")),
        "completion loss": shown(last.get("completion_loss")),
        "note": run.message,
    }


def queue_places(runs: list[Run]) -> dict[str, int]:
    """Each queued run's place in the queue (1: the next to train), oldest first as the worker takes them."""
    queued = sorted((r for r in runs if r.status == "queued"), key=lambda r: r.created)
    return {r.id: k for k, r in enumerate(queued, start=1)}
