"""A damaged or unusable run store: runs.db truncated, overwritten or emptied is rebuilt from the run folders
(settings, state and every logged step kept there, append-only); a home that cannot be written is one
sentence; a run whose folder is gone reads as damaged and can be deleted; the pages that need no store go on."""

import os
import sqlite3
from contextlib import closing

import pytest

from lab.data.sources import load_sample
from lab.errors import LabError
from lab.train.progress import StepReport
from lab.train.store import RunStore, StoreError
from tests.app.conftest import open_app
from tests.conftest import plain
from tests.train.test_store import config

TRAIN, INSIDE, DECODING, COMPARE = (f"app_pages/{p}.py" for p in ("train", "inside", "decoding", "compare"))


def runs_with_metrics(store: RunStore, tiny_model_dir, statuses: list[str]) -> dict[str, tuple]:
    """Runs in the given states, each with three logged steps; what the store says of each."""
    for k, status in enumerate(statuses):
        run_id = store.create(config(tiny_model_dir, lr=10.0 ** -(k + 2)), load_sample("spanish")[: k + 2])
        for step in (1, 2, 3):
            report = StepReport(step, 9, step / 3, 5.0 - step - k, 4.0 - step, 6.0 - step, 1e-3, 100.0 + k, step * 0.5)
            store.add_metrics(run_id, report)
        store.set_checkpoint(run_id, 2)
        store.set_status(run_id, status, f"said of run {k}", started=1000.0 + k, finished=2000.0 + k)
    return {r.id: described(store, r.id) for r in store.list()}


def described(store: RunStore, run_id: str) -> tuple:
    run = store.get(run_id)
    return (run.status, run.message, run.examples, run.step, run.total_steps, run.checkpoint_step, run.config,
            run.started, run.finished, store.metrics(run_id))  # fmt: skip


DAMAGES = {
    "random bytes": lambda path: path.write_bytes(os.urandom(8192)),
    "truncated": lambda path: path.write_bytes(path.read_bytes()[:3000]),
    "zero length": lambda path: path.write_bytes(b""),  # an empty file is an empty database to SQLite
}


@pytest.mark.parametrize("damage", list(DAMAGES))
def test_a_damaged_runs_db_is_rebuilt_from_the_run_folders(damage, tiny_model_dir, tmp_path):
    store = RunStore(tmp_path)
    before = runs_with_metrics(store, tiny_model_dir, ["done", "stopped", "failed", "interrupted"])
    with closing(sqlite3.connect(store.path)) as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    DAMAGES[damage](store.path)

    again = RunStore(tmp_path)
    assert {r.id: described(again, r.id) for r in again.list()} == before
    if damage == "zero length":
        assert again.recovered == "4 runs missing from the run store came back from their folders"
    else:
        assert again.recovered.startswith("the run store was damaged (")
        assert again.recovered.endswith(f"was rebuilt from the run folders; the damaged file is {aside(tmp_path)}")
    assert RunStore(tmp_path).recovered == ""  # said once: the next opening finds them all


def aside(home) -> str:
    """The damaged file, kept aside rather than deleted."""
    (damaged,) = (p for p in home.glob("runs.db.damaged-*") if not p.name.endswith(("-wal", "-shm")))
    return damaged.name


def test_a_run_training_when_the_store_was_lost_comes_back_interrupted(tiny_model_dir, tmp_path):
    store = RunStore(tmp_path)
    run_id = store.create(config(tiny_model_dir), load_sample("spanish"))
    store.set_status(run_id, "running", "")
    store.path.unlink()
    run = RunStore(tmp_path).get(run_id)
    assert run.status == "interrupted" and run.examples == len(load_sample("spanish"))


def test_a_home_that_cannot_hold_the_store_is_one_sentence(tmp_path):
    home_is_a_file = tmp_path / "home"
    home_is_a_file.write_text("not a folder")
    with pytest.raises(StoreError, match=f"^the lab's home {home_is_a_file} cannot be written .*: free some space"):
        RunStore(home_is_a_file)
    (tmp_path / "other" / "runs.db").mkdir(parents=True)  # what sqlite cannot open, as on a read-only home
    with pytest.raises(StoreError, match="unable to open database file.*nothing of the runs was changed"):
        RunStore(tmp_path / "other")


def test_a_run_whose_folder_is_gone_reads_damaged_and_can_be_deleted(tiny_model_dir, tmp_path):
    store = RunStore(tmp_path)
    runs_with_metrics(store, tiny_model_dir, ["done", "done"])
    gone, kept = [r.id for r in store.list()]
    folder = store.run_folder(gone)
    for path in sorted(folder.rglob("*"), reverse=True):
        path.unlink() if path.is_file() else path.rmdir()
    folder.rmdir()
    assert store.get(gone).message == f"damaged: its folder {folder} is gone; delete it"
    with pytest.raises(LabError, match=f"run {gone} is damaged: its folder {folder} is gone; delete it"):
        store.examples(gone)
    with pytest.raises(LabError, match="only interrupted, stopped or failed runs resume"):
        store.prepare_resume(gone, 1)
    store.delete(gone)
    assert [r.id for r in store.list()] == [kept]


def test_pages_say_the_store_was_rebuilt_and_go_on(app_home, tiny_model_dir):
    store = RunStore(app_home)
    before = runs_with_metrics(store, tiny_model_dir, ["done", "stopped"])
    store.path.write_bytes(os.urandom(4096))
    for suffix in ("-wal", "-shm"):
        store.path.with_name(f"runs.db{suffix}").unlink(missing_ok=True)
    at = open_app(TRAIN)
    assert not at.exception
    assert [w.value for w in at.warning if w.value.startswith("Runs: the run store was damaged")]
    assert {r.id: described(store, r.id) for r in store.list()} == before
    for page in (INSIDE, DECODING, COMPARE):
        assert not open_app(page).exception


def test_without_a_usable_store_run_pages_say_why_and_decoding_still_answers(app_home, tiny_model_dir):
    (app_home / "runs.db").mkdir(parents=True)
    for page in (TRAIN, INSIDE, COMPARE):
        at = open_app(page)
        assert not at.exception
        assert [plain(e.value) for e in at.error] == [
            f"The run store cannot be used: the lab's home {app_home} cannot be written (unable to open database "
            "file): free some space or fix its permissions; nothing of the runs was changed."
        ]
    at = open_app(DECODING, model_input=str(tiny_model_dir))
    assert not at.exception and len(at.error) == 1
    at.slider[0].set_value(4).run()
    {b.label: b for b in at.button}["Decode"].click().run()
    assert not at.exception and len(at.dataframe) == 4  # the base model decodes: greedy, beam, sample, beam step


def test_a_runs_db_of_another_program_is_named_as_such_and_left_alone(tmp_path):
    """It read "cannot be written… free some space": the database is fine, it is just not the lab's."""
    import sqlite3

    from lab.train.store import StoreError

    with sqlite3.connect(tmp_path / "runs.db") as db:
        db.execute("CREATE TABLE runs (name TEXT, size INTEGER)")
        db.execute("INSERT INTO runs VALUES ('mine', 1)")
    with pytest.raises(StoreError) as said:
        RunStore(tmp_path)
    assert str(said.value) == (
        f"{tmp_path / 'runs.db'} is a SQLite database, but not the lab's: its table `runs` has no id, created, "
        "status, message; move it away or start the lab with another SFT_LAB_HOME (nothing was changed)"
    )
    with sqlite3.connect(tmp_path / "runs.db") as db:
        assert db.execute("SELECT * FROM runs").fetchall() == [("mine", 1)]
