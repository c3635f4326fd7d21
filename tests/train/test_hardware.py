"""The machine-dependent levers: `dtype=auto` follows the measured bf16 speed-up (the median of interleaved
rounds, at the model's own shapes, kept per machine in the lab's home), never a CPU flag."""

import json
import statistics

import pytest
import torch

from lab.train import hardware


@pytest.fixture
def probe(monkeypatch, tmp_path):
    """Replace the probe's timings (not its decision): fp32 and bf16 seconds for the same products, each a
    number or a list taken in turn; a fresh lab home, so nothing cached decides."""
    monkeypatch.setenv("SFT_LAB_HOME", str(tmp_path))
    hardware.bf16_probe.cache_clear()

    def set_timings(fp32, bf16) -> None:
        seq = {torch.float32: list(fp32) if isinstance(fp32, list) else None, torch.bfloat16: None}
        seq[torch.bfloat16] = list(bf16) if isinstance(bf16, list) else None
        fixed = {torch.float32: fp32, torch.bfloat16: bf16}

        def timed(dtype, repeats=5, shape=hardware.PROBE_SHAPE):
            return seq[dtype].pop(0) if seq[dtype] is not None else fixed[dtype]

        monkeypatch.setattr(hardware, "time_matmul", timed)
        hardware.bf16_probe.cache_clear()

    yield set_timings
    hardware.bf16_probe.cache_clear()


@pytest.mark.parametrize(
    "fp32, bf16, chosen",
    [
        (1.0, 0.25, torch.bfloat16),  # bf16 4x faster (AMX): autocast pays
        (1.0, 0.7, torch.bfloat16),  # 1.43x: above the 1.3x bar
        (1.0, 0.8, None),  # 1.25x: not worth the casts
        (1.0, 2.0, None),  # half the speed (avx512_bf16 without AMX): stay in fp32
    ],
)
def test_auto_picks_bf16_on_cpu_only_where_it_measures_faster(probe, fp32, bf16, chosen):
    probe(fp32, bf16)
    assert hardware.bf16_probe().speedup == pytest.approx(fp32 / bf16)
    assert hardware.autocast_dtype("auto", "cpu") is chosen


def test_one_busy_round_does_not_flip_the_verdict(probe):
    fp32 = [1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0]
    bf16 = [0.4, 0.4, 3.0, 0.4, 0.41, 0.39, 0.4]  # round 3: something else took the cores during bf16
    probe(fp32, bf16)
    verdict = hardware.bf16_probe()
    assert verdict.speedup == pytest.approx(statistics.median(f / b for f, b in zip(fp32, bf16)))
    assert verdict.worth_it and hardware.autocast_dtype("auto", "cpu") is torch.bfloat16
    assert "2.5x faster than fp32" in verdict.sentence() and "trains in bf16 autocast" in verdict.sentence()


def test_the_verdict_is_kept_per_machine_and_shape_and_read_back(probe, tmp_path, monkeypatch):
    probe(1.0, 0.5)
    first = hardware.bf16_probe((512, 576, 1536))
    saved = json.loads((tmp_path / "hardware.json").read_text())
    [key] = saved
    assert hardware.machine_key() in key and "512x576x1536" in key and saved[key]["speedup"] == pytest.approx(2.0)
    monkeypatch.setattr(hardware, "time_matmul", lambda *a, **k: pytest.fail("measured again"))
    hardware.bf16_probe.cache_clear()  # a new process: the file decides
    assert hardware.bf16_probe((512, 576, 1536)) == first
    (tmp_path / "hardware.json").write_text("{not json")  # damaged: measured again, not a crash
    probe(1.0, 2.0)
    assert not hardware.bf16_probe((512, 576, 1536)).worth_it


def test_explicit_settings_are_obeyed_whatever_the_probe_says(probe):
    probe(1.0, 0.1)
    assert hardware.autocast_dtype("fp32", "cpu") is None
    probe(1.0, 10.0)
    assert hardware.autocast_dtype("bf16", "cpu") is torch.bfloat16


def test_the_probe_times_real_products_at_the_models_shape(tiny):
    shape = hardware.model_shape(tiny.config)
    assert shape == (512, tiny.config.hidden_size, tiny.config.intermediate_size)
    assert hardware.time_matmul(torch.float32, 1, shape) > 0 and hardware.time_matmul(torch.bfloat16, 1, shape) > 0
