"""The machine-dependent levers: `dtype=auto` follows the measured bf16 speed-up, never a CPU flag."""

import pytest
import torch

from lab.train import hardware


@pytest.fixture
def probe(monkeypatch):
    """Replace the probe's timings (not its decision): fp32 and bf16 seconds for the same products."""

    def set_timings(fp32: float, bf16: float) -> None:
        monkeypatch.setattr(hardware, "time_matmul", lambda dtype, repeats=5: fp32 if dtype == torch.float32 else bf16)
        hardware.cpu_bf16_speedup.cache_clear()

    yield set_timings
    hardware.cpu_bf16_speedup.cache_clear()


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
    assert hardware.cpu_bf16_speedup() == pytest.approx(fp32 / bf16)
    assert hardware.autocast_dtype("auto", "cpu") is chosen


def test_explicit_settings_are_obeyed_whatever_the_probe_says(probe):
    probe(1.0, 0.1)
    assert hardware.autocast_dtype("fp32", "cpu") is None
    probe(1.0, 10.0)
    assert hardware.autocast_dtype("bf16", "cpu") is torch.bfloat16


def test_the_probe_times_real_products_in_both_dtypes():
    assert hardware.time_matmul(torch.float32, repeats=1) > 0 and hardware.time_matmul(torch.bfloat16, repeats=1) > 0
