"""Writes Tests/EmberTests/Fixtures/transformer_ops.json: PyTorch's values and gradients for
F.scaled_dot_product_attention on fixed inputs (masks bool and float, causal, scale, several
tiles), and for nn.MultiheadAttention, nn.TransformerEncoderLayer / Encoder,
nn.TransformerDecoderLayer / Decoder and nn.RMSNorm with fixed weights. Run from the repo
root with the PyTorch reference (shared/reference/setup.sh):

    /tmp/pytorch-reference/venv/bin/python scripts/make_transformer_fixtures.py

"cases" have the layout of scripts/make_tensor_fixtures.py (inputs, output, and the
gradients of L = sum(out * w) for every float input; null where PyTorch's gradient is not
compared: masks). "modules" hold each module's state dict (keys in PyTorch's order), its
inputs, outputs (the first one's loss weights), the inputs' and parameters' gradients;
AttentionTests.swift and TransformerTests.swift build the same modules in Ember.
"""
import json
import os
import torch
import torch.nn as nn
import torch.nn.functional as F

torch.manual_seed(0)
r = torch.randn


def value(x):
    dtype = {torch.float32: "float32", torch.bool: "bool", torch.int64: "int64"}[x.dtype]
    return {"shape": list(x.shape), "dtype": dtype,
            "values": x.detach().reshape(-1).double().tolist()}


cases = []


def add(name, fn, *inputs, grads=3):
    """The first `grads` inputs are differentiated (query, key, value); the rest are masks."""
    xs = [x.clone().requires_grad_(i < grads) for i, x in enumerate(inputs)]
    out = fn(*xs)
    w = torch.linspace(0.5, 1.5, out.numel()).reshape(out.shape)
    (out * w).sum().backward()
    cases.append({
        "name": name,
        "inputs": [value(x) for x in xs],
        "output": value(out),
        "weights": w.reshape(-1).tolist(),
        "grads": [x.grad.reshape(-1).tolist() if i < grads else None for i, x in enumerate(xs)],
    })


sdpa = F.scaled_dot_product_attention
q, k, v = r(2, 3, 5, 4), r(2, 3, 7, 4), r(2, 3, 7, 6)
add("sdpa", lambda q, k, v: sdpa(q, k, v), q, k, v)
add("sdpa_scale", lambda q, k, v: sdpa(q, k, v, scale=0.3), q, k, v)
add("sdpa_2d", lambda q, k, v: sdpa(q, k, v), r(5, 4), r(6, 4), r(6, 3))
add("sdpa_causal", lambda q, k, v: sdpa(q, k, v, is_causal=True), r(2, 6, 4), r(2, 6, 4), r(2, 6, 5))
add("sdpa_causal_rect", lambda q, k, v: sdpa(q, k, v, is_causal=True), r(2, 4, 4), r(2, 6, 4), r(2, 6, 5))
bool_mask = torch.rand(5, 7) > 0.4
bool_mask[:, 0] = True
bool_mask[3] = False   # a query with no allowed key: PyTorch gives 0
add("sdpa_bool_mask", lambda q, k, v, m: sdpa(q, k, v, attn_mask=m), q, k, v, bool_mask)
add("sdpa_float_mask", lambda q, k, v, m: sdpa(q, k, v, attn_mask=m), q, k, v, r(2, 1, 5, 7))
add("sdpa_float_mask_row", lambda q, k, v, m: sdpa(q, k, v, attn_mask=m), q, k, v, r(1, 7))
# Several tiles (the kernel's are 64 × 64): ragged last tiles, causal skipping, a mask.
add("sdpa_tiles", lambda q, k, v: sdpa(q, k, v), r(1, 2, 150, 4), r(1, 2, 130, 4), r(1, 2, 130, 3))
add("sdpa_tiles_causal", lambda q, k, v: sdpa(q, k, v, is_causal=True), r(1, 140, 4), r(1, 140, 4), r(1, 140, 3))
tile_mask = torch.rand(2, 1, 130, 70) > 0.3
add("sdpa_tiles_mask", lambda q, k, v, m: sdpa(q, k, v, attn_mask=m), r(2, 2, 130, 4), r(2, 2, 70, 4), r(2, 2, 70, 3), tile_mask)

modules = []


def add_module(name, module, inputs, forward, grads):
    """`forward(module, *inputs)` returns a tuple of outputs; the loss is sum(out0 * w).
    The first `grads` inputs are differentiated."""
    xs = [x.clone().requires_grad_(i < grads) for i, x in enumerate(inputs)]
    outs = forward(module, *xs)
    w = torch.linspace(0.5, 1.5, outs[0].numel()).reshape(outs[0].shape)
    (outs[0] * w).sum().backward()
    modules.append({
        "name": name,
        "state": [{"key": key, **value(t)} for key, t in module.state_dict().items()],
        "inputs": [value(x) for x in xs],
        "outputs": [value(o) for o in outs],
        "weights": w.reshape(-1).tolist(),
        "input_grads": [x.grad.reshape(-1).tolist() if i < grads else None for i, x in enumerate(xs)],
        "param_grads": {key: p.grad.reshape(-1).tolist() for key, p in module.named_parameters()},
    })


