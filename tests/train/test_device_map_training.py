"""Training a base placed by accelerate's device map (RunConfig.max_memory): a map whose every layer sits on a
device that runs it trains exactly as the model held whole, the placement is recorded and said; a map that
offloads layers is refused before training in one sentence, as PEFT cannot train an offloaded layer; on a GPU,
the same against CUDA (skipped without one)."""

import json

import pytest
import torch

from lab.cli.main import main
from lab.errors import LabError
from lab.models import DEFAULT_MODEL
from lab.train.config import RunConfig
from lab.train.weights import model_for_training

CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


def train(args: list[str], capsys) -> dict:
    assert main(["train", "--data", "sample:spanish", "--epochs", "2", "--json", *args]) == 0
    return json.loads(capsys.readouterr().out)


def test_a_map_on_the_cpu_alone_trains_as_the_whole_model_and_says_where_it_sat(
    tiny_model_dir, tmp_path, monkeypatch, capsys
):
    monkeypatch.setenv("SFT_LAB_HOME", str(tmp_path))
    common = ["--model", str(tiny_model_dir), "--method", "lora", "--dtype", "fp32", "--device", "cpu"]
    whole = train(common, capsys)
    placed = train([*common, "--max-memory", "cpu=2GiB"], capsys)
    assert placed["status"] == whole["status"] == "done"
    assert placed["loss"] == pytest.approx(whole["loss"], rel=1e-6)  # the same steps on the same device
    assert placed["precision"]["placement"].startswith("cpu: 1 module ((the whole model)), ")
    assert "placement" not in whole["precision"]
    assert main(["runs", "show", placed["id"]]) == 0
    assert "\nplacement: cpu: 1 module ((the whole model))" in capsys.readouterr().out


def test_a_map_that_offloads_layers_is_refused_before_training(tiny_model_dir):
    config = RunConfig(model=str(tiny_model_dir), method="lora", max_memory="cpu=1MiB,disk", device="cpu")
    with pytest.raises(LabError, match=r"max memory cpu=1MiB,disk leaves layers offloaded \(disk: .*cannot train"):
        model_for_training(config.validate(), "cpu")


def test_max_memory_settings_that_cannot_work_are_sentences():
    with pytest.raises(LabError, match="max_memory places the model for the lab engine"):
        RunConfig(max_memory="cuda:0=8GiB", engine="trl").validate()
    with pytest.raises(LabError, match="the devices are cpu, cuda:N and disk"):
        RunConfig(max_memory="tpu=8GiB").validate()


@CUDA
def test_on_a_gpu_a_cuda_map_trains_as_the_whole_model_and_a_cpu_offload_is_refused(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SFT_LAB_HOME", str(tmp_path))
    common = ["--model", DEFAULT_MODEL, "--method", "lora", "--quantization", "4bit", "--device", "cuda"]
    whole = train(common, capsys)
    placed = train([*common, "--max-memory", "cuda:0=20GiB"], capsys)
    assert placed["loss"] == pytest.approx(whole["loss"], rel=1e-3)
    assert placed["precision"]["placement"].startswith("cuda:0: ")
    config = RunConfig(model=DEFAULT_MODEL, method="lora", max_memory="cuda:0=150MiB,cpu=8GiB", device="cuda")
    with pytest.raises(LabError, match=r"leaves layers offloaded \(cuda:0: .*; cpu: .*cannot train"):
        model_for_training(config.validate(), "cuda")
