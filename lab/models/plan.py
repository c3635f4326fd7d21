"""Will it fit? The memory a fine-tune needs, counted from a model's config on the meta device: nothing is loaded
and no weight downloaded.

    weights      every parameter in the chosen dtype; QLoRA's decoder linears in 4-bit NF4 (half a byte a weight
                 plus an 8-bit scale per 64, double quantization) or 8-bit (a byte plus an fp32 scale per row),
                 the rest in fp32 as PEFT's k-bit preparation keeps it; LoRA adapters in fp32
    gradients    one per trainable parameter, in its dtype
    optimizer    AdamW's two moments per trainable parameter, in its dtype (torch keeps them so)
    activations  counted, not guessed: a forward pass of the meta model at the batch's shape records every
                 tensor autograd keeps for the backward (attention as the planned device's kernel keeps it: a
                 fused kernel's log-sum-exp per row, or the sequence x sequence weights where CUDA runs its math
                 kernel: fp32 with grouped-query attention), plus the logits and their gradient, plus the input
                 each bitsandbytes 8-bit layer keeps on its autograd node; with gradient checkpointing, each
                 layer's input and one layer's recomputed activations instead of every layer's

The total is the peak of a training step, which is less than the sum: weights and AdamW's moments live
throughout, but the backward frees each layer's activations as it makes that layer's gradients, so the step
peaks at the larger of the two (the output layer's gradient is made while every activation still lives).
`benchmarks/plan_vs_peak.py` compares the total with the peak a real run reaches on this machine.
"""

from __future__ import annotations

import contextlib
import logging
import warnings
from dataclasses import asdict, dataclass, field

import torch

from lab.common import first_line, usable_memory
from lab.errors import ModelError
from lab.models.activations import activation_bytes, decoder_layers, quantized_linears
from lab.models.devices import device_name, parse_max_memory, pick_device
from lab.models.references import QLORA_METHODS, model_config

PLAN_METHODS = ("full", "lora", *QLORA_METHODS.values())
PLAN_DTYPES = ("fp32", "bf16")
LORA_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj")  # a lab run's default adapters
PARTS = ("weights", "gradients", "optimizer", "activations")
_TORCH_DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}
ACTIVATIONS_HOW = (
    "counted on the meta device: one forward pass at this batch's shape records every tensor autograd keeps for "
    "the backward (attention as the device's kernel keeps it: fused kernels a log-sum-exp per row, CUDA's math "
    "kernel for fp32 grouped-query attention the sequence x sequence weights), plus the logits and their gradient "
    "and, in 8-bit, the input each quantized layer keeps"
)


@dataclass(frozen=True)
class Plan:
    """The bytes one training step needs, and where they sit."""

    model: str
    method: str
    dtype: str
    batch_size: int
    seq_len: int
    gradient_checkpointing: bool
    parameters: int
    trainable_parameters: int
    bytes: dict[str, int]  # weights, gradients, optimizer, activations, total
    capacity: dict[str, int]  # each device's memory
    device_map: dict[str, str]  # top module -> device
    per_device: dict[str, int] = field(default_factory=dict)  # the plan's bytes on each device

    @property
    def fits(self) -> bool:
        return _fits(self.device_map, self.per_device, self.capacity)

    def to_json(self) -> dict:
        return asdict(self) | {"fits": self.fits, "activations_how": ACTIVATIONS_HOW}

    def sentence(self) -> str:
        """`fits: 3.1 GiB of cpu's 23.4 GiB`, or why not."""
        shares = ", ".join(
            f"{gib(used)} of {d}'s {gib(self.capacity[d])}" for d, used in self.per_device.items() if d != "disk"
        )
        if "disk" in self.device_map.values():
            held, peak = sum(self.capacity.values()), self.bytes["total"]
            why = (
                f"its peak of {gib(peak)} is more than the {gib(held)} given ({', '.join(self.capacity)})"
                if peak > held
                else f"the {gib(held)} given ({', '.join(self.capacity)}) cannot hold it as accelerate places it"
            )
            return f"does not fit: {why}; layers would go to disk, where training cannot keep them"
        over = [d for d, used in self.per_device.items() if used > self.capacity.get(d, 0)]
        return f"does not fit on {', '.join(over)}: {shares}" if over else f"fits: {shares}"


