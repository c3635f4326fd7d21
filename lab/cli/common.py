"""What every command shares: exit codes, one-line usage errors, quiet libraries, the labelling options."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import warnings

from lab.data.examples import Example
from lab.data.sources import read_examples
from lab.errors import LabError
from lab.labels.formats import FORMATS
from lab.labels.strategies import STRATEGIES
from lab.labels.templates import MODEL_TEMPLATE, added_tokens_sentence, with_template
from lab.labels.token_labels import DEFAULT_PROMPT_WEIGHT, LabelSettings, prompt_weight_problem
from lab.models.references import load_tokenizer
from lab.models.shipped import DEFAULT_MODEL

EXIT_OK, EXIT_FINDINGS, EXIT_BAD_INPUT = 0, 1, 2


class Parser(argparse.ArgumentParser):
    def error(self, message: str):  # argparse's usage errors: one line, exit 2
        self.exit(EXIT_BAD_INPUT, f"error: {message} (see `{self.prog} --help`)\n")


def quiet() -> None:
    """Library chatter (progress bars, deprecation warnings) would bury the output people read."""
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("TQDM_DISABLE", "1")  # the GGUF conversion's own progress bar
    os.environ.setdefault("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    warnings.filterwarnings("ignore")
    for name in ("transformers", "trl", "datasets", "accelerate", "bitsandbytes", "peft"):
        logging.getLogger(name).setLevel(logging.ERROR)
    from transformers.utils import logging as transformers_logging  # heavy, but every command but `runs` needs it

    transformers_logging.disable_progress_bar()  # "Loading weights" bars, which the environment does not stop
    lab_log = logging.getLogger("lab")
    if not lab_log.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(message)s"))
        lab_log.addHandler(handler)


def add_label_options(p: argparse.ArgumentParser) -> None:
    """The model, format and labelling options of `tokens`, `check`, `ratio` and `inspect`."""
    p.add_argument("--model", default=DEFAULT_MODEL, help=f"built-in name, local folder or hub id ({DEFAULT_MODEL})")
    p.add_argument("--trust-remote-code", action="store_true", help="allow a hub model's own code to run")
    p.add_argument(
        "--template",
        default=MODEL_TEMPLATE,
        metavar="NAME",
        help="chat template: model (the model's own) or a TRL template by name (`python -m lab templates`)",
    )
    p.add_argument(
        "--format",
        default="as-written",
        choices=FORMATS,
        help="how rows become text: as-written (each row as TRL treats its shape), or classic / chat-template for "
        "conversations",
    )
    p.add_argument(
        "--prompt-weight", type=float, default=DEFAULT_PROMPT_WEIGHT, metavar="W", help="prompt weight w in [0, 1]"
    )
    p.add_argument(
        "--response-template",
        metavar="TEXT",
        help="response template (default: `### Assistant:`, or the chat template's generation prompt)",
    )
    p.add_argument(
        "--instruction-template",
        metavar="TEXT",
        help="instruction template (default: `### Human:`, or the chat template's user header; '' for none)",
    )
    p.add_argument("--json", action="store_true", help="machine-readable output")


def strategies(names: list[str]) -> tuple[str, ...]:
    """The strategies named on the command line (`all`: every one)."""
    if "all" in names:
        return STRATEGIES
    for name in names:
        if name not in STRATEGIES:
            raise LabError(f"unknown strategy '{name}'; strategies: {', '.join(STRATEGIES)}, or all")
    return tuple(dict.fromkeys(names))


def label_settings(args) -> LabelSettings:
    problem = prompt_weight_problem(args.prompt_weight)
    if problem:
        raise LabError(f"--prompt-weight: {problem}")
    return LabelSettings(args.prompt_weight, args.response_template, args.instruction_template)


def tokenizer_of(args):
    """The model's tokenizer, rendering with the chosen chat template (a copy when it is one of TRL's)."""
    tokenizer = with_template(load_tokenizer(args.model, args.trust_remote_code), args.template)
    if added_tokens_sentence(tokenizer):
        logging.getLogger("lab").warning("note: %s", added_tokens_sentence(tokenizer))
    return tokenizer


def example_at(data: str, index: int) -> Example:
    """Example `index` of a dataset file (or sample:NAME), or a one-line LabError naming the range."""
    examples = read_examples(data)
    if not 0 <= index < len(examples):
        raise LabError(f"--index {index} is out of range: the dataset has {len(examples)} examples")
    return examples[index]
