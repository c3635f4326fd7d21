"""The figures as JSON: log-space bins, power-of-ten ticks, both means per dataset, the loss-share curve."""

import math

import numpy as np
import pytest

from lab.labels.ratio import ExampleRatio, statistics_of
from lab.views.figures import log_bins, loss_curves, loss_share_curve, power_of_ten, ratio_histogram, runs_curves


def stats(*pairs):
    return statistics_of([ExampleRatio(i, p, c) for i, (p, c) in enumerate(pairs)])


def test_bins_are_cut_in_log_space():
    edges = log_bins([0.01, 0.1, 1.0])
    assert edges[0] == pytest.approx(-2.0) and edges[-1] == pytest.approx(0.1) and len(edges) == 22
    assert np.allclose(np.diff(edges), 0.1)
    assert [power_of_ten(e) for e in (-2, 0, 1)] == ["10⁻²", "1", "10¹"]


def test_histogram_has_a_bar_trace_and_both_means_per_dataset():
    reading, explain = stats((100, 1), (200, 1), (100, 2)), stats((10, 70), (10, 50))
    figure = ratio_histogram({"reading": reading, "explain": explain}).to_plotly_json()
    bars = [t for t in figure["data"] if t["type"] == "bar"]
    assert [b["name"] for b in bars] == ["reading", "explain"]
    assert sum(bars[0]["y"]) == pytest.approx(100)  # shares of each dataset's own examples
    means = [t for t in figure["data"] if t["type"] == "scatter"]
    assert [m["name"] for m in means] == [
        "reading: arithmetic mean",
        "reading: geometric mean",
        "explain: arithmetic mean",
        "explain: geometric mean",
    ]
    assert means[0]["x"][0] == pytest.approx(math.log10(reading.arithmetic_mean))
    assert means[1]["x"][0] == pytest.approx(math.log10(reading.geometric_mean))
    labels = [a["text"] for a in figure["layout"]["annotations"]]
    assert labels[0] == f"arithmetic mean {reading.arithmetic_mean:.3g}" and labels[3].startswith("geometric mean")
    assert figure["layout"]["xaxis"]["ticktext"][0] == "10⁻³"


def test_an_empty_dataset_draws_an_empty_figure_that_says_so():
    figure = ratio_histogram({"none": statistics_of([])}).to_plotly_json()
    assert figure["data"] == [] and "No example" in figure["layout"]["title"]["text"]


def test_loss_share_curve_runs_from_w_0_001_to_1_and_marks_w():
    figure = loss_share_curve({"d": stats((30, 10))}, 0.1).to_plotly_json()
    curve, marker = figure["data"]
    assert curve["x"][0] == pytest.approx(0.001) and curve["x"][-1] == pytest.approx(1.0)
    assert curve["y"][-1] == pytest.approx(75.0)  # w = 1: P / (P + C)
    assert marker["x"] == [0.1] and marker["y"][0] == pytest.approx(100 * 3 / 13)
    assert figure["layout"]["xaxis"]["type"] == "log"


@pytest.mark.parametrize("steps, dtick", [(3, 1), (10, 1), (11, 2), (45, 5), (400, 50), (15000, 2000)])
def test_the_step_axis_ticks_whole_steps_only(steps, dtick):
    metrics = [{"step": s, "loss": 1.0, "prompt_loss": 2.0, "completion_loss": 0.5} for s in range(1, steps + 1)]
    axis = loss_curves(metrics, "run").to_plotly_json()["layout"]["xaxis"]
    assert (axis["dtick"], axis["tick0"], axis["tickformat"]) == (dtick, 0, "d")
    assert steps / axis["dtick"] <= 10


def test_runs_are_overlaid_a_colour_each_a_dash_per_loss_against_step_or_epoch():
    copied = [
        {"step": s, "epoch": s / 2, "loss": 3.0 / s, "prompt_loss": 2.0 / s, "completion_loss": 1.0}
        for s in range(1, 5)
    ]
    masked = [
        {"step": s, "epoch": s / 2, "loss": 1.0 / s, "prompt_loss": 4.0 + s, "completion_loss": 1.0 / s}
        for s in range(1, 5)
    ]
    figure = runs_curves({"copy": copied, "masked": masked}, x="epoch").to_plotly_json()
    names = [t["name"] for t in figure["data"]]
    assert names == [
        f"{run} · {loss}"
        for run in ("copy", "masked")
        for loss in ("training loss (weighted)", "prompt loss", "completion loss")
    ]
    assert [t["line"]["dash"] for t in figure["data"][:3]] == ["solid", "dot", "dash"]
    assert len({t["line"]["color"] for t in figure["data"]}) == 2
    assert figure["data"][4]["x"] == [0.5, 1.0, 1.5, 2.0] and figure["data"][4]["y"] == [5.0, 6.0, 7.0, 8.0]
    assert figure["layout"]["xaxis"]["title"]["text"] == "epoch"


def test_a_larger_scale_draws_larger_mean_labels_in_a_taller_chart():
    data = {"reading": stats((100, 1), (120, 1)), "explain": stats((10, 70), (12, 90))}
    small, large = ratio_histogram(data).to_plotly_json(), ratio_histogram(data, scale=1.5).to_plotly_json()
    assert [a["font"]["size"] for a in small["layout"]["annotations"]] == [12] * 4
    assert [a["font"]["size"] for a in large["layout"]["annotations"]] == [18] * 4
    assert (small["layout"]["height"], large["layout"]["height"]) == (460, 690)


def test_the_share_markers_of_two_sets_sit_on_different_sides():
    figure = loss_share_curve({"a": stats((30, 10)), "b": stats((31, 10))}, 0.1).to_plotly_json()
    markers = [t for t in figure["data"] if t["mode"] == "markers+text"]
    assert [m["textposition"] for m in markers] == ["middle left", "middle right"]


def test_names_a_person_chose_reach_plotly_escaped():
    """Plotly renders some HTML in trace names and hover text: a file named with a link or a style stays text."""
    hostile = '<a href="https://example.com">x</a><span style="font-size:90px;color:red">big</span>'
    figures = [
        ratio_histogram({hostile: stats((10, 5), (4, 8))}),
        loss_share_curve({hostile: stats((10, 5))}, 0.1),
        runs_curves({hostile: [{"step": 1, "epoch": 1, "loss": 1.0}]}),
    ]
    for figure in figures:
        spec = str(figure.to_plotly_json())
        assert "<a href" not in spec and "<span style" not in spec
        assert "&lt;a href=" in spec