def randomised(module):
    """Every parameter drawn afresh (biases and norms too), so that no term hides behind a
    zero or a one."""
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(r(p.shape) * 0.5)
    return module


mha = randomised(nn.MultiheadAttention(8, 2))
x = r(5, 3, 8)
add_module("mha_self", mha, [x], lambda m, x: m(x, x, x, need_weights=True), 1)

mha = randomised(nn.MultiheadAttention(8, 4, batch_first=True))
kpm = torch.zeros(3, 6, dtype=torch.bool)
kpm[0, 4:] = True
kpm[2, 1] = True
add_module("mha_cross_kpm", mha, [r(3, 4, 8), r(3, 6, 8), r(3, 6, 8), kpm],
           lambda m, q, k, v, kpm: m(q, k, v, key_padding_mask=kpm, need_weights=True), 3)

mha = randomised(nn.MultiheadAttention(8, 2, bias=False))
add_module("mha_causal_nobias", mha, [r(6, 2, 8), nn.Transformer.generate_square_subsequent_mask(6)],
           lambda m, x, mask: m(x, x, x, attn_mask=mask, need_weights=False)[:1], 1)

mha = randomised(nn.MultiheadAttention(8, 2, batch_first=True))
add_module("mha_bool_mask_weights", mha, [r(2, 5, 8), r(2, 6, 8), torch.rand(5, 6) > 0.5],
           lambda m, q, kv, mask: m(q, kv, kv, attn_mask=mask | (torch.arange(6) == 0), need_weights=True), 2)

layer = randomised(nn.TransformerEncoderLayer(8, 2, dim_feedforward=16, dropout=0.0, batch_first=True))
pad = torch.zeros(2, 5, dtype=torch.bool)
pad[1, 3:] = True
add_module("encoder_layer_post", layer, [r(2, 5, 8), pad],
           lambda m, x, pad: (m(x, src_key_padding_mask=pad),), 1)

layer = randomised(nn.TransformerEncoderLayer(8, 2, dim_feedforward=16, dropout=0.0, activation="gelu",
                                              norm_first=True))
add_module("encoder_layer_pre_gelu", layer, [r(5, 2, 8), nn.Transformer.generate_square_subsequent_mask(5)],
           lambda m, x, mask: (m(x, src_mask=mask),), 1)

encoder = randomised(nn.TransformerEncoder(nn.TransformerEncoderLayer(8, 2, dim_feedforward=16, dropout=0.0,
                                                                      batch_first=True),
                                           num_layers=2, norm=nn.LayerNorm(8), enable_nested_tensor=False))
add_module("encoder", encoder, [r(2, 5, 8), pad], lambda m, x, pad: (m(x, src_key_padding_mask=pad),), 1)

layer = randomised(nn.TransformerDecoderLayer(8, 2, dim_feedforward=16, dropout=0.0, batch_first=True))
mem_pad = torch.zeros(2, 6, dtype=torch.bool)
mem_pad[0, 5] = True
add_module("decoder_layer_post", layer,
           [r(2, 4, 8), r(2, 6, 8), nn.Transformer.generate_square_subsequent_mask(4), mem_pad],
           lambda m, t, mem, mask, mp: (m(t, mem, tgt_mask=mask, memory_key_padding_mask=mp),), 2)

layer = randomised(nn.TransformerDecoderLayer(8, 2, dim_feedforward=16, dropout=0.0, activation="gelu",
                                              norm_first=True))
add_module("decoder_layer_pre_gelu", layer, [r(4, 2, 8), r(6, 2, 8)],
           lambda m, t, mem: (m(t, mem, tgt_is_causal=False),), 2)

decoder = randomised(nn.TransformerDecoder(nn.TransformerDecoderLayer(8, 2, dim_feedforward=16, dropout=0.0,
                                                                      batch_first=True),
                                           num_layers=2, norm=nn.LayerNorm(8)))
add_module("decoder", decoder, [r(2, 4, 8), r(2, 6, 8), nn.Transformer.generate_square_subsequent_mask(4)],
           lambda m, t, mem, mask: (m(t, mem, tgt_mask=mask),), 2)

model = randomised(nn.Transformer(8, 2, num_encoder_layers=2, num_decoder_layers=1, dim_feedforward=16, dropout=0.0,
                                  batch_first=True))
add_module("transformer", model, [r(2, 5, 8), r(2, 4, 8), nn.Transformer.generate_square_subsequent_mask(4), pad],
           lambda m, src, tgt, mask, pad: (m(src, tgt, tgt_mask=mask, src_key_padding_mask=pad,
                                             memory_key_padding_mask=pad),), 2)

add_module("rms_norm", randomised(nn.RMSNorm(8)), [r(3, 4, 8)], lambda m, x: (m(x),), 1)
add_module("rms_norm_2d_eps", randomised(nn.RMSNorm([4, 8], eps=1e-3)), [r(3, 4, 8)], lambda m, x: (m(x),), 1)
add_module("rms_norm_plain", nn.RMSNorm(8, elementwise_affine=False), [r(3, 8)], lambda m, x: (m(x),), 1)

