"""Peers' own code to check the lab's labels against: the batch a real one-step TRL 1.x `SFTTrainer` trains on,
and TRL 0.19.1's `DataCollatorForCompletionOnlyLM` (removed in TRL 0.20, so not importable here): its
`torch_call` transcribed from trl 0.19.1's trl/trainer/utils.py, on top of transformers' real parent collator."""

import numpy as np


def sft_batch(model_dir, tokenizer, rows, tmp_path, **config):
    """Run one real SFTTrainer step and return {input_ids: labels} of the batch it trained on."""
    import datasets
    from transformers import AutoModelForCausalLM
    from trl import SFTConfig, SFTTrainer

    args = SFTConfig(
        output_dir=str(tmp_path / "out"),
        max_steps=1,
        per_device_train_batch_size=len(rows),
        report_to=[],
        bf16=False,
        use_cpu=True,
        save_strategy="no",
        max_length=None,
        **config,
    )
    model = AutoModelForCausalLM.from_pretrained(model_dir)
    trainer = SFTTrainer(
        model=model, args=args, train_dataset=datasets.Dataset.from_list(rows), processing_class=tokenizer
    )
    seen, collate = [], trainer.data_collator
    trainer.data_collator = lambda features: seen.append(collate(features)) or seen[-1]
    trainer.train()
    batch = seen[0]
    out = {}
    for ids, mask, labels in zip(batch["input_ids"], batch["attention_mask"], batch["labels"]):
        keep = mask.bool()
        out[tuple(ids[keep].tolist())] = labels[keep].tolist()
    return out


def completion_only_019(input_ids: list[int], tokenizer, response_template: str, instruction_template: str | None):
    """Labels TRL 0.19.1's `DataCollatorForCompletionOnlyLM(response_template, instruction_template)` gives one
    example (a batch of one: no padding). Its `torch_call`, line by line; warnings dropped."""
    from transformers import DataCollatorForLanguageModeling

    parent = DataCollatorForLanguageModeling(tokenizer=tokenizer, mlm=False)
    batch = parent.torch_call([{"input_ids": input_ids}])
    response_token_ids = tokenizer.encode(response_template, add_special_tokens=False)
    instruction_token_ids = (
        tokenizer.encode(instruction_template, add_special_tokens=False) if instruction_template else None
    )
    ignore_index, i = -100, 0
    if instruction_template is None:
        response_token_ids_start_idx = None
        for idx in np.where(batch["labels"][i] == response_token_ids[0])[0]:
            if response_token_ids == batch["labels"][i][idx : idx + len(response_token_ids)].tolist():
                response_token_ids_start_idx = idx
        if response_token_ids_start_idx is None:
            batch["labels"][i, :] = ignore_index
        else:
            response_token_ids_end_idx = response_token_ids_start_idx + len(response_token_ids)
            batch["labels"][i, :response_token_ids_end_idx] = ignore_index
    else:
        response_token_ids_idxs, human_token_ids_idxs = [], []
        for assistant_idx in np.where(batch["labels"][i] == response_token_ids[0])[0]:
            if (
                response_token_ids
                == batch["labels"][i][assistant_idx : assistant_idx + len(response_token_ids)].tolist()
            ):
                response_token_ids_idxs.append(assistant_idx + len(response_token_ids))
        if len(response_token_ids_idxs) == 0:
            batch["labels"][i, :] = ignore_index
        human_token_ids = instruction_token_ids
        for human_idx in np.where(batch["labels"][i] == human_token_ids[0])[0]:
            if human_token_ids == batch["labels"][i][human_idx : human_idx + len(human_token_ids)].tolist():
                human_token_ids_idxs.append(human_idx)
        if len(human_token_ids_idxs) == 0:
            batch["labels"][i, :] = ignore_index
        if (
            len(human_token_ids_idxs) > 0
            and len(response_token_ids_idxs) > 0
            and human_token_ids_idxs[0] > response_token_ids_idxs[0]
        ):
            human_token_ids_idxs = [0] + human_token_ids_idxs
        for idx, (start, end) in enumerate(zip(human_token_ids_idxs, response_token_ids_idxs)):
            if idx != 0:
                batch["labels"][i, start:end] = ignore_index
            else:
                batch["labels"][i, :end] = ignore_index
        if len(response_token_ids_idxs) < len(human_token_ids_idxs):
            batch["labels"][i, human_token_ids_idxs[-1] :] = ignore_index
    return batch["labels"][0].tolist()
