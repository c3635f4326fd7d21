"""Who can reach the lab: this machine only by default; shared with a room, no model code, no server folders
(not even whether one exists) and no tracebacks, unless the lab was started to trust the room."""

import socket
import urllib.request

import psutil
import pytest
from streamlit import config

from lab.models.references import allow_local_folders
from tests.app.conftest import open_app
from tests.conftest import plain


@pytest.fixture
def shared_lab(monkeypatch):
    """The app as `make run HOST=0.0.0.0` serves it."""
    before = (config.get_option("server.address"), config.get_option("client.showErrorDetails"))
    config.set_option("server.address", "0.0.0.0")
    yield
    config.set_option("server.address", before[0])
    config.set_option("client.showErrorDetails", before[1])
    allow_local_folders(True)  # the app set it for the shared lab; the rest of the test process is not shared


def errors_for(reference: str) -> list[str]:
    at = open_app()
    at.text_input(key="model_input").input(reference).run()
    assert not at.exception
    return [plain(e.value) for e in at.error]


def test_a_shared_lab_loads_no_server_folder_and_says_nothing_of_which_exist(app_home, tiny_model_dir, shared_lab):
    config.set_option("server.address", "127.0.0.1")  # the same process loaded the folder before it was shared
    assert errors_for(str(tiny_model_dir)) == []
    config.set_option("server.address", "0.0.0.0")
    existing, missing = errors_for(str(tiny_model_dir)), errors_for(str(tiny_model_dir) + "-missing")
    assert len(existing) == 1 and "the server's own folders are off" in existing[0]
    assert existing[0].replace(str(tiny_model_dir), "X") == missing[0].replace(str(tiny_model_dir) + "-missing", "X")
    at = open_app()
    assert "Trust remote code" not in [c.label for c in at.checkbox]  # not drawn, not merely disabled
    assert config.get_option("client.showErrorDetails") == "none"


def test_a_shared_lab_refuses_a_relative_reference_that_names_a_server_folder(
    app_home, tiny_model_dir, shared_lab, monkeypatch, tmp_path
):
    """`owner/name` that exists relative to the server's working folder loaded it: from_pretrained looks on disk
    first. It is refused as an absolute path is."""
    import shutil

    shutil.copytree(tiny_model_dir, tmp_path / "srv-secret" / "model")
    monkeypatch.chdir(tmp_path)
    [error] = errors_for("srv-secret/model")
    assert "the server's own folders are off" in error


def test_a_shared_lab_started_to_trust_the_room_loads_them(app_home, tiny_model_dir, shared_lab, monkeypatch):
    monkeypatch.setenv("SFT_LAB_SHARED_TRUST", "1")
    assert errors_for(str(tiny_model_dir)) == []
    assert not open_app().checkbox(key="trust_remote_code").disabled  # drawn, and it can be ticked


def test_the_lab_listens_on_this_machine_only(serve):
    url = serve()  # as `make run` starts it, with the project's .streamlit/config.toml
    port = int(url.rsplit(":", 1)[1])
    assert urllib.request.urlopen(f"{url}/_stcore/health", timeout=5).status == 200
    outside = [
        a.address
        for nic in psutil.net_if_addrs().values()
        for a in nic
        if a.family == socket.AF_INET and not a.address.startswith("127.")
    ]
    if not outside:
        pytest.skip("this machine has no network address besides loopback")
    with pytest.raises(OSError), socket.create_connection((outside[0], port), timeout=3):
        pass


def test_a_shared_lab_writes_exports_and_hand_offs_only_under_its_home(app_home, shared_lab):
    """A viewer typed a folder and the server wrote there (an executable launch.sh included). Shared, the page
    asks for no folder: it writes under the lab's home, and says where. (The shipped model: a shared lab loads
    no server folder, so a run on one can be neither exported nor handed off there.)"""
    from lab.data import load_sample
    from lab.train import RunConfig, RunStore, execute
    from tests.conftest import SEED

    store = RunStore(app_home)
    run_id = store.create(RunConfig(**SEED, epochs=1, dtype="fp32"), load_sample("spanish"))
    assert execute(store, run_id) == "done"
    at = open_app("app_pages/train.py")
    assert not at.exception
    assert not [t for t in at.text_input if t.key in (f"export-folder-{run_id}", f"handoff-folder-{run_id}")]
    assert any("files go under the lab's home" in c.value for c in at.caption)
    at.button(key=f"export-{run_id}").click().run()
    assert not at.exception, [e.value for e in at.error]
    assert not at.error, [e.value for e in at.error]
    assert (app_home / "exports" / run_id / "model.safetensors").is_file()
    at.button(key=f"handoff-{run_id}").click().run()
    at.button(key=f"write-handoff-{run_id}").click().run()
    assert not at.exception
    assert sorted(p.name for p in (app_home / "trl" / run_id).iterdir()) == ["data.jsonl", "launch.sh", "sft.yaml"]
