"""Loaded by every Python process a hand-off test starts (it is put first on PYTHONPATH): when
LAB_SPY_BATCHES names a folder, each batch TRL's collator builds is written there as JSON lines, one file
per rank, so a test sees what the real `trl sft` CLI trained on."""

import json
import os

if os.environ.get("LAB_SPY_BATCHES"):
    from trl.trainer import sft_trainer

    collate = sft_trainer.DataCollatorForLanguageModeling.torch_call

    def spy(self, examples):
        batch = collate(self, examples)
        path = os.path.join(os.environ["LAB_SPY_BATCHES"], f"rank{os.environ.get('RANK', '0')}.jsonl")
        with open(path, "a", encoding="utf-8") as f:
            for ids, mask, labels in zip(batch["input_ids"], batch["attention_mask"], batch["labels"]):
                keep = mask.bool()
                f.write(json.dumps({"input_ids": ids[keep].tolist(), "labels": labels[keep].tolist()}) + "\n")
        return batch

    sft_trainer.DataCollatorForLanguageModeling.torch_call = spy
