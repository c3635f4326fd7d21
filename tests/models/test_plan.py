"""Will it fit? The planner's counts against real models built here: parameters, PEFT's own trainable count, the
bytes of the loaded weights, and the tensors autograd really keeps in a CPU forward pass; the device map is
accelerate's; the CLI's JSON and exit codes."""

import json

import pytest
import torch

from lab.errors import ModelError
from lab.models import DEFAULT_MODEL
from lab.models.activations import activation_bytes
from lab.models.plan import lora_config, meta_model, plan
from lab.models.references import load_model, model_config
from lab.train.config import RunConfig
from lab.train.weights import model_for_training
from tests.cli.conftest import run_cli

BATCH, SEQ = 2, 48


def kept_by_a_real_forward(model, batch: int, seq: int, device: str = "cpu") -> int:
    """Bytes a real forward pass leaves alive for the backward: the saved tensors and every tensor an autograd
    node holds as an attribute (a custom Function's `ctx.A`, which no saved-tensor hook sees); parameters left
    out, distinct storages, the logits and their gradient as the plan counts them."""
    params = {p.untyped_storage().data_ptr() for p in model.parameters()}
    kept: dict[int, int] = {}

    def add(t):
        if isinstance(t, torch.Tensor) and t.untyped_storage().data_ptr() not in params:
            kept[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
        elif isinstance(t, (tuple, list)):
            for item in t:
                add(item)
        return t

    ids = torch.randint(0, 1000, (batch, seq), device=device)
    model.train()
    with torch.autograd.graph.saved_tensors_hooks(add, lambda t: t):
        logits = model(input_ids=ids, labels=ids).logits
    nodes, seen = [logits.grad_fn], set()
    while nodes:
        node = nodes.pop()
        if node is not None and node not in seen:
            seen.add(node)
            for value in getattr(node, "__dict__", {}).values():
                add(value)
            nodes += [n for n, _ in node.next_functions]
    return sum(kept.values()) + 2 * logits.numel() * logits.element_size()


def test_parameters_and_weight_bytes_equal_the_loaded_model(tiny_model_dir):
    real = load_model(str(tiny_model_dir), "cpu", dtype=torch.float32)
    storages = {p.untyped_storage().data_ptr(): p.untyped_storage().nbytes() for p in real.parameters()}
    full = plan(model_config(str(tiny_model_dir)), "full", "fp32", BATCH, SEQ)
    assert full.parameters == full.trainable_parameters == sum(p.numel() for p in real.parameters())
    assert full.bytes["weights"] == sum(storages.values())  # the tied embedding once
    assert full.bytes["gradients"] == full.bytes["weights"] and full.bytes["optimizer"] == 2 * full.bytes["weights"]
    half = plan(model_config(str(tiny_model_dir)), "full", "bf16", BATCH, SEQ)
    assert half.bytes["weights"] == full.bytes["weights"] // 2


def test_lora_trains_what_peft_says_it_trains(tiny_model_dir):
    config = RunConfig(model=str(tiny_model_dir), method="lora", dtype="fp32")
    trainable, _ = model_for_training(config, "cpu").get_nb_trainable_parameters()
    lora = plan(model_config(str(tiny_model_dir)), "lora", "fp32", BATCH, SEQ, lora_r=config.lora_r)
    assert lora.trainable_parameters == trainable
    assert lora.bytes["gradients"] == 4 * trainable and lora.bytes["optimizer"] == 8 * trainable


def test_activations_counted_on_meta_equal_what_a_real_forward_keeps(tiny_model_dir):
    config = model_config(str(tiny_model_dir))
    real = load_model(str(tiny_model_dir), "cpu", dtype=torch.float32)
    layers, other = activation_bytes(meta_model(config), BATCH, SEQ)
    assert sum(layers) + other == kept_by_a_real_forward(real, BATCH, SEQ)
    assert len(layers) == config.num_hidden_layers and layers[0] >= layers[-1] > 0  # layer 0 keeps the rotary tables

    # with the adapters a run attaches
    lora_run = model_for_training(RunConfig(model=str(tiny_model_dir), method="lora", dtype="fp32"), "cpu")
    layers, other = activation_bytes(meta_model(config), BATCH, SEQ, lora_config(8, 16, RunConfig.lora_targets))
    assert sum(layers) + other == kept_by_a_real_forward(lora_run, BATCH, SEQ)


def test_bitsandbytes_8bit_layers_keep_their_input_and_the_plan_counts_it(tiny_model_dir):
    """bitsandbytes' 8-bit matmul keeps its input on the autograd node though the weight is frozen; 4-bit keeps
    none. What real QLoRA forwards keep beyond 4-bit is what the plan adds for 8-bit, to the byte."""
    config = model_config(str(tiny_model_dir))
    lora = lora_config(8, 16, RunConfig.lora_targets)
    real, planned = {}, {}
    for quantization in ("4bit", "8bit"):
        run = RunConfig(model=str(tiny_model_dir), method="lora", quantization=quantization, dtype="fp32")
        real[quantization] = kept_by_a_real_forward(model_for_training(run, "cpu"), BATCH, SEQ)
        layers, other = activation_bytes(meta_model(config), BATCH, SEQ, lora, quantization)
        planned[quantization] = sum(layers) + other
    inputs = BATCH * SEQ * 4 * (3 * config.hidden_size + config.intermediate_size) * config.num_hidden_layers
    assert real["8bit"] - real["4bit"] == planned["8bit"] - planned["4bit"] > 0
    assert planned["8bit"] - planned["4bit"] <= inputs  # at most the inputs of q/k/v, o, gate/up and down


def test_on_cuda_fp32_grouped_query_attention_keeps_the_attention_weights():
    """CUDA runs fp32 grouped-query attention in its math kernel (its flash kernel takes 16-bit inputs only, its
    memory-efficient one no `enable_gqa`), which keeps each layer's batch x heads x length x length softmax
    weights and the keys and values repeated to every head: the plan for a GPU counts them, over the CPU's fused
    count, and not for bf16."""
    config = model_config(DEFAULT_MODEL)  # SmolLM2: 9 query heads over 3 key-value heads
    batch, length = 2, 256

    def activations(dtype: str, devices: str) -> int:
        return plan(config, "full", dtype, batch, length, max_memory=devices).bytes["activations"]

    per_head = config.num_hidden_layers * batch * config.num_attention_heads * length * 4
    weights = per_head * length
    keys_and_values = 2 * per_head * config.hidden_size // config.num_attention_heads  # repeated to every head
    extra = activations("fp32", "cuda:0=80GiB") - activations("fp32", "cpu=80GiB")
    assert weights < extra <= weights + keys_and_values, (extra, weights, keys_and_values)
    assert activations("bf16", "cuda:0=80GiB") == activations("bf16", "cpu=80GiB")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_on_cuda_the_count_equals_what_a_real_forward_keeps_there(tiny_model_dir):
    config = model_config(str(tiny_model_dir))  # 4 query heads over 2 key-value heads
    for dtype in (torch.float32, torch.bfloat16):
        real = load_model(str(tiny_model_dir), "cuda", dtype=dtype)
        layers, other = activation_bytes(meta_model(config, dtype), BATCH, 512, device_type="cuda")
        assert sum(layers) + other == pytest.approx(kept_by_a_real_forward(real, BATCH, 512, "cuda"), rel=0.01)


def test_the_peak_is_less_than_the_sum_and_checkpointing_and_quantization_shrink_it(tiny_model_dir):
    config = model_config(str(tiny_model_dir))
    full = plan(config, "full", "fp32", BATCH, SEQ)
    parts = full.bytes
    assert parts["total"] < parts["weights"] + parts["gradients"] + parts["optimizer"] + parts["activations"]
    checkpointed = plan(config, "full", "fp32", BATCH, SEQ, gradient_checkpointing=True)
    assert checkpointed.bytes["activations"] < parts["activations"]
    sizes = [plan(config, m, "fp32", BATCH, SEQ).bytes["weights"] for m in ("lora", "qlora8", "qlora4")]
    assert sizes == sorted(sizes, reverse=True)


def test_the_device_map_is_accelerates_and_a_model_too_large_does_not_fit(tiny_model_dir):
    config = model_config(str(tiny_model_dir))
    ample = plan(config, "full", "fp32", BATCH, SEQ, max_memory="cuda:0=1GiB,cpu=1GiB")
    assert ample.fits and set(ample.device_map.values()) == {"cuda:0"} and ample.sentence().startswith("fits")
    shipped = model_config(DEFAULT_MODEL)  # 30 layers: a map that splits them
    split = plan(shipped, "full", "fp32", 1, 512, max_memory="cuda:0=1GiB,cpu=2GiB")
    assert set(split.device_map.values()) == {"cuda:0", "cpu"}, split.device_map
    assert all(split.per_device[d] <= split.capacity[d] for d in split.per_device) and split.fits
    assert sum(f"model.layers.{i}" in split.device_map for i in range(shipped.num_hidden_layers)) == 30
    assert split.capacity == {"cuda:0": 2**30, "cpu": 2**31}
    cramped = plan(config, "full", "fp32", BATCH, SEQ, max_memory="cpu=100KiB,disk")
    assert not cramped.fits and "training cannot keep them" in cramped.sentence()
    with pytest.raises(ModelError, match="method must be one of"):
        plan(config, "adapter")


def test_the_cli_prints_the_plan_as_json_and_exits_as_check_does(tiny_model_dir):
    done = run_cli("plan", "--model", str(tiny_model_dir), "--method", "qlora4", "--json")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert {"parameters", "trainable_parameters", "bytes", "device_map"} <= result.keys()
    assert set(result["bytes"]) == {"weights", "gradients", "optimizer", "activations", "total"}
    expected = plan(model_config(str(tiny_model_dir)), "qlora4")
    assert result["bytes"] == expected.bytes and result["device_map"] == expected.device_map
    tight = run_cli("plan", "--model", str(tiny_model_dir), "--max-memory", "cpu=10KiB")
    assert tight.returncode == 1 and "does not fit" in tight.stdout.splitlines()[-1]
    bad = run_cli("plan", "--model", str(tiny_model_dir), "--max-memory", "gpu=1GiB")
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "the devices are cpu, cuda:N and disk" in bad.stderr
