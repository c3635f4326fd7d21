"""Fine-tuning: a run's settings, its loss, the two engines, the run store and the background runner.

config       `RunConfig`: every setting of a run, each with its help text (CLI flags, Train page)
batches      `training_items` (the run's strategy's labels) and the batches of an epoch
loss         seed 002's weighted loss, lm_head only at trained positions; prompt/completion measured apart
engine       `train_lab`: the lab's fast loop; hardware.py holds its machine-dependent levers
trl_engine   `train_trl`: TRL's own SFTTrainer, listened to
weights      the model a run trains (LoRA when asked), saved as safetensors and read back (`load_trained`)
run          `Run`: one run as the store lists it, and what resuming it will do
run_files    a run folder's own record (run.json, metrics.jsonl) that a damaged store is rebuilt from
store        `RunStore`: runs and metrics in SQLite, a folder per run
leases       `Lease`: a process renews the runs it holds; a run whose lease lapses is interrupted
execute      `execute`: carry out one run from the store (app worker and CLI alike)
runner       `runner_for`: the one background worker of a process, training each run in a child process
child        `python -m lab.train.child RUN_ID`: one run trained in its own process, ending with its parent
"""

from lab.train.config import DEFAULT_LR, ENGINES, METHODS, RunConfig
from lab.train.execute import execute
from lab.train.run import Run
from lab.train.runner import Runner, runner_for
from lab.train.store import RunStore
from lab.train.weights import load_trained

__all__ = [
    "DEFAULT_LR",
    "ENGINES",
    "METHODS",
    "Run",
    "RunConfig",
    "RunStore",
    "Runner",
    "execute",
    "load_trained",
    "runner_for",
]
