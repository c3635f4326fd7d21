"""QLoRA on this CPU: the frozen base's linear layers load in 4-bit NF4 or 8-bit (bitsandbytes), LoRA adapters
train on it, and the saved adapter loads back on the same quantized base to the same predictions."""

import bitsandbytes as bnb
import pytest
import torch
from transformers import AutoModelForCausalLM

from lab.common import IGNORE_INDEX
from lab.data.sources import load_sample
from lab.errors import LabError, ModelError
from lab.models.plan import weight_bytes
from lab.models.references import load_model
from lab.ship import export_model, trl_handoff, write_handoff
from lab.train.batches import training_items
from lab.train.config import RunConfig
from lab.train.engine import train_lab
from lab.train.execute import execute
from lab.train.store import RunStore
from lab.train.weights import load_trained, model_for_training, save_weights
from tests.cli.conftest import run_cli
from tests.conftest import SEED
from tests.train.test_engine import first_step_items

QUANTIZED = {"4bit": bnb.nn.Linear4bit, "8bit": bnb.nn.Linear8bitLt}


def qlora(tiny_model_dir, bits, **changes):
    base = SEED | dict(model=str(tiny_model_dir), method="lora", quantization=bits, epochs=4, batch_size=2, lr=1e-2)
    return RunConfig(**(base | dict(dtype="fp32", checkpoint_seconds=1e9) | changes))


def float64_loss_from_logits(model, items) -> float:
    """The step's loss from the model's full logits, in float64: the mean over trained tokens (weights 1)."""
    total, count = 0.0, 0
    with torch.no_grad():
        for item in items:
            logits = model(input_ids=torch.tensor([item.ids])).logits[0, :-1].double()
            ce = -torch.log_softmax(logits, -1).gather(1, torch.tensor(item.ids[1:])[:, None]).squeeze(1)
            trained = [t - 1 for t in range(1, len(item.ids)) if item.labels[t] != IGNORE_INDEX]
            total, count = total + ce[trained].sum().item(), count + len(trained)
    return total / count


@pytest.mark.parametrize("bits", ["4bit", "8bit"])
def test_a_qlora_run_trains_only_its_adapters_on_the_quantized_base(bits, tokenizer, tiny_model_dir):
    config = qlora(tiny_model_dir, bits)
    model = model_for_training(config, "cpu")
    quantized = {n: m for n, m in model.named_modules() if isinstance(m, QUANTIZED[bits])}
    # every linear layer of the decoder: the 4 attention projections (under their adapters) and the 3 of the MLP
    assert {n.rsplit(".", 1)[-1] for n in quantized} == {"base_layer", "gate_proj", "up_proj", "down_proj"}
    assert len(quantized) == 7 * model.config.num_hidden_layers
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable and all("lora_" in n for n in trainable)
    frozen = {n: m.weight.data.clone() for n, m in quantized.items()}
    items = training_items(load_sample("spanish"), tokenizer, config).items
    # in train mode: on CPU, bitsandbytes repacks a 4-bit layer for a faster bf16 path at its first eval-mode
    # forward, and the layer computes that way from then on (outputs move by ~4e-3)
    expected_first = float64_loss_from_logits(model.train(), first_step_items(items, config))
    reports = []
    status = train_lab(model, items, config, "cpu", lambda r: reports.append(r) or True, tokenizer.pad_token_id)
    assert status == "done" and len(reports) == 12
    assert reports[0].loss == pytest.approx(expected_first, abs=1e-4)  # lm_head at trained positions only
    assert reports[-1].loss < reports[0].loss - 0.1
    full_precision = model_for_training(qlora(tiny_model_dir, "none"), "cpu")
    peer = []
    train_lab(full_precision, items, config, "cpu", lambda r: peer.append(r.loss) or True, tokenizer.pad_token_id)
    assert reports[-1].loss == pytest.approx(peer[-1], abs=0.03)  # it learns as LoRA on the unquantized base
    assert all(torch.equal(m.weight.data, frozen[n]) for n, m in quantized.items())  # the base never moved