def map_summary(device_map: dict[str, str]) -> list[tuple[str, str, int]]:
    """Runs of consecutive modules on one device: (device, `first ... last`, how many)."""
    runs: list[tuple[str, list[str]]] = []
    for name, device in device_map.items():
        if runs and runs[-1][0] == device:
            runs[-1][1].append(name)
        else:
            runs.append((device, [name]))
    return [
        (device, names[0] or "(the whole model)" if len(names) == 1 else f"{names[0]} ... {names[-1]}", len(names))
        for device, names in runs
    ]


def gib(n: int) -> str:
    return f"{n / 2**30:.2f} GiB" if n >= 2**30 else f"{n / 2**20:.0f} MiB"


def meta_model(config, dtype: torch.dtype = torch.float32):
    """The model a config describes, on the meta device: shapes without storage."""
    from accelerate import init_empty_weights  # heavy: only plans and estimates build on meta
    from transformers import AutoModelForCausalLM  # heavy: the Auto classes load on first use

    try:
        with init_empty_weights():
            model = AutoModelForCausalLM.from_config(config, dtype=dtype)
    except (ValueError, KeyError) as e:  # a config of no causal LM transformers knows
        raise ModelError(
            f"transformers cannot build a causal language model from this config ({first_line(e)})"
        ) from None
    model.tie_weights()  # a tied lm_head is the embedding: one tensor
    return model


def quantized_bytes(linears, quantization: str) -> int:
    """Bytes of these linear layers' weights in 4-bit NF4 (double quantization) or 8-bit (LLM.int8)."""
    weights = sum(m.weight.numel() for m in linears)
    if quantization == "4bit":
        return weights // 2 + weights // 64
    return weights + sum(m.out_features for m in linears) * 4


def weight_bytes(ref: str | None = None, quantization: str = "none", trust_remote_code: bool = False) -> int:
    """Bytes a model's weights take in memory, in fp32 or with its decoder's linear layers quantized as QLoRA
    loads them (the rest in fp32). Counted on the meta device: nothing is loaded."""
    model = meta_model(model_config(ref, trust_remote_code))
    linears = quantized_linears(model) if quantization != "none" else {}
    quantized = sum(m.weight.numel() for m in linears.values())
    rest = sum(p.numel() for p in model.parameters()) - quantized
    return rest * 4 + (quantized_bytes(linears.values(), quantization) if linears else 0)


def lora_shapes(model, targets, r: int) -> dict[str, int]:
    """The parameters a LoRA adapter of rank r adds to each targeted linear layer: r x (in + out)."""
    return {
        name: r * (m.in_features + m.out_features)
        for name, m in model.named_modules()
        if isinstance(m, torch.nn.Linear) and name.rsplit(".", 1)[-1] in targets
    }


