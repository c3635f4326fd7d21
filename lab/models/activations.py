"""Activations counted, not guessed: a forward pass of a model on the meta device (shapes without storage)
records every tensor autograd keeps for the backward, per decoder layer and outside the layers."""

from __future__ import annotations

import torch


class FusedAttention(torch.overrides.TorchFunctionMode):
    """On the meta device torch runs attention as plain matrix products, which keep the sequence x sequence
    weights for the backward; a fused kernel keeps only a log-sum-exp per row. This routes attention to the fused
    kernel's meta version wherever the planned device runs one (`runs_fused`), so the count matches a real run."""

    def __init__(self, device_type: str = "cpu"):
        super().__init__()
        self.device_type = device_type

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func is torch.nn.functional.scaled_dot_product_attention and kwargs.get("attn_mask") is None:
            query, key, value = args[:3]
            if runs_fused(self.device_type, query.dtype, bool(kwargs.get("enable_gqa"))):
                return torch.ops.aten._scaled_dot_product_flash_attention_for_cpu(
                    query,
                    key,
                    value,
                    kwargs.get("dropout_p", 0.0),
                    kwargs.get("is_causal", False),
                    scale=kwargs.get("scale"),
                )[0]
        return func(*args, **kwargs)


def runs_fused(device_type: str, dtype: torch.dtype, gqa: bool) -> bool:
    """Whether attention runs a fused kernel on that device: the CPU's flash kernel takes every dtype; CUDA's
    flash kernel takes only 16-bit inputs and its memory-efficient one no grouped-query attention (which
    transformers passes as `enable_gqa` when there is no mask), so fp32 GQA models run CUDA's math kernel and
    keep the sequence x sequence weights (measured on an H100: 24 GiB in use where the fused count said 15)."""
    return device_type != "cuda" or dtype in (torch.float16, torch.bfloat16) or not gqa


def activation_bytes(
    model, batch_size: int, seq_len: int, lora=None, quantization: str = "none", device_type: str = "cpu"
) -> tuple[list[int], int]:
    """Bytes autograd keeps for the backward, per decoder layer and outside the layers (embeddings, final norm,
    the loss's log-softmax), plus the logits and their gradient; counted by a forward pass on the meta device,
    attention as `device_type` (cpu | cuda) runs it.
    With `lora` (a peft LoraConfig) the base is frozen and the adapters are attached first, as a run does; a
    quantized base (`quantization` 4bit | 8bit) is prepared as PEFT prepares it for k-bit training (its input
    embeddings then need grad). bitsandbytes' 8-bit layers keep their input too, though their weight is frozen:
    as an attribute of the autograd node, which no saved-tensor hook sees and which lives until the graph is
    freed; the count adds it (measured on SmolLM2-135M, 2 x 512 tokens: 8-bit held 248 MiB more than 4-bit
    after the forward, 380 MiB more after the backward)."""
    int8 = quantized_linears(model).values() if quantization == "8bit" else []
    if lora is not None:
        from accelerate import init_empty_weights  # heavy: only plans build on meta
        from peft import get_peft_model  # heavy: only LoRA plans

        with init_empty_weights():
            model = get_peft_model(model, lora)
        if quantization != "none":
            model.enable_input_require_grads()  # as PEFT's k-bit preparation does
    params = {id(p) for p in model.parameters()}
    layers = decoder_layers(model)
    where = {"layer": None}
    per_layer = [0] * len(layers)
    kept: dict[int, torch.Tensor] = {}  # alive until counted: an id is not reused while its tensor lives
    other = 0

    def pack(t):
        nonlocal other
        base = t if t._base is None else t._base
        if id(base) in params or id(base) in kept:
            return t
        kept[id(base)] = base
        n = base.numel() * base.element_size()
        if where["layer"] is None:
            other += n
        else:
            per_layer[where["layer"]] += n
        return t

    hooks = []
    for i, layer in enumerate(layers):
        hooks.append(layer.register_forward_pre_hook(lambda m, a, i=i: where.update(layer=i)))
        hooks.append(layer.register_forward_hook(lambda m, a, out: where.update(layer=None)))
    hooks += [linear.register_forward_pre_hook(lambda m, args: pack(args[0])) for linear in int8]
    ids = torch.zeros(batch_size, seq_len, dtype=torch.long, device="meta")
    model.train()
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t), FusedAttention(device_type):
        logits = model(input_ids=ids, labels=ids).logits
    for hook in hooks:
        hook.remove()
    return per_layer, other + 2 * logits.numel() * logits.element_size()


def quantized_linears(model) -> dict[str, torch.nn.Linear]:
    """The linear layers bitsandbytes quantizes as the model loads: all but the output projection."""
    output = model.get_output_embeddings()
    return {n: m for n, m in model.named_modules() if isinstance(m, torch.nn.Linear) and m is not output}


def decoder_layers(model) -> list[torch.nn.Module]:
    """The model's repeated blocks: the longest ModuleList whose members are its no-split modules."""
    names = set(getattr(model, "_no_split_modules", None) or [])
    lists = [m for m in model.modules() if isinstance(m, torch.nn.ModuleList) and len(m)]
    blocks = [m for m in lists if type(m[0]).__name__ in names] or lists
    return list(max(blocks, key=len)) if blocks else []
