"""Writes Tests/EmberTests/Fixtures/cnn_ops.json: PyTorch's values and gradients for
Ember's convolution, pooling, normalisation and interpolation ops on fixed inputs, plus
BatchNorm2d's running statistics over three training steps. Run from the repo root with the
PyTorch reference (shared/reference/setup.sh):

    /tmp/pytorch-reference/venv/bin/python scripts/make_cnn_fixtures.py

Cases have the layout of scripts/make_tensor_fixtures.py (inputs, output, and the gradients
of L = sum(out * w) for every float input); CNNOpsFixtureTests.swift spells each op in Ember.
"""
import json
import os
import torch
import torch.nn.functional as F

torch.manual_seed(0)
cases = []


def add(name, fn, *inputs):
    xs = [x.clone().requires_grad_(x.dtype == torch.float32) for x in inputs]
    out = fn(*xs)
    w = torch.linspace(0.5, 1.5, out.numel()).reshape(out.shape)
    (out * w).sum().backward()
    cases.append({
        "name": name,
        "inputs": [{"shape": list(x.shape), "dtype": "float32", "values": x.detach().reshape(-1).double().tolist()} for x in xs],
        "output": {"shape": list(out.shape), "dtype": "float32", "values": out.detach().reshape(-1).double().tolist()},
        "weights": w.reshape(-1).tolist(),
        "grads": [x.grad.reshape(-1).tolist() for x in xs],
    })


