"""Compare runs in AppTest: seed 000's copied and masked runs side by side; projector mode."""

import json
import re

from lab.data import load_sample
from lab.look import greedy_answer, question_prompt
from lab.models import load_tokenizer
from lab.train import RunConfig, RunStore, execute, load_trained
from tests.app.conftest import open_app
from tests.conftest import plain, shown_texts

COMPARE = "app_pages/compare.py"


def seed_runs(store: RunStore, tiny_model_dir) -> dict[str, str]:
    """The same five examples trained with labels copied and masked (tiny model, a few steps)."""
    runs = {}
    for strategy in ("copy", "special-mask"):
        config = RunConfig(
            model=str(tiny_model_dir), format="classic", strategy=strategy, epochs=4, lr=1e-2, dtype="fp32"
        )
        runs[strategy] = store.create(config, load_sample("spanish"))
        assert execute(store, runs[strategy]) == "done"
    return runs


def test_two_runs_side_by_side_curves_predictions_and_answers(app_home, tiny_model_dir):
    at = open_app(COMPARE)
    assert any("Train two runs" in i.value for i in at.info)
    store = RunStore(app_home)
    runs = seed_runs(store, tiny_model_dir)
    at = open_app(COMPARE)
    assert not at.exception
    assert at.multiselect(key="compare_runs").value == [runs["copy"], runs["special-mask"]]
    curves = json.loads(at.get("plotly_chart")[0].proto.spec)
    assert len(curves["data"]) == 6 and " · copy · full · " in curves["data"][0]["name"]
    table = at.dataframe[0].value
    assert list(table["steps"]) == ["4/4", "4/4"]
    assert list(table["loss"]) == [store.metrics(r)[-1]["loss"] for r in runs.values()]

    rows = [h.value for h in at.get("html") if "sl-chips" in h.value]
    assert len(rows) == 3  # the base model, then each run
    marks = [row.count(" ✓</div>") for row in rows]
    assert marks == [0, 23, 3]  # copy trains every token after the first, special-mask the answer and its eos
    assert re.findall(r'<div class="t" style="[^"]*">([^<]*)</div>', rows[0])[-3:] == ["·per", "ro", "&lt;|im_end|&gt;"]

    {b.label: b for b in at.button}["Answer with every run"].click().run()
    assert not at.exception
    tokenizer = load_tokenizer(str(tiny_model_dir))
    prompt = question_prompt('How do you say "day" in Spanish?', tokenizer, "classic")
    expected = [
        greedy_answer(load_trained(store.get(r).config, store.final_weights(r), "cpu"), tokenizer, prompt, "classic")
        for r in runs.values()
    ]
    answers = shown_texts([h.value for h in at.get("html")])
    assert answers[1:] == expected and len(answers) == 3
    verdicts = [plain(e.value) for kind in (at.warning, at.info, at.success) for e in kind]
    assert len(verdicts) == 3  # the base model's answer is empty (it repeats <|im_start|>), the runs' are wrong
    assert (
        "The answer is empty." in verdicts
        and sum(v.endswith("is not the reference answer “día”.") for v in verdicts) == 2
    )


def test_projector_mode_draws_larger_and_keeps_every_cell_whole(app_home):
    at = open_app("app_pages/ratio.py", query={"projector": "1"})
    assert not at.exception
    assert at.toggle(key="projector").value is True
    assert any("html{font-size:21px}" in h.value for h in at.get("html"))
    histogram = json.loads(at.get("plotly_chart")[0].proto.spec)
    assert histogram["layout"]["height"] == 690 and histogram["layout"]["font"]["size"] == 18
    assert len(at.table) == 1 and not at.dataframe  # the statistics as a table whose cells are shown whole
    at.toggle(key="projector").set_value(False).run()
    assert at.dataframe and not any("html{font-size:21px}" in h.value for h in at.get("html"))
    assert at.query_params["projector"] == "0"
