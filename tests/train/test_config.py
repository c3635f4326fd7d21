"""A run's settings are refused in one sentence when they cannot be what they say: a string is not a boolean (it
would have turned `trust_remote_code` on), and absurd numbers and devices are named before anything loads."""

import json

import pytest

from lab.errors import LabError
from lab.train import RunConfig
from tests.cli.conftest import run_cli


@pytest.mark.parametrize(
    "given, sentence",
    [
        ({"trust_remote_code": "false"}, 'trust_remote_code must be true or false, not "false"'),
        ({"max_length": float("inf")}, "max_length must be a whole number, not Infinity"),
        ({"epochs": 2.5}, "epochs must be a whole number, not 2.5"),
        ({"epochs": True}, "epochs must be a whole number, not true"),
        ({"lr": "fast"}, 'lr must be a number (or null for the default), not "fast"'),
        ({"lora_targets": "q_proj"}, 'lora_targets must be a list of names, not "q_proj"'),
        ({"model": 7}, "model must be text, not 7"),
    ],
)
def test_a_setting_of_the_wrong_type_is_refused(given, sentence):
    with pytest.raises(LabError) as refused:
        RunConfig.from_json(given)
    assert str(refused.value) == sentence


@pytest.mark.parametrize(
    "given, sentence",
    [
        ({"lora_alpha": -16}, "lora_alpha must be at least 1"),
        ({"seed": 10**20}, "seed must be between 0 and 4294967295"),
        ({"device": "tpu"}, "device 'tpu' is not one of auto, cpu, cuda, cuda:N or mps"),
    ],
)
def test_absurd_values_are_refused(given, sentence):
    with pytest.raises(LabError) as refused:
        RunConfig.from_json(given).validate()
    assert str(refused.value) == sentence
    RunConfig.from_json({"device": "cuda:1", "seed": 0, "lora_alpha": 1, "lr": None}).validate()  # the control


def test_the_cli_refuses_a_config_that_is_not_an_object_or_names_a_string_boolean(tmp_path):
    listed = tmp_path / "list.json"
    listed.write_text("[1, 2]")
    result = run_cli("train", "--data", "sample:spanish", "--config", str(listed))
    assert result.returncode == 2 and "a run's settings are a JSON object of fields, not a list" in result.stderr
    assert "Traceback" not in result.stderr
    stringly = tmp_path / "string.json"
    stringly.write_text(json.dumps({"trust_remote_code": "false"}))
    result = run_cli("train", "--data", "sample:spanish", "--config", str(stringly))
    assert result.returncode == 2
    assert result.stderr.strip() == 'error: trust_remote_code must be true or false, not "false"'
