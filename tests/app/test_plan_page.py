"""The "Will it fit?" page in AppTest: the four plans of a model folder, as the library computes them, and a
reference that cannot be planned said in a sentence."""

from lab.models.plan import plan
from lab.models.references import model_config
from tests.app.conftest import open_app
from tests.conftest import plain

PLAN = "app_pages/plan.py"


def test_the_page_shows_each_methods_verdict_and_a_bad_reference_as_a_sentence(app_home, tiny_model_dir):
    at = open_app(PLAN)
    at.text_input(key="plan_model").set_value(str(tiny_model_dir)).run()
    at.text_input(key="plan_memory").set_value("cpu=20MiB").run()
    assert not at.exception
    verdicts = [plain(m.value) for m in at.markdown if "fit" in m.value]
    for method, label in (("full", "full"), ("qlora4", "QLoRA 4-bit")):
        expected = plan(model_config(str(tiny_model_dir)), method, max_memory="cpu=20MiB")
        assert any(v.endswith(f"**{label}**: {expected.sentence()}") for v in verdicts), verdicts
    assert len(verdicts) == 4
    at.text_input(key="plan_model").set_value("./no/such/folder").run()
    assert not at.exception and "no model folder at no/such/folder" in at.error[0].value