# Added later, drawn from their own generator so that the values above stay as they were.
g = torch.Generator().manual_seed(15)


def rg(*shape):
    return torch.randn(*shape, generator=g)


# A float mask that requires grad gets d(scores) summed over its broadcast dims (the 4th
# gradient): an (L, S) mask with two −inf entries, a full (B, H, L, S) one, and an (L, S)
# one over several 64 × 64 tiles.
q, k, v = rg(2, 3, 5, 4), rg(2, 3, 7, 4), rg(2, 3, 7, 6)
ls_mask = rg(5, 7)
ls_mask[1, 2] = ls_mask[4, 0] = float("-inf")
add("sdpa_mask_grad_ls", lambda q, k, v, m: sdpa(q, k, v, attn_mask=m), q, k, v, ls_mask, grads=4)
add("sdpa_mask_grad_full", lambda q, k, v, m: sdpa(q, k, v, attn_mask=m, scale=0.7), q, k, v, rg(2, 3, 5, 7), grads=4)
add("sdpa_mask_grad_tiles", lambda q, k, v, m: sdpa(q, k, v, attn_mask=m),
    rg(1, 2, 66, 4), rg(1, 2, 70, 4), rg(1, 2, 70, 3), rg(66, 70), grads=4)

# kdim / vdim ≠ embed_dim: separate q/k/v projection weights, still one in_proj_bias.
mha = randomised(nn.MultiheadAttention(8, 2, kdim=5, vdim=3))
add_module("mha_kdim_vdim", mha, [rg(4, 2, 8), rg(6, 2, 5), rg(6, 2, 3)],
           lambda m, q, k, v: m(q, k, v, need_weights=True), 3)
# batch_first, no weights (the fused kernel) and a float attn_mask that gets a gradient.
mha = randomised(nn.MultiheadAttention(8, 4, kdim=6, vdim=6, batch_first=True))
add_module("mha_kdim_float_mask", mha, [rg(2, 4, 8), rg(2, 5, 6), rg(2, 5, 6), rg(4, 5)],
           lambda m, q, k, v, mask: m(q, k, v, attn_mask=mask, need_weights=False)[:1], 4)
mha = randomised(nn.MultiheadAttention(8, 2, bias=False, vdim=4))
add_module("mha_vdim_nobias_mask_weights", mha, [rg(3, 8), rg(5, 8), rg(5, 4), rg(2, 3, 5)],
           lambda m, q, k, v, mask: m(q, k, v, attn_mask=mask, need_weights=True, average_attn_weights=False), 4)

# add_bias_kv / add_zero_attn: appended keys and values, masks padded to allow them.
mha = randomised(nn.MultiheadAttention(8, 2, add_bias_kv=True, add_zero_attn=True))
kpm = torch.zeros(2, 5, dtype=torch.bool)
kpm[1, 3:] = True
add_module("mha_bias_kv_zero_attn", mha, [rg(4, 2, 8), rg(5, 2, 8), rg(5, 2, 8), kpm],
           lambda m, q, k, v, kpm: m(q, k, v, key_padding_mask=kpm, need_weights=True), 3)
mha = randomised(nn.MultiheadAttention(8, 4, add_bias_kv=True, kdim=6, vdim=3, batch_first=True))
add_module("mha_bias_kv_kdim_float_mask", mha, [rg(2, 4, 8), rg(2, 5, 6), rg(2, 5, 3), rg(8, 4, 5)],
           lambda m, q, k, v, mask: m(q, k, v, attn_mask=mask, need_weights=False)[:1], 4)
mha = randomised(nn.MultiheadAttention(8, 2, add_zero_attn=True, batch_first=True))
add_module("mha_zero_attn_causal", mha, [rg(2, 5, 8), nn.Transformer.generate_square_subsequent_mask(5)],
           lambda m, x, mask: m(x, x, x, attn_mask=mask, need_weights=False, is_causal=True)[:1], 1)


def finite_json(v):
    # JSON has no NaN or infinity: they go as the strings Swift's JSONDecoder reads back.
    if isinstance(v, float) and (v != v or v in (float("inf"), float("-inf"))):
        return "NaN" if v != v else ("Infinity" if v > 0 else "-Infinity")
    if isinstance(v, float):
        return float("%.9g" % v)   # 9 digits give a float32 back exactly
    if isinstance(v, list):
        return [finite_json(x) for x in v]
    if isinstance(v, dict):
        return {k: finite_json(x) for k, x in v.items()}
    return v


path = os.path.join(os.path.dirname(__file__), "..", "Tests", "EmberTests", "Fixtures", "transformer_ops.json")
with open(path, "w") as f:
    json.dump(finite_json({"torch": torch.__version__.split("+")[0], "cases": cases, "modules": modules,
                           "square_subsequent_mask_4": value(nn.Transformer.generate_square_subsequent_mask(4))}),
              f, separators=(",", ":"), allow_nan=False)
print(f"wrote {len(cases)} cases and {len(modules)} modules to {os.path.normpath(path)}")
