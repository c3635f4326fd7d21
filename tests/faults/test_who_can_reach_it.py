"""Who can reach the lab: this machine only by default; shared with a room, no model code, no server folders
(not even whether one exists) and no tracebacks, unless the lab was started to trust the room."""

import socket
import urllib.request

import psutil
import pytest
from streamlit import config

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
    assert at.checkbox(key="trust_remote_code").disabled
    assert config.get_option("client.showErrorDetails") == "none"


def test_a_shared_lab_started_to_trust_the_room_loads_them(app_home, tiny_model_dir, shared_lab, monkeypatch):
    monkeypatch.setenv("SFT_LAB_SHARED_TRUST", "1")
    assert errors_for(str(tiny_model_dir)) == []
    assert not open_app().checkbox(key="trust_remote_code").disabled


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