r = torch.randn
x = r(2, 3, 7, 6)
add("conv2d", lambda x, w, b: F.conv2d(x, w, b), x, r(4, 3, 3, 3), r(4))
add("conv2d_stride2_pad1", lambda x, w, b: F.conv2d(x, w, b, stride=2, padding=1), x, r(5, 3, 3, 3), r(5))
add("conv2d_dilation2_rect", lambda x, w: F.conv2d(x, w, stride=(1, 2), padding=(2, 1), dilation=2), x, r(4, 3, 3, 2))
add("conv2d_groups", lambda x, w, b: F.conv2d(x, w, b, padding=1, groups=2), r(2, 4, 5, 5), r(6, 2, 3, 3), r(6))
add("conv2d_depthwise", lambda x, w: F.conv2d(x, w, padding=1, groups=3), x, r(3, 1, 3, 3))
add("conv2d_same_even", lambda x, w: F.conv2d(x, w, padding="same"), x, r(2, 3, 4, 4))
add("conv2d_large_plane", lambda x, w, b: F.conv2d(x, w, b, padding=1), r(3, 2, 17, 16), r(3, 2, 3, 3), r(3))
add("conv2d_pointwise", lambda x, w, b: F.conv2d(x, w, b), x, r(8, 3, 1, 1), r(8))
add("conv2d_unbatched", lambda x, w: F.conv2d(x, w, padding=1), r(3, 5, 5), r(2, 3, 3, 3))
add("conv2d_reflect", lambda x, w: F.conv2d(F.pad(x, (1, 1, 1, 1), mode="reflect"), w), x, r(2, 3, 3, 3))
add("pad_replicate", lambda x: F.pad(x, (2, 1, 0, 3), mode="replicate"), x)
add("pad_circular", lambda x: F.pad(x, (1, 2, 2, 1), mode="circular"), x)
add("pad_constant_crop", lambda x: F.pad(x, (1, -2, -1, 2), value=0.5), x)
add("conv1d", lambda x, w, b: F.conv1d(x, w, b, stride=2, padding=2), r(2, 3, 11), r(4, 3, 5), r(4))
add("conv_transpose2d", lambda x, w, b: F.conv_transpose2d(x, w, b, stride=2, padding=1, output_padding=1), r(2, 4, 4, 3), r(4, 3, 3, 3), r(3))
add("conv_transpose2d_groups", lambda x, w: F.conv_transpose2d(x, w, stride=1, padding=0, groups=2, dilation=2), r(1, 4, 3, 3), r(4, 2, 2, 2))
add("max_pool2d", lambda x: F.max_pool2d(x, 2), x)
add("max_pool2d_s2_p1_ceil", lambda x: F.max_pool2d(x, 3, stride=2, padding=1, ceil_mode=True), x)
add("max_pool2d_dilation", lambda x: F.max_pool2d(x, 2, stride=1, dilation=2), x)
add("avg_pool2d", lambda x: F.avg_pool2d(x, 2), x)
add("avg_pool2d_exclude_pad_ceil", lambda x: F.avg_pool2d(x, 3, stride=2, padding=1, ceil_mode=True, count_include_pad=False), x)
add("avg_pool2d_divisor", lambda x: F.avg_pool2d(x, (2, 3), stride=(1, 2), padding=1, divisor_override=4), x)
add("adaptive_avg_pool2d", lambda x: F.adaptive_avg_pool2d(x, (3, 4)), r(2, 3, 5, 7))
add("adaptive_avg_pool2d_1", lambda x: F.adaptive_avg_pool2d(x, 1), x)
add("adaptive_max_pool2d", lambda x: F.adaptive_max_pool2d(x, (2, 3)), r(2, 3, 5, 7))
add("max_pool1d", lambda x: F.max_pool1d(x, 3, stride=2, padding=1), r(2, 3, 9))
add("avg_pool1d", lambda x: F.avg_pool1d(x, 2), r(2, 3, 9))
add("adaptive_avg_pool1d", lambda x: F.adaptive_avg_pool1d(x, 4), r(2, 3, 9))
add("batch_norm_train", lambda x, w, b: F.batch_norm(x, None, None, w, b, training=True), x, r(3), r(3))
add("batch_norm_train_1d", lambda x: F.batch_norm(x, None, None, training=True), r(8, 5))
add("batch_norm_eval", lambda x, w, b: F.batch_norm(x, torch.tensor([0.1, -0.2, 0.3]), torch.tensor([0.5, 1.5, 2.0]), w, b, training=False), x, r(3), r(3))
add("layer_norm", lambda x, w, b: F.layer_norm(x, (7, 6), w, b), x, r(7, 6), r(7, 6))
add("layer_norm_plain", lambda x: F.layer_norm(x, (6,)), x)
add("group_norm", lambda x, w, b: F.group_norm(x, 2, w, b), r(2, 4, 3, 5), r(4), r(4))
add("interpolate_nearest", lambda x: F.interpolate(x, size=(10, 9), mode="nearest"), x)
add("interpolate_nearest_scale2", lambda x: F.interpolate(x, scale_factor=2, mode="nearest"), x)
add("interpolate_bilinear", lambda x: F.interpolate(x, size=(10, 9), mode="bilinear", align_corners=False), x)
add("interpolate_bilinear_align", lambda x: F.interpolate(x, size=(10, 9), mode="bilinear", align_corners=True), x)
add("interpolate_bilinear_down", lambda x: F.interpolate(x, size=(4, 3), mode="bilinear"), x)

# BatchNorm2d(3): three training steps, then evaluation on a fourth batch.
bn = torch.nn.BatchNorm2d(3)
batches = [r(4, 3, 5, 5) * (i + 1) + i for i in range(4)]
for b in batches[:3]:
    bn(b)
bn.eval()
batchnorm = {
    "batches": [b.reshape(-1).tolist() for b in batches],
    "shape": [4, 3, 5, 5],
    "running_mean": bn.running_mean.tolist(),
    "running_var": bn.running_var.tolist(),
    "num_batches_tracked": int(bn.num_batches_tracked),
    "eval_output": bn(batches[3]).detach().reshape(-1).tolist(),
}

path = os.path.join(os.path.dirname(__file__), "..", "Tests", "EmberTests", "Fixtures", "cnn_ops.json")
with open(path, "w") as f:
    json.dump({"torch": torch.__version__, "cases": cases, "batchnorm": batchnorm}, f)
print(f"wrote {len(cases)} cases to {os.path.normpath(path)}")
