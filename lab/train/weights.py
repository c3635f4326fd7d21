"""A run's model: the base prepared for training (LoRA when asked), its weights saved, and read back."""

from __future__ import annotations

import shutil
from pathlib import Path

import torch
from safetensors.torch import load_file

from lab.errors import LabError
from lab.models.devices import offloaded, pick_device, placement_sentence
from lab.models.plan import lora_config
from lab.models.references import load_model, model_config, no_full_fine_tuning
from lab.train.config import RunConfig
from lab.train.hardware import autocast_dtype, model_shape, own_memory


def model_for_training(config: RunConfig, device: str):
    """The base model in fp32 master weights on `device`, wrapped with LoRA when the method asks for it. With
    `quantization` (QLoRA) the frozen base's linear layers load in 4 or 8 bits, 4-bit ones computing in bf16
    where the machine runs bf16 faster (the same probe as autocast), and PEFT prepares it for k-bit training."""
    model = base_model(config, device, training=True)
    if config.max_memory and offloaded(model):
        raise LabError(
            f"max memory {config.max_memory} leaves layers offloaded ({placement_sentence(model)}): "
            "accelerate streams an offloaded layer's weights in for each forward, and such a layer cannot train "
            "(between forwards its weights wait on the meta device, where PEFT puts its adapter too); give the "
            "devices that compute room for every layer (python -m lab plan --max-memory shows the map), or shrink "
            "the base with 4-bit quantization"
        )
    quantized = getattr(model, "is_quantized", False) or getattr(model, "hf_quantizer", None) is not None
    if quantized and config.method == "full":
        raise LabError(no_full_fine_tuning("this model is quantized"))
    if config.method == "lora":
        from peft import get_peft_model, prepare_model_for_kbit_training  # heavy: only LoRA runs

        if quantized:  # norms and embeddings in fp32, input gradients on; no gradient checkpointing here
            model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=False)

        present = {name.rsplit(".", 1)[-1] for name, _ in model.named_modules()}
        missing = [t for t in config.lora_targets if t not in present]
        if missing:
            raise LabError(f"the model has no modules named {', '.join(missing)} for LoRA")
        lora = lora_config(config.lora_r, config.lora_alpha, config.lora_targets)
        torch.manual_seed(config.seed)  # the adapter's random init: the same run gives the same adapter
        model = get_peft_model(model, lora)
    own_memory(model)
    model.config.use_cache = False
    return model


def save_weights(model, folder: Path, trainer_state: dict | None = None) -> None:
    """Full weights, or only the LoRA adapter, as safetensors, with the optimizer's state for a checkpoint.

    Written beside the folder and swapped in by renames, so a kill or a full disk at any moment leaves the
    previous complete folder (as `folder` or, between the two renames, as `folder.old`)."""
    tmp, old = folder.with_name(folder.name + ".tmp"), folder.with_name(folder.name + ".old")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        model.save_pretrained(tmp, safe_serialization=True)
        if trainer_state is not None:
            torch.save(trainer_state, tmp / "trainer_state.pt")
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)  # what a full disk left half-written
        raise
    shutil.rmtree(old, ignore_errors=True)
    if folder.exists():
        folder.rename(old)
    tmp.rename(folder)
    shutil.rmtree(old, ignore_errors=True)


def load_checkpoint(model, config: RunConfig, folder: Path) -> dict | None:
    """Load a checkpoint's weights into a model made by `model_for_training`; its trainer state, or None."""
    old = folder.with_name(folder.name + ".old")
    if not folder.exists() and old.is_dir():  # killed between save_weights' two renames
        old.rename(folder)
    if not (folder / "trainer_state.pt").is_file():
        return None
    weights = folder / ("adapter_model.safetensors" if config.method == "lora" else "model.safetensors")
    state = load_file(weights)
    if config.method == "lora":
        from peft import set_peft_model_state_dict  # heavy, as above

        set_peft_model_state_dict(model, state)
    else:
        model.load_state_dict(state, strict=False)
        model.tie_weights()
    return torch.load(folder / "trainer_state.pt", weights_only=True)


def base_model(config: RunConfig, device: str, training: bool = False):
    """A run's base model as the run trains on it: fp32 master weights for training, or quantized (QLoRA); with
    `max_memory`, placed across those devices by accelerate."""
    compute = torch.float32
    if config.quantization == "4bit":
        shape = model_shape(model_config(config.model, config.trust_remote_code))
        compute = autocast_dtype(config.dtype, pick_device(device), shape) or torch.float32
    return load_model(
        config.model,
        device,
        dtype=compute if config.quantization != "none" else (torch.float32 if training else None),
        trust_remote_code=config.trust_remote_code,
        quantization=config.quantization,
        max_memory=config.max_memory or None,
    )


def load_trained(config: RunConfig, weights: Path, device: str):
    """A run's fine-tuned model for inference: the full weights, or the adapter on its base (quantized as the
    run trained it)."""
    if config.method == "lora":
        from peft import PeftModel  # heavy, as above

        base = base_model(config, device)
        return PeftModel.from_pretrained(base, weights).eval()
    return load_model(str(weights), device, trust_remote_code=config.trust_remote_code)
