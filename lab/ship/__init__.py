"""Taking a run further: the model others load, and the same run on TRL's CLI under accelerate.

export  `export_model`: weights (full, adapter, or merged) as safetensors, tokenizer, generation config, card
card    the model card (README.md) of an export
handoff `trl_handoff`: the run's data, `sft.yaml` for `trl sft --config` and `launch.sh` for accelerate
"""

from lab.ship.export import Exported, export_model, stop_ids
from lab.ship.handoff import TrlHandoff, trl_handoff, write_handoff

__all__ = ["Exported", "TrlHandoff", "export_model", "stop_ids", "trl_handoff", "write_handoff"]
