"""Model references: the shipped models, local folders and hub ids, loaded with one-sentence errors.

Weights load from safetensors only, and a model's own code runs only when `trust_remote_code` is asked for.
"""

from __future__ import annotations

import functools
import json
import os
import re
import socket
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import torch

from lab.common import first_line, lab_home
from lab.errors import LabError, ModelError
from lab.models.devices import parse_max_memory, pick_device
from lab.models.shipped import DEFAULT_MODEL, SHIPPED, shipped_folder


@dataclass(frozen=True)
class ModelSource:
    """Where a reference points: a folder on disk (shipped cache or local) or a hub id."""

    ref: str
    kind: str  # "shipped" | "local" | "hub"
    location: str


# Whether a reference may name a folder of this machine: a lab shared over the network turns it off, so that
# no one else can load (or learn of) the server's folders. One switch for the process: it follows how the
# server listens.
_local_folders = {"allowed": True}


def allow_local_folders(allowed: bool) -> None:
    """Let model references name folders of this machine (the default), or not (a shared lab)."""
    _local_folders["allowed"] = allowed


TOKENIZER_FILES = ("tokenizer_config.json", "tokenizer.json")  # a folder with these alone can tokenize


def _lab_runs_folder(ref: str) -> bool:
    """Whether a reference is an absolute path inside this lab's own runs (a run's final weights, its
    checkpoints): the lab loads those on a shared lab too; a viewer gains nothing the pages do not show."""
    if not ref.startswith("/"):
        return False
    runs = (lab_home() / "runs").resolve()
    return Path(ref).resolve().is_relative_to(runs)


def resolve(ref: str | None) -> ModelSource:
    """Turn a model reference into a source; the shipped model is converted on first use."""
    ref = (ref or DEFAULT_MODEL).strip()
    if ref in SHIPPED or ref == "default":
        name = DEFAULT_MODEL if ref == "default" else ref
        return ModelSource(name, "shipped", str(shipped_folder(name)))
    if not _local_folders["allowed"] and _lab_runs_folder(ref):  # a run's own weights: the lab's, not a server's
        return ModelSource(ref, "local", ref)
    if not _local_folders["allowed"]:  # decided before the filesystem is asked anything
        # A relative `owner/name` that names a folder here would load it (from_pretrained looks on disk first):
        # refused the same way an absolute path is.
        if ref.count("/") != 1 or ref.startswith((".", "/", "~")) or "\\" in ref or Path(ref).exists():
            raise ModelError(
                "on a lab shared over the network, a model is a built-in name or a hub id (owner/name); the "
                "server's own folders are off"
            )
        return ModelSource(ref, "hub", ref)
    path = Path(ref).expanduser()
    if path.is_dir():
        if not any((path / name).is_file() for name in ("config.json", *TOKENIZER_FILES)):
            raise ModelError(f"folder {path} is not a model: it has no config.json (nor a tokenizer's files)")
        return ModelSource(ref, "local", str(path))
    if ref.startswith((".", "/", "~")) or ref.count("/") > 1:
        raise ModelError(f"no model folder at {path}")
    return ModelSource(ref, "hub", ref)


def hub_reachable(timeout: float = 3.0) -> bool:
    """Whether a TCP connection to the hub opens: without this check, an offline lookup retries for a minute."""
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes"):
        return False
    endpoint = urlparse(os.environ.get("HF_ENDPOINT", "https://huggingface.co"))
    host = endpoint.hostname or "huggingface.co"
    port = endpoint.port or (80 if endpoint.scheme == "http" else 443)
    try:
        socket.create_connection((host, port), timeout=timeout).close()
        return True
    except OSError:
        return False