def plan(
    config,
    method: str = "full",
    dtype: str = "fp32",
    batch_size: int = 1,
    seq_len: int = 512,
    gradient_checkpointing: bool = False,
    max_memory: str | None = None,
    lora_r: int = 8,
    lora_targets: tuple[str, ...] = LORA_TARGETS,
    name: str = "",
    lora_alpha: int = 16,
) -> Plan:
    """The memory of fine-tuning a model (its config) by `method`, on the devices of `max_memory` (default:
    this machine's first device and all its memory)."""
    if method not in PLAN_METHODS:
        raise ModelError(f"method must be one of {', '.join(PLAN_METHODS)}, got {method!r}")
    if dtype not in PLAN_DTYPES:
        raise ModelError(f"dtype must be one of {', '.join(PLAN_DTYPES)}, got {dtype!r}")
    if batch_size < 1 or seq_len < 1:
        raise ModelError("batch size and sequence length must be at least 1")
    model = meta_model(config, _TORCH_DTYPES[dtype])
    size = torch.finfo(_TORCH_DTYPES[dtype]).bits // 8
    params = {id(p): p for p in model.parameters()}
    total = sum(p.numel() for p in params.values())
    quantization = {m: q for q, m in QLORA_METHODS.items()}.get(method, "none")
    linears = quantized_linears(model) if quantization != "none" else {}
    lora = lora_shapes(model, lora_targets, lora_r) if method != "full" else {}
    if method != "full" and not lora:
        raise ModelError(f"the model has no linear layers named {', '.join(lora_targets)} for LoRA")

    module_bytes, module_trained = {}, {}  # each parameter-holding module's weights as loaded, and trained
    for mname, module in model.named_modules():
        own = [p for p in module.parameters(recurse=False) if params.pop(id(p), None) is not None]
        if not own:
            continue
        if mname in linears:
            held = quantized_bytes([module], quantization) + sum(p.numel() for p in own if p.ndim == 1) * 4
        else:  # QLoRA's preparation casts what is not quantized to fp32
            held = sum(p.numel() for p in own) * (4 if quantization != "none" else size)
        module_bytes[mname] = held + lora.get(mname, 0) * 4
        module_trained[mname] = sum(p.numel() for p in own) if method == "full" else lora.get(mname, 0)
    trainable = sum(module_trained.values())
    per_trainable = size if method == "full" else 4  # adapters are fp32 (PEFT's default)
    fresh = meta_model(config, _TORCH_DTYPES[dtype])  # the count wraps it in adapters
    with _quiet("peft"):  # its deprecation warnings about transformers' names
        layer_acts, other_acts = activation_bytes(
            fresh,
            batch_size,
            seq_len,
            lora_config(lora_r, lora_alpha, lora_targets) if lora else None,
            quantization,
            _device_type(max_memory),
        )
    if gradient_checkpointing:  # each layer keeps its input; one layer's activations are rebuilt at a time
        other_acts += max(layer_acts, default=0)
        layer_acts = [batch_size * seq_len * _hidden(config) * size] * len(layer_acts)
    parts = {
        "weights": sum(module_bytes.values()),
        "gradients": trainable * per_trainable,
        "optimizer": 2 * trainable * per_trainable,
        "activations": other_acts + sum(layer_acts),
    }
    output = next((n for n, m in model.named_modules() if m is model.get_output_embeddings()), "")
    first_gradient = module_trained.get(output, 0) * per_trainable  # made while every activation still lives

    names = {id(m): n for n, m in model.named_modules()}
    layer_names = [names[id(layer)] for layer in decoder_layers(model)]

    def on_devices(device_map: dict) -> dict[str, int]:
        where = _device_of(device_map)
        shares: dict[str, dict[str, int]] = {}
        for mname in module_bytes:
            share = shares.setdefault(where(mname), dict.fromkeys(PARTS, 0))
            share["weights"] += module_bytes[mname]
            share["gradients"] += module_trained[mname] * per_trainable
            share["optimizer"] += 2 * module_trained[mname] * per_trainable
        for layer, n in zip(layer_names, layer_acts):
            shares.setdefault(where(layer), dict.fromkeys(PARTS, 0))["activations"] += n
        shares.setdefault(where(output), dict.fromkeys(PARTS, 0))["activations"] += other_acts + first_gradient
        return {device: peak(share) for device, share in shares.items()}

    total_peak = peak(parts | {"activations": parts["activations"] + first_gradient})
    first = None
    # accelerate places weights only: each device is first offered the share of its memory that weights take of
    # the peak (the rest holds their gradients, moments and activations), then more while layers go to disk;
    # where no share fits, the first placement is the one shown (one device without max_memory: no shares)
    for share in (min(1.0, parts["weights"] / total_peak * 1.1**k) for k in range(12 if max_memory else 1)):
        capacity, device_map = _placement(model, linears, quantization, share, max_memory, dtype)
        per_device = on_devices(device_map)
        first = first or (capacity, device_map, per_device)
        if _fits(device_map, per_device, capacity):
            break
    else:
        capacity, device_map, per_device = first
    return Plan(
        name or getattr(config, "_name_or_path", "") or type(model).__name__,
        method,
        dtype,
        batch_size,
        seq_len,
        gradient_checkpointing,
        total,
        trainable,
        parts | {"total": total_peak},
        capacity,
        device_map,
        per_device,
    )