def test_a_saved_qlora_adapter_loads_on_its_quantized_base_to_the_same_predictions(tokenizer, tiny_model_dir, tmp_path):
    config = qlora(tiny_model_dir, "4bit", epochs=2)
    model = model_for_training(config, "cpu")
    items = training_items(load_sample("spanish"), tokenizer, config).items
    train_lab(model, items, config, "cpu", lambda r: True, tokenizer.pad_token_id)
    save_weights(model, tmp_path / "final")
    assert sorted(p.name for p in (tmp_path / "final").iterdir()) == [
        "README.md",
        "adapter_config.json",
        "adapter_model.safetensors",
    ]
    loaded = load_trained(config, tmp_path / "final", "cpu")
    assert any(isinstance(m, bnb.nn.Linear4bit) for m in loaded.modules())
    ids = torch.tensor([items[0].ids])
    with torch.no_grad():
        assert torch.allclose(loaded(input_ids=ids).logits, model.eval()(input_ids=ids).logits, atol=1e-5)


def test_quantization_settings_that_cannot_work_are_one_sentence(tiny_model_dir, monkeypatch):
    with pytest.raises(LabError, match=r"^a 4bit base: its weights are frozen integers, .*; pick method lora"):
        RunConfig(quantization="4bit").validate()
    with pytest.raises(LabError, match="quantization must be one of none, 4bit, 8bit"):
        RunConfig(method="lora", quantization="2bit").validate()
    monkeypatch.setitem(__import__("sys").modules, "bitsandbytes", None)
    with pytest.raises(ModelError, match=r"^quantization needs bitsandbytes: pip install bitsandbytes==0\.50\.2$"):
        load_model(str(tiny_model_dir), "cpu", quantization="4bit")


def test_the_cli_trains_a_qlora_run(tiny_model_dir, tmp_path):
    done = run_cli(
        "train", "--data", "sample:spanish", "--model", str(tiny_model_dir), "--method", "lora",
        "--quantization", "4bit", "--epochs", "2", "--dtype", "fp32", "--json",
        env={"SFT_LAB_HOME": str(tmp_path)},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert '"status": "done"' in done.stdout and '"quantization": "4bit"' in done.stdout


@pytest.mark.parametrize("bits", ["none", "4bit", "8bit"])
def test_the_weight_bytes_counted_from_the_config_match_the_loaded_model(bits, tiny_model_dir):
    loaded = load_model(str(tiny_model_dir), "cpu", dtype=torch.float32, quantization=bits).get_memory_footprint()
    assert weight_bytes(str(tiny_model_dir), bits) == pytest.approx(loaded, rel=0.02)


def test_a_qlora_run_exports_merged_into_the_unquantized_base_and_hands_trl_its_quantization(tiny_model_dir, tmp_path):
    from trl import DatasetMixtureConfig, ModelConfig, ScriptArguments, SFTConfig, TrlParser

    store = RunStore(tmp_path / "home")
    run_id = store.create(qlora(tiny_model_dir, "4bit", epochs=2, strategy="trl-completion"), load_sample("spanish"))
    assert execute(store, run_id) == "done"
    merged = export_model(store, run_id, tmp_path / "merged", merge=True)
    assert "trained on the 4bit base, merged into its unquantized weights" in merged.weights
    plain = AutoModelForCausalLM.from_pretrained(merged.folder)  # plain transformers, no bitsandbytes layer
    assert not any(isinstance(m, (bnb.nn.Linear4bit, bnb.nn.Linear8bitLt)) for m in plain.modules())
    write_handoff(trl_handoff(store, run_id), tmp_path / "trl")
    parser = TrlParser((ScriptArguments, SFTConfig, ModelConfig, DatasetMixtureConfig))
    _, _, model, _ = parser.parse_args_and_config(["--config", str(tmp_path / "trl" / "sft.yaml")])
    assert (model.use_peft, model.load_in_4bit, model.bnb_4bit_quant_type, model.use_bnb_nested_quant) == (
        True,
        True,
        "nf4",
        True,
    )