def _from_pretrained(loader, source: ModelSource, what: str, **kwargs):
    """Call a `from_pretrained` with one-sentence errors; hub ids use the local cache when offline."""
    if source.kind != "hub":
        try:
            return loader(source.location, **kwargs)
        except Exception as e:
            raise ModelError(f"cannot load {what} of '{source.ref}': {first_line(e)}") from None
    online = hub_reachable()
    try:
        return loader(source.location, local_files_only=not online, **kwargs)
    except Exception as e:
        if online:
            reason = f"the hub answered: {first_line(e)}"
        elif _not_in_cache(e):
            reason = "the hub cannot be reached (nor is it in the local hub cache)"
        else:  # it is in the cache, and something else is wrong with it: say what
            raise ModelError(
                f"cannot load {what} of '{source.ref}' from the local hub cache: {first_line(e)}"
            ) from None
        raise ModelError(
            f"cannot load model '{source.ref}': it is not a built-in model ({', '.join(SHIPPED)}), "
            f"not a local folder, and {reason}"
        ) from None


def _not_in_cache(error: Exception) -> bool:
    """Whether an offline load failed because the files are not in the local hub cache (and nothing else)."""
    from huggingface_hub.errors import LocalEntryNotFoundError  # a dependency of transformers, loaded with it

    text = str(error)
    return isinstance(error, LocalEntryNotFoundError) or "couldn't find them in the cached files" in text


@functools.lru_cache(maxsize=8)
def load_tokenizer(ref: str | None = None, trust_remote_code: bool = False):
    """The tokenizer of a model reference (cached per process: treat it as read-only)."""
    from transformers import AutoTokenizer  # heavy: the tokenizer classes load on first use

    return _from_pretrained(
        AutoTokenizer.from_pretrained, resolve(ref), "the tokenizer", trust_remote_code=trust_remote_code
    )


@functools.lru_cache(maxsize=8)
def model_config(ref: str | None = None, trust_remote_code: bool = False):
    """The model's config, without loading its weights."""
    from transformers import AutoConfig  # heavy, as above

    source = resolve(ref)
    if source.kind == "local" and not (Path(source.location) / "config.json").is_file():
        raise ModelError(f"folder {source.location} holds a tokenizer but no model: it has no config.json")
    return _from_pretrained(AutoConfig.from_pretrained, source, "the config", trust_remote_code=trust_remote_code)


def quantization_of(ref: str | None = None, trust_remote_code: bool = False) -> str | None:
    """How the model's weights are quantized, from its config ("bitsandbytes 4-bit", "gptq", ...), or None."""
    quant = getattr(model_config(ref, trust_remote_code), "quantization_config", None)
    if not quant:
        return None
    quant = quant if isinstance(quant, dict) else quant.to_dict()
    method = str(quant.get("quant_method", "quantized"))
    bits = next((f"{b}-bit" for key, b in (("load_in_4bit", 4), ("load_in_8bit", 8)) if quant.get(key)), None)
    bits = bits or (f"{quant['bits']}-bit" if quant.get("bits") else None)
    return f"{method} {bits}" if bits else method


def model_vocab_size(ref: str | None = None, trust_remote_code: bool = False) -> int | None:
    """Rows of the model's embedding matrix: token ids at or above it are out of range."""
    config = model_config(ref, trust_remote_code)
    text_config = config.get_text_config() if hasattr(config, "get_text_config") else config
    return getattr(text_config, "vocab_size", None)


def generation_stop_ids(ref: str | None = None, trust_remote_code: bool = False) -> set[int]:
    """The ids generation stops on besides the tokenizer's eos: the generation config's `eos_token_id` (a local
    folder's generation_config.json, else the model config's)."""
    source = resolve(ref)
    path = Path(source.location) / "generation_config.json"
    value = None
    if source.kind != "hub" and path.is_file():
        try:
            value = json.loads(path.read_text()).get("eos_token_id")
        except (OSError, ValueError):  # an unreadable file: loading the model names it (see below)
            value = None
    if value is None:
        try:
            value = getattr(model_config(ref, trust_remote_code), "eos_token_id", None)
        except LabError:
            value = None
    values = value if isinstance(value, (list, tuple)) else [value]
    return {int(v) for v in values if isinstance(v, int)}


QUANTIZATIONS = ("none", "4bit", "8bit")


def no_full_fine_tuning(base: str) -> str:
    """The one sentence that refuses full fine-tuning of a quantized base, `base` naming it."""
    return (
        f"{base}: its weights are frozen integers, which cannot be fully fine-tuned; pick method lora to train "
        "an adapter on it"
    )