def lora_config(r: int, alpha: int, targets):
    """PEFT's LoraConfig as a lab run builds its adapter (and the planner counts it): no dropout."""
    from peft import LoraConfig  # heavy: only LoRA runs and plans

    return LoraConfig(r=r, lora_alpha=alpha, target_modules=list(targets), lora_dropout=0.0, task_type="CAUSAL_LM")


def device_memory(device: str) -> int:
    """A device's whole memory in bytes: for cpu what this process may use (a container's limit, else physical
    memory), the GPU's for cuda:N."""
    if device.startswith("cuda"):
        return torch.cuda.get_device_properties(int(device.partition(":")[2] or 0)).total_memory
    if device == "mps":
        return int(torch.mps.recommended_max_memory())
    return usable_memory()[0]


def _placement(model, linears, quantization: str, share: float, max_memory: str | None, dtype: str):
    """Each device's memory, and accelerate's device map of the model's modules over them, each device offered
    `share` of its memory for weights."""
    if not max_memory:
        device = pick_device()
        return {device: device_memory(device)}, {"": device}
    from accelerate import infer_auto_device_map  # heavy, as above
    from accelerate.utils import CustomDtype, convert_file_size_to_int

    memory, disk = parse_max_memory(max_memory)
    capacity = {device_name(d): convert_file_size_to_int(size) for d, size in memory.items()}
    budget = {d: int(convert_file_size_to_int(size) * share) for d, size in memory.items()}
    if disk:
        budget["disk"] = 2**60
    quantized = {"4bit": CustomDtype.INT4, "8bit": torch.int8}.get(quantization)
    with _quiet("accelerate.utils.modeling"):  # planning for devices this machine lacks is the point
        device_map = infer_auto_device_map(
            model,
            max_memory=budget,
            no_split_module_classes=list(getattr(model, "_no_split_modules", None) or []),
            dtype=torch.float32 if quantized else _TORCH_DTYPES[dtype],
            special_dtypes={f"{n}.weight": quantized for n in linears} if quantized else None,
        )
    return capacity, {name: device_name(d) for name, d in device_map.items()}


@contextlib.contextmanager
def _quiet(logger: str):
    """A library's warnings silenced for a moment: the plan says what matters in its own words."""
    log = logging.getLogger(logger)
    level = log.level
    log.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        log.setLevel(level)


def _device_type(max_memory: str | None) -> str:
    """The kind of device a plan's activations live on: cuda when `max_memory` names a GPU (or, without it,
    when this machine's first device is one), else cpu."""
    if max_memory:
        return "cuda" if any(isinstance(d, int) for d in parse_max_memory(max_memory)[0]) else "cpu"
    return "cuda" if pick_device().startswith("cuda") else "cpu"


def peak(parts: dict[str, int]) -> int:
    """A step's peak: weights and AdamW's moments live throughout; the backward frees each layer's activations
    as it makes its gradients, so those two peak apart: at the backward's start and at its end."""
    return parts["weights"] + parts["optimizer"] + max(parts["gradients"], parts["activations"])


def _device_of(device_map: dict):
    """The device a module (by name) sits on under a device map of top modules."""

    def device_of(name: str) -> str:
        match = max((k for k in device_map if not k or name == k or name.startswith(k + ".")), key=len, default="")
        return device_map.get(match, next(iter(device_map.values())))

    return device_of


def _fits(device_map: dict, per_device: dict, capacity: dict) -> bool:
    """No layer on disk (training cannot keep one there), and each device's share within its memory."""
    return "disk" not in device_map.values() and all(used <= capacity.get(d, 0) for d, used in per_device.items())


def _hidden(config) -> int:
    text = config.get_text_config() if hasattr(config, "get_text_config") else config
    return int(text.hidden_size)
