"""The seed task as a person runs it, whole processes from start to exit: `python -m lab train` against seed 000's
way (a script that loads the model, labels the examples and trains with HF `Trainer`, batch 1, fp32).

    .venv/bin/python benchmarks/train_whole_process.py [--rounds 2] [--epochs 15]

Both processes start from nothing but the converted model cache: imports, model load, tokenization, training and
exit are all counted. The lab's run is seed 000's classic rendering with special-mask labels, its own defaults
otherwise (batch 5 of at most 512 tokens, lr 2e-4, bf16 autocast where the probe says it pays); the seed
script trains the same labels. Rounds alternate which goes first; seconds are the mean.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

SEED_SCRIPT = """
import sys, warnings
sys.path.insert(0, {root!r})
warnings.filterwarnings("ignore")
from benchmarks.train_speed import seed_trainer
from lab.data.sources import load_sample
from lab.models import load_tokenizer
from lab.train.batches import training_items
from lab.train.config import RunConfig
from lab.train.weights import model_for_training
config = RunConfig(format="classic", strategy="special-mask", epochs={epochs})
items = training_items(load_sample("spanish"), load_tokenizer(), config).items
seed_trainer(model_for_training(config, "cpu"), items, {epochs})
"""


def timed(command: list[str], env: dict) -> float:
    start = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    took = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{command[:4]} failed: {done.stderr[-500:]}")
    return took


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=15)
    args = parser.parse_args()
    home = tempfile.mkdtemp(prefix="sft-lab-bench-")
    models = Path(os.environ.get("SFT_LAB_HOME", Path.home() / ".cache" / "sft-lab")) / "models"
    os.symlink(models, Path(home) / "models")  # the converted model, as after a first `make run`
    env = dict(os.environ, SFT_LAB_HOME=home, HF_HUB_OFFLINE="1", TRANSFORMERS_VERBOSITY="error")
    lab = [sys.executable, "-m", "lab", "train", "--data", "sample:spanish", "--format", "classic"]
    lab += ["--strategy", "special-mask", "--epochs", str(args.epochs), "--json"]
    seed = [sys.executable, "-c", SEED_SCRIPT.format(root=str(ROOT), epochs=args.epochs)]
    seconds: dict[str, list[float]] = {"seed script": [], "python -m lab train": []}
    for round_ in range(args.rounds):
        for name in list(seconds) if round_ % 2 == 0 else list(seconds)[::-1]:
            seconds[name].append(timed(seed if name == "seed script" else lab, env))
    mean = {name: sum(t) / len(t) for name, t in seconds.items()}
    for name, took in mean.items():
        each = "/".join(f"{t:.1f}" for t in seconds[name])
        print(f"{name:<20} {took:6.1f} s  {mean['seed script'] / took:5.2f}x   (each: {each} s)")


if __name__ == "__main__":
    main()