# The one vocabulary of quantized fine-tuning: a LoRA run on a 4- or 8-bit base is named by these methods in
# plans, tables and run labels.
QLORA_METHODS = {"4bit": "qlora4", "8bit": "qlora8"}


def load_model(
    ref: str | None = None,
    device: str | None = None,
    dtype=None,
    trust_remote_code: bool = False,
    quantization: str = "none",
    max_memory: str | None = None,
):
    """A causal LM from safetensors, on `device`, in eval mode; with `quantization` 4bit (NF4, computing in
    `dtype`) or 8bit, its linear layers are quantized by bitsandbytes as they load (lm_head stays as it is).

    With `max_memory` (`cpu=2GiB,disk`, `cuda:0=24GiB,cpu=64GiB`) accelerate places it across those devices
    (`device_map="auto"`), layers that fit nowhere offloaded to disk when `disk` is named; `placement_sentence`
    says where each part went."""
    from transformers import AutoModelForCausalLM  # heavy, as above

    device = pick_device(device)
    source = resolve(ref)
    _check_generation_config(source)
    placed, disk = {}, False
    if quantization != "none":
        placed = {"quantization_config": bnb_config(quantization, dtype), "device_map": {"": device}}
    if max_memory:
        memory, disk = parse_max_memory(max_memory)
        placed |= {"device_map": "auto", "max_memory": memory}
        if disk:
            placed["offload_folder"] = str(offload_folder(source))
    model = _from_pretrained(
        AutoModelForCausalLM.from_pretrained,
        source,
        "the weights",
        trust_remote_code=trust_remote_code,
        use_safetensors=True,
        dtype=dtype if dtype is not None else "auto",
        **placed,
    )
    if max_memory and not disk and "disk" in set(getattr(model, "hf_device_map", {}).values()):
        raise ModelError(
            f"'{source.ref}' does not fit in max memory {max_memory}: give the devices more, or add ',disk' to "
            "offload the layers that do not fit (slower: they are read from disk at every step)"
        )
    return (model if placed else model.to(device)).eval()


def offload_folder(source: ModelSource) -> Path:
    """Where a model's layers offloaded to disk are kept: one folder per model under the lab's home."""
    return lab_home() / "offload" / re.sub(r"[^A-Za-z0-9._-]+", "_", source.ref).strip("_")[:100]


def _check_generation_config(source: ModelSource) -> None:
    """A folder's generation_config.json that transformers refuses (seed 001's "the generation config instance
    is invalid"; in transformers 5 a value such as `max_new_tokens: 0` stops the whole model from loading) is
    named with its fix, rather than as weights that cannot load."""
    path = Path(source.location) / "generation_config.json"
    if source.kind == "hub" or not path.is_file():
        return
    from transformers import GenerationConfig  # heavy, as above

    try:
        GenerationConfig.from_pretrained(path.parent)
    except (ValueError, OSError) as e:
        raise ModelError(
            f"the generation_config.json of '{source.ref}' is invalid ({first_line(e)}): fix that value, or "
            "delete the file (generation then uses transformers' defaults); the weights are not at fault"
        ) from None


def bnb_config(quantization: str, compute_dtype=None):
    """bitsandbytes' settings for QLoRA: 4-bit NF4 with double quantization, or 8-bit (LLM.int8)."""
    if quantization not in QUANTIZATIONS[1:]:
        raise ModelError(f"quantization must be one of {', '.join(QUANTIZATIONS)}, got {quantization!r}")
    try:
        import bitsandbytes  # noqa: F401  (heavy, and only QLoRA needs it)
    except ImportError:
        raise ModelError("quantization needs bitsandbytes: pip install bitsandbytes==0.50.2") from None
    from transformers import BitsAndBytesConfig  # heavy, as above

    if quantization == "8bit":
        return BitsAndBytesConfig(load_in_8bit=True)
    return BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type="nf4",
        bnb_4bit_use_double_quant=True,
        bnb_4bit_compute_dtype=compute_dtype if compute_dtype not in (None, "auto") else torch.float32,
    )
