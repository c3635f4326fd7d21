"""The Generation ratio page: runs, draws the histogram with both means, and agrees with the command line."""

import json

import pytest

from lab.cli.main import main
from lab.data import Workspace, conversation, load_sample, single_turn
from tests.app.conftest import open_app

RATIO = "app_pages/ratio.py"


def charts(at) -> list[dict]:
    return [json.loads(c.proto.spec) for c in at.get("plotly_chart")]


def test_the_page_draws_both_datasets_and_their_means(app_home):
    at = open_app(RATIO)
    assert not at.exception
    histogram, curve = charts(at)
    assert [t["name"] for t in histogram["data"] if t["type"] == "bar"] == [
        "the current examples",
        "sample:reading",
        "sample:explain",
    ]
    labels = [a["text"] for a in histogram["layout"]["annotations"]]
    assert sum(label.startswith("arithmetic mean") for label in labels) == 3
    assert sum(label.startswith("geometric mean") for label in labels) == 3
    assert curve["layout"]["xaxis"]["type"] == "log"
    sentence = "**sample:reading**: at w = 0.1, prompt tokens carry **92%** of the loss"
    assert any(sentence in m.value for m in at.markdown)


def test_the_page_and_the_command_give_the_same_numbers(app_home, capsys):
    Workspace(app_home).save(load_sample("multiturn"))
    at = open_app(RATIO)
    at.multiselect(key="ratio_datasets").set_value(["the current examples"]).run()
    row = at.dataframe[0].value.iloc[0]
    assert main(["ratio", str(app_home / "workspace" / "examples.jsonl"), "--json"]) == 0
    cli = json.loads(capsys.readouterr().out)
    assert row["examples"] == cli["count"] and row["skipped"] == cli["skipped"]
    for column, key in (
        ("arithmetic mean", "arithmetic_mean"),
        ("geometric mean", "geometric_mean"),
        ("median", "median"),
        ("share Rg > 1", "share_above_1"),
    ):
        assert row[column] == pytest.approx(cli[key], rel=1e-12)
    assert (row["prompt tokens P"], row["completion tokens C"]) == (cli["prompt_tokens"], cli["completion_tokens"])


def test_skipped_examples_are_listed_with_why(app_home):
    Workspace(app_home).save([single_turn("q", "a"), conversation(("user", "no answer"))])
    at = open_app(RATIO)
    at.multiselect(key="ratio_datasets").set_value(["the current examples"]).run()
    assert not at.exception
    assert at.expander[0].label == "the current examples: 1 example left out of the statistics"
    assert "#1: no assistant turn: no completion tokens" in at.expander[0].markdown[0].value
