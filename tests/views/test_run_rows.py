"""A run as a table row: literal rows for a finished run, a queued one and one still loading."""

from lab.train.config import RunConfig
from lab.train.run import Run
from lab.views.run_rows import queue_places, run_label, run_row


def a_run(**changes) -> Run:
    fields = dict(
        id="20261207-101010-abcdef",
        created=0.0,
        status="done",
        message="",
        pid=None,
        examples=5,
        step=15,
        total_steps=15,
        started=10.0,
        finished=40.0,
        stop_requested=False,
        checkpoint_step=None,
        config=RunConfig(strategy="copy", method="lora", epochs=15),
    )
    return Run(**(fields | changes))


def test_a_finished_run_reads_its_settings_progress_time_and_last_losses():
    last = {"loss": 0.5, "prompt_loss": 2.25, "completion_loss": None, "tokens_per_s": 123.6, "elapsed": 14.26}
    assert run_row(a_run(), last, name="copy · LoRA") == {
        "run": "copy · LoRA",
        "status": "done",
        "model": "smollm2-135m-instruct",
        "strategy": "copy",
        "method": "lora",
        "epochs": 15,
        "format": "as-written",
        "engine": "lab",
        "examples": 5,
        "steps": "15/15",
        "seconds": 14.3,
        "tokens/s": 124,
        "loss": 0.5,
        "prompt loss": 2.25,
        "completion loss": "–",
        "note": "",
    }
    assert run_label(a_run()) == "smollm2-135m-instruct · copy · lora · 15 ep · as-written · abcdef"
    folder = a_run(config=RunConfig(model="/models/gemma-tuned", strategy="special-mask", format="classic"))
    assert run_label(folder) == "gemma-tuned · special-mask · full · 15 ep · classic · abcdef"


def test_a_run_before_its_first_step_reads_queued_loading_or_a_dash_and_no_losses():
    loading = run_row(a_run(status="running", step=0, total_steps=0, finished=None), None)
    assert (loading["steps"], loading["tokens/s"], loading["loss"]) == ("loading the model", "–", "–")
    stopped = run_row(a_run(status="stopped", step=0, total_steps=0, started=None), None)
    assert (stopped["steps"], stopped["seconds"]) == ("–", "–")
    queue = [a_run(id=f"q{k}", status="queued", created=float(10 - k), step=0, total_steps=0) for k in range(3)]
    places = queue_places([*queue, a_run()])
    assert places == {"q2": 1, "q1": 2, "q0": 3}
    assert [run_row(r, None, queued=places[r.id])["steps"] for r in queue] == [
        "queued (3rd)",
        "queued (2nd)",
        "queued (1st)",
    ]
