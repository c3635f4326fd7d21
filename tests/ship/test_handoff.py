"""The TRL hand-off: TRL's own parser reads the config, the real `trl sft` CLI trains on the labels the lab
showed, and a two-process CPU run through accelerate trains each rank on its own shard."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import psutil

from lab.data import load_sample
from lab.labels import label_all, tokenize_example
from lab.models import load_tokenizer
from lab.ship import trl_handoff, write_handoff
from lab.ship.handoff import trl_rows
from lab.train import RunConfig
from tests.conftest import APPLES, SEED
from tests.ship.conftest import finished

ROOT = Path(__file__).resolve().parent.parent.parent
SPY = Path(__file__).resolve().parent / "spy"
TRL = Path(sys.executable).parent / "trl"


def test_rows_take_the_shape_trl_reads_for_the_format_and_strategy(tokenizer):
    examples = load_sample("spanish")[:1]
    classic, _ = trl_rows(examples, tokenizer, RunConfig(**SEED))
    assert classic == [
        {
            "prompt": '\n\n### Human: How do you say "dog" in Spanish?\n\n### Assistant:<|im_start|>',
            "completion": " perro<|im_end|>",
        }
    ]
    chat, _ = trl_rows(examples, tokenizer, RunConfig(format="chat-template", strategy="trl-completion"))
    assert chat == [
        {
            "prompt": [{"role": "user", "content": 'How do you say "dog" in Spanish?'}],
            "completion": [{"role": "assistant", "content": "perro"}],
        }
    ]
    assistant, _ = trl_rows(examples, tokenizer, RunConfig(format="chat-template", strategy="trl-assistant"))
    assert list(assistant[0]) == ["messages"] and len(assistant[0]["messages"]) == 2


def test_the_config_is_read_by_trls_own_parser(store, tiny_model_dir, tmp_path):
    from trl import DatasetMixtureConfig, ModelConfig, ScriptArguments, SFTConfig, TrlParser

    run_id = finished(store, tiny_model_dir, method="lora", lr=5e-2, lora_r=4, strategy="trl-completion")
    handoff = trl_handoff(store, run_id)
    write_handoff(handoff, tmp_path)
    parser = TrlParser((ScriptArguments, SFTConfig, ModelConfig, DatasetMixtureConfig))
    script, training, model, data = parser.parse_args_and_config(["--config", str(tmp_path / "sft.yaml")])
    assert (training.num_train_epochs, training.learning_rate, training.seed) == (3, 5e-2, 42)
    assert training.completion_only_loss is True and training.assistant_only_loss is False
    assert (model.use_peft, model.lora_r, model.lora_alpha, model.lora_target_modules) == (
        True,
        4,
        16,
        ["q_proj", "k_proj", "v_proj", "o_proj"],
    )
    assert model.model_name_or_path == str(tiny_model_dir)
    assert data.datasets[0].data_files == "data.jsonl" and handoff.differs == ""
    assert (tmp_path / "launch.sh").stat().st_mode & 0o111


def test_a_strategy_trl_cannot_express_says_what_differs(store, tiny_model_dir, tmp_path):
    from lab.data.examples import Example

    multi = [Example(conversation=APPLES.conversation)]
    run_id = store.create(RunConfig(**SEED, model=str(tiny_model_dir), epochs=1, dtype="fp32"), multi)
    handoff = trl_handoff(store, run_id)  # special-mask learns both answers; TRL's row has one completion
    assert handoff.setting == "completion_only_loss"
    assert handoff.differs == (
        "TRL's prompt-completion rows have one completion, the last answer: in 1 of 1 "
        "examples TRL learns 0 tokens the run did not and leaves out 3 it learned"
    )
    assert "What differs from the run: TRL's prompt-completion rows" in handoff.files["sft.yaml"]


def spied_cli(folder: Path, *args: str, timeout: int = 420) -> tuple[subprocess.CompletedProcess, dict]:
    """`launch.sh ARGS` (the real `trl sft` CLI), every batch TRL's collator builds written per rank. A run
    still going after `timeout` seconds is killed with every process it started (torchrun starts its ranks in
    sessions of their own) and comes back with returncode None."""
    batches = folder / "batches"
    batches.mkdir()
    env = {
        **os.environ,
        "PYTHONPATH": f"{SPY}{os.pathsep}{ROOT}",
        "LAB_SPY_BATCHES": str(batches),
        "PATH": f"{TRL.parent}{os.pathsep}{os.environ['PATH']}",
        "HF_HUB_OFFLINE": "1",
    }
    command = ["bash", str(folder / "launch.sh"), *args]
    launcher = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        stdout, stderr = launcher.communicate(timeout=timeout)
        returncode = launcher.returncode
    except subprocess.TimeoutExpired:
        for process in [*psutil.Process(launcher.pid).children(recursive=True), launcher]:
            process.kill()
        stdout, stderr = launcher.communicate()
        returncode = None
    seen = {p.stem: [json.loads(line) for line in p.read_text().splitlines()] for p in batches.glob("*.jsonl")}
    return subprocess.CompletedProcess(command, returncode, stdout, stderr), seen


def lab_labels(store, run_id: str) -> dict[tuple, list]:
    """What the lab showed for the run's examples: input ids -> labels of the run's strategy."""
    config = store.get(run_id).config
    tokenizer = load_tokenizer(config.model)
    items = [tokenize_example(e, tokenizer, config.format) for e in store.examples(run_id)]
    return {
        tuple(i.encoded.ids): list(by[config.strategy].labels)
        for i, by in zip(items, label_all(items, tokenizer, (config.strategy,)))
    }


def test_trl_sft_trains_on_the_labels_the_lab_showed(store, tiny_model_dir, tmp_path):
    run_id = finished(store, tiny_model_dir, strategy="special-mask", batch_size=5)
    write_handoff(trl_handoff(store, run_id), tmp_path)
    result, seen = spied_cli(
        tmp_path, "--use_cpu", "true", "--bf16", "false", "--max_steps", "2", "--num_train_epochs", "2"
    )
    assert result.returncode == 0, result.stderr[-3000:]
    trained = {tuple(b["input_ids"]): b["labels"] for b in seen["rank0"]}
    assert trained == lab_labels(store, run_id)  # every example, with exactly the lab's labels
    assert (tmp_path / "output" / "model.safetensors").is_file()


def test_two_cpu_processes_through_accelerate_each_train_their_own_shard(store, tiny_model_dir, tmp_path):
    from transformers import AutoModelForCausalLM

    run_id = finished(store, tiny_model_dir, sample="explain", strategy="trl-completion", batch_size=1, epochs=1)
    for attempt in (1, 2):
        folder = tmp_path / f"attempt{attempt}"
        write_handoff(trl_handoff(store, run_id), folder)
        start = time.monotonic()
        result, seen = spied_cli(
            folder, "--use_cpu", "true", "--bf16", "false", "--multi_gpu", "--num_processes", "2", timeout=150
        )
        took = time.monotonic() - start
        if not (result.returncode is None and "Model saved" in result.stdout):
            break
        # torch's own teardown deadlock, after TRL trained and saved (pytorch/pytorch#56297): a rank's DDP
        # reducer frees the gloo group holding the GIL while a gloo thread waits for the GIL. Measured here: 2
        # hangs in 13 runs with the file cache dropped before each, none in 39 warm; launch.sh's comment says so.
        print(f"attempt {attempt}: torch's gloo teardown hung after the model was saved; once more")
    assert result.returncode == 0, f"exit {result.returncode} (None: still going, killed)\n{result.stderr[-3000:]}"
    assert sorted(seen) == ["rank0", "rank1"]  # both ranks trained
    shards = [{tuple(b["input_ids"]) for b in seen[rank]} for rank in ("rank0", "rank1")]
    assert [len(seen["rank0"]), len(seen["rank1"])] == [4, 4]  # one epoch of 8 examples, batch 1, two ranks
    assert len(shards[0]) == len(shards[1]) == 4 and not shards[0] & shards[1]  # each on its own half
    expected = lab_labels(store, run_id)
    assert all(expected[tuple(b["input_ids"])] == b["labels"] for rank in seen for b in seen[rank])
    assert AutoModelForCausalLM.from_pretrained(folder / "output") is not None
    print(f"two-process CPU run through accelerate: {took:.0f} s")
