"""RunConfig: every setting of a run, in one place, each with its help text.

It is saved as config.json in the run's folder; the CLI makes one flag per field (`--prompt-weight`, ...) with
the field's help, and the Train page takes its defaults and tooltips from the same fields.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from lab.errors import LabError
from lab.labels.formats import FORMATS
from lab.labels.strategies import STRATEGIES
from lab.labels.templates import MODEL_TEMPLATE, added_tokens, template_choices, with_template
from lab.labels.token_labels import DEFAULT_PROMPT_WEIGHT, prompt_weight_problem
from lab.models.devices import parse_max_memory
from lab.models.plan import LORA_TARGETS
from lab.models.references import (
    QLORA_METHODS,
    QUANTIZATIONS,
    load_tokenizer,
    no_full_fine_tuning,
    quantization_of,
)
from lab.models.shipped import DEFAULT_MODEL

METHODS = ("full", "lora")
ENGINES = ("lab", "trl")
DTYPES = ("auto", "bf16", "fp32")
# A LoRA adapter starts at zero and holds few weights: it needs a larger step than the full model to move.
DEFAULT_LR = {"full": 2e-4, "lora": 1e-3}
MAX_EPOCHS = 1000  # more passes over a set than any lesson needs; the step count stays quick to lay out


def _setting(default: Any, help: str) -> Any:
    return field(default=default, metadata={"help": help})


@dataclass(frozen=True)
class RunConfig:
    """Every setting of a run.

    What to learn:  model, format, template, strategy, prompt_weight (w, for strategy prompt-weight)
    How:            method (full | lora) with lora_r / lora_alpha / lora_targets; quantization of the frozen
                    base (none | 4bit | 8bit: QLoRA); engine (lab | trl)
    Schedule:       epochs, lr, batch_size, batch_tokens, grad_accum, max_length, seed
    Where:          device, dtype, max_memory (the base across devices by accelerate's device map)
    Bookkeeping:    logging_steps, checkpoint_seconds, trust_remote_code
    """

    model: str = _setting(DEFAULT_MODEL, "built-in model name, local folder or hub id")
    format: str = _setting(
        "as-written",
        f"how conversations become text: {' | '.join(FORMATS)} (as-written: each row as TRL's SFTTrainer treats "
        "its shape, a conversation through the chat template; text and prompt-completion rows are always "
        "tokenized as written; classic is seed 000's, taught with --strategy special-mask)",
    )
    template: str = _setting(
        MODEL_TEMPLATE, "chat template: model (the model's own) or a TRL template by name (python -m lab templates)"
    )
    strategy: str = _setting("trl-completion", f"which tokens are learned: {' | '.join(STRATEGIES)}")
    prompt_weight: float = _setting(
        DEFAULT_PROMPT_WEIGHT, "w in [0, 1]: the loss weight of prompt tokens under prompt-weight"
    )
    method: str = _setting("full", "full: train every weight; lora: train a small adapter beside them")
    lora_r: int = _setting(8, "rank of the LoRA adapter's matrices")
    lora_alpha: int = _setting(16, "LoRA scale: the adapter's output is multiplied by alpha / r")
    lora_targets: tuple[str, ...] = _setting(LORA_TARGETS, "names of the modules that get a LoRA adapter")
    quantization: str = _setting(
        "none",
        "QLoRA: load the frozen base with its linear layers in 4-bit NF4 or 8-bit (bitsandbytes) and train LoRA "
        "adapters on it (none | 4bit | 8bit)",
    )
    epochs: int = _setting(15, "passes over the examples")
    lr: float | None = _setting(
        None,
        "peak learning rate, decaying linearly to 0 (default: "
        f"{DEFAULT_LR['full']:g} for full, {DEFAULT_LR['lora']:g} for LoRA)",
    )
    batch_size: int = _setting(5, "examples per batch, at most")
    batch_tokens: int = _setting(
        512, "tokens per batch, at most, counting padding: long examples take smaller batches (lab engine)"
    )
    grad_accum: int = _setting(1, "batches whose gradients add up to one optimizer step")
    max_length: int = _setting(512, "tokens kept of each example; the rest is cut")
    seed: int = _setting(42, "seed of the data order and of the LoRA adapter's initial weights")
    device: str = _setting("auto", "auto (a CUDA GPU when there is one) | cpu | cuda | cuda:N | mps")
    dtype: str = _setting("auto", "auto: bf16 autocast where it measures faster than fp32 | bf16 | fp32")
    max_memory: str = _setting(
        "",
        "place the base across devices with accelerate's device map, e.g. 'cuda:0=20GiB,cuda:1=20GiB': each layer "
        "trains on the device it sits on (lab engine); a map that offloads layers (to cpu beside a GPU, or to "
        "disk) is refused before training, since offloaded layers cannot train",
    )
    engine: str = _setting("lab", "lab: the lab's fast loop | trl: TRL's SFTTrainer itself")
    logging_steps: int = _setting(1, "log the losses every this many optimizer steps")
    checkpoint_seconds: float = _setting(
        60.0, "save a checkpoint after the first step this many seconds after the last one (0: every step)"
    )
    trust_remote_code: bool = _setting(False, "let a hub model's own Python code run")

    def __post_init__(self):
        if self.lr is None:  # frozen: the resolved default is set the way dataclasses set fields
            object.__setattr__(self, "lr", DEFAULT_LR.get(self.method, DEFAULT_LR["full"]))

    @staticmethod
    def help_for(name: str) -> str:
        """The help text of a field (for CLI flags and page tooltips)."""
        return next(f.metadata["help"] for f in fields(RunConfig) if f.name == name)

    def validate(self) -> RunConfig:
        """Raise LabError with one sentence naming the first setting that cannot work."""
        checks = [
            (self.format in FORMATS, f"format must be one of {', '.join(FORMATS)}"),
            (
                self.template in template_choices(),
                f"template '{self.template}' is neither `model` nor one of TRL's (python -m lab templates)",
            ),
            (self.strategy in STRATEGIES, f"strategy must be one of {', '.join(STRATEGIES)}"),
            (self.method in METHODS, f"method must be one of {', '.join(METHODS)}"),
            (self.engine in ENGINES, f"engine must be one of {', '.join(ENGINES)}"),
            (self.dtype in DTYPES, f"dtype must be one of {', '.join(DTYPES)}"),
            (prompt_weight_problem(self.prompt_weight) is None, prompt_weight_problem(self.prompt_weight)),
            (1 <= self.epochs <= MAX_EPOCHS, f"epochs must be between 1 and {MAX_EPOCHS}"),
            (self.logging_steps >= 1, "logging_steps must be at least 1"),
            (
                self.checkpoint_seconds >= 0 and math.isfinite(self.checkpoint_seconds),
                "checkpoint_seconds must be 0 or more",
            ),
            (self.lr > 0 and math.isfinite(self.lr), "lr must be a positive number"),
            (self.batch_size >= 1 and self.grad_accum >= 1, "batch_size and grad_accum must be at least 1"),
            (self.batch_tokens >= 1, "batch_tokens must be at least 1"),
            (self.max_length >= 2, "max_length must be at least 2"),
            (self.lora_alpha >= 1, "lora_alpha must be at least 1"),
            (0 <= self.seed <= MAX_SEED, f"seed must be between 0 and {MAX_SEED}"),
            (
                bool(DEVICE_NAMES.match(self.device)),
                f"device '{self.device}' is not one of auto, cpu, cuda, cuda:N or mps",
            ),
            (self.method != "lora" or (self.lora_r >= 1 and self.lora_targets), "LoRA needs r >= 1 and targets"),
            (self.quantization in QUANTIZATIONS, f"quantization must be one of {', '.join(QUANTIZATIONS)}"),
            (
                self.quantization == "none" or self.method == "lora",
                no_full_fine_tuning(f"a {self.quantization} base"),
            ),
            (
                not self.max_memory or self.engine == "lab",
                "max_memory places the model for the lab engine: pick engine lab (TRL's trainer takes several GPUs "
                "through accelerate launch: python -m lab export --trl)",
            ),
            (
                self.engine != "trl" or self.strategy in ("trl-completion", "trl-assistant"),
                "engine trl trains with TRL's own labels: pick strategy trl-completion or trl-assistant",
            ),
        ]
        for ok, sentence in checks:
            if not ok:
                raise LabError(sentence)
        if self.max_memory:
            parse_max_memory(self.max_memory)  # a spec it cannot read is named in its own sentence
        return self

    def check_base(self) -> RunConfig:
        """Refuse full fine-tuning of a quantized base before anything loads (its config says so)."""
        try:
            quant = quantization_of(self.model, self.trust_remote_code)
        except LabError:  # no config to read: loading the model will say why, in the run
            return self
        if quant and self.method == "full":
            raise LabError(no_full_fine_tuning(f"{self.model} is quantized ({quant})"))
        return self

    @property
    def method_shown(self) -> str:
        """The method as pages and the CLI name it: full, lora, qlora4 or qlora8 (the planner's names)."""
        return QLORA_METHODS.get(self.quantization, self.method)

    def to_json(self) -> dict:
        return asdict(self) | {"lora_targets": list(self.lora_targets)}

    @classmethod
    def from_json(cls, data: dict) -> RunConfig:
        """Settings read from JSON, each of its field's type: `"false"` is text, not a boolean, and is refused
        (a string would turn `trust_remote_code` on)."""
        if not isinstance(data, dict):
            raise LabError(f"a run's settings are a JSON object of fields, not {type(data).__name__}")
        known = {f.name: f for f in fields(cls)}
        unknown = sorted(set(data) - set(known))
        if unknown:
            raise LabError(f"unknown run settings: {', '.join(unknown)}")
        for name, value in data.items():
            expected = _type_problem(name, known[name].default, value)
            if expected:
                raise LabError(f"{name} must be {expected}, not {json.dumps(value)[:40]}")
        if "lora_targets" in data:
            data = data | {"lora_targets": tuple(data["lora_targets"])}
        return cls(**data)

    @classmethod
    def from_saved(cls, data: dict) -> RunConfig:
        """A stored run's settings: fields added since it was saved take the value that keeps its behaviour."""
        return cls.from_json(SETTINGS_OF_OLDER_RUNS | data)


def _type_problem(name: str, default: Any, value: Any) -> str | None:
    """What a JSON value of a setting must be, when it is not that (None when it is)."""
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if name == "lr":
        ok, expected = value is None or (number and math.isfinite(value)), "a number (or null for the default)"
    elif isinstance(default, bool):
        ok, expected = isinstance(value, bool), "true or false"
    elif isinstance(default, int):
        ok, expected = isinstance(value, int) and not isinstance(value, bool), "a whole number"
    elif isinstance(default, float):
        ok, expected = number and math.isfinite(value), "a finite number"
    elif isinstance(default, str):
        ok, expected = isinstance(value, str), "text"
    else:
        ok = isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value)
        expected = "a list of names"
    return None if ok else expected


DEVICE_NAMES = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")
MAX_SEED = 2**32 - 1  # numpy's and Python's seeding both take it; torch takes more


# What a run saved before a field existed did, so that it resumes with the same steps.
SETTINGS_OF_OLDER_RUNS = {"batch_tokens": 1 << 30}  # before the token budget: batches of batch_size alone


def run_tokenizer(config: RunConfig):
    """The tokenizer a run trains with: the model's, rendering with the run's chat template. A template whose
    control tokens the model's vocabulary lacks is refused in a sentence: the model has no embedding for them."""
    tokenizer = with_template(load_tokenizer(config.model, config.trust_remote_code), config.template)
    if added_tokens(tokenizer):
        shown = ", ".join(f"`{t}`" for t in added_tokens(tokenizer)[:4])
        raise LabError(
            f"the `{config.template}` template writes tokens this model's vocabulary lacks ({shown}): training "
            "on them would need new embeddings; pick the model's own template or one it knows"
        )
    return tokenizer


def write_config(config: RunConfig, folder: Path) -> None:
    (folder / "config.json").write_text(json.dumps(config.to_json(), indent=2))
