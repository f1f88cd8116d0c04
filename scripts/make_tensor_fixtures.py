"""Writes Tests/EmberTests/Fixtures/tensor_ops.json: PyTorch's values and gradients for
Ember's tensor ops on fixed inputs, contiguous and not (transposed, sliced, expanded).
Run from the repo root with the PyTorch reference (shared/reference/setup.sh):

    /tmp/pytorch-reference/venv/bin/python scripts/make_tensor_fixtures.py

Each case: its inputs (float32 unless said), the op's output, and the gradient of
L = sum(out * w) for every float input, w a fixed weight tensor stored with the case.
TensorOpsFixtureTests.swift runs the same op, spelled in Ember, on each case.
"""
import json
import os
import torch
import torch.nn.functional as F

torch.manual_seed(0)
cases = []


def add(name, fn, *inputs, grad=True):
    xs = []
    for x in inputs:
        x = x.clone()
        if grad and x.dtype == torch.float32:
            x.requires_grad_(True)
        xs.append(x)
    out = fn(*xs)
    if isinstance(out, tuple):
        out = out[0]
    entry = {
        "name": name,
        "inputs": [{"shape": list(x.shape), "dtype": str(x.dtype).replace("torch.", ""),
                    "values": x.detach().reshape(-1).double().tolist()} for x in xs],
        "output": {"shape": list(out.shape), "dtype": str(out.dtype).replace("torch.", ""),
                   "values": out.detach().reshape(-1).double().tolist()},
    }
    if grad and out.dtype == torch.float32 and any(x.requires_grad for x in xs):
        w = torch.linspace(0.5, 1.5, out.numel()).reshape(out.shape)
        (out * w).sum().backward()
        entry["weights"] = w.reshape(-1).tolist()
        entry["grads"] = [x.grad.reshape(-1).tolist() if x.requires_grad else None for x in xs]
    cases.append(entry)


r = lambda *s: torch.randn(*s)
pos = lambda *s: torch.rand(*s) + 0.5

a34, a234, a43 = r(3, 4), r(2, 3, 4), r(4, 3)
# Views and copies of views
add("transpose_contiguous", lambda a: a.transpose(0, 1).contiguous() * 1, a34)
add("permute", lambda a: a.permute(2, 0, 1) * 1, a234)
add("mT_matmul", lambda a, b: a.mT @ b, a43, r(4, 5))
add("narrow_mul", lambda a: a.narrow(1, 1, 2) * 2, a34)
add("select", lambda a: a.select(1, -1) * 1, a234)
add("unfold", lambda a: a.unfold(1, 2, 1) * 1, a34)
add("diagonal", lambda a: a.diagonal(offset=1) * 1, a34)
add("expand_mul", lambda a, b: a.expand(3, 4) * b, r(1, 4), a34)
add("reshape_of_transpose", lambda a: a.t().reshape(12) * 1, a34)
add("subscript_slice_step", lambda a: a[:, 1::2] * 1, a34)
add("subscript_ellipsis_newaxis", lambda a: a[..., None, 0] * 1, a234)
add("subscript_mask", lambda a, m: a[m] * 1, a34, a34 > 0)
add("subscript_index_tensor", lambda a, i: a[:, i] * 1, a34, torch.tensor([3, 0, 3]))
add("subscript_two_index_tensors", lambda a, i, j: a[i, j] * 1, a34, torch.tensor([0, 2, 1]), torch.tensor([3, 3, 0]))
# Joining and rearranging
add("cat_dim1", lambda a, b: torch.cat([a, b], dim=1), a34, r(3, 2))
add("cat_transposed", lambda a, b: torch.cat([a.t(), b], dim=0), a34, r(2, 3))
add("stack_dim1", lambda a, b: torch.stack([a, b], dim=1), a34, r(3, 4))
add("split_sizes", lambda a: torch.split(a, [1, 3], dim=1)[1] * 1, a34)
add("chunk", lambda a: torch.chunk(a, 2, dim=1)[1] * 1, a34)
add("flip", lambda a: a.flip(0, 2), a234)
add("roll", lambda a: a.roll(1, 1), a34)
add("repeat", lambda a: a.repeat(2, 1, 2), r(2, 3))
# Indexing
idx = torch.tensor([[0, 2, 1, 0], [2, 2, 0, 1]])
add("gather", lambda a, i: a.gather(0, i), a34, idx)
add("scatter", lambda a, i, s: a.scatter(1, i, s), r(2, 5), torch.tensor([[0, 4, 2], [1, 3, 0]]), r(2, 3))
add("scatter_add", lambda a, i, s: a.scatter_add(0, i, s), a34, idx, r(2, 4))
add("index_select", lambda a, i: a.index_select(1, i), a34, torch.tensor([2, 0, 2]))
add("index_add", lambda a, i, s: a.index_add(0, i, s), a34, torch.tensor([2, 0, 2]), r(3, 4))
add("masked_fill", lambda a, m: a.masked_fill(m, -1.0), a34, a34 > 0.5)
add("where", lambda m, a, b: torch.where(m, a, b), a34 > 0, a34, r(4))
add("sort_desc", lambda a: a.sort(dim=1, descending=True)[0], a34)
add("topk", lambda a: a.topk(2, dim=0)[0], a34)
add("nonzero", lambda a: a.nonzero(), torch.tensor([[0, 1, 0], [2, 0, 3]]), grad=False)
add("argsort", lambda a: a.argsort(dim=1), a34, grad=False)
add("one_hot", lambda a: F.one_hot(a, 4), torch.tensor([0, 3, 1]), grad=False)
# Reductions
add("sum_dims_keep", lambda a: a.sum(dim=(0, 2), keepdim=True), a234)
add("sum_transposed", lambda a: a.t().sum(dim=1), a34)
add("mean_dims", lambda a: a.mean(dim=(1, 2)), a234)
add("prod", lambda a: a.prod(dim=1), a34)
add("prod_with_zero", lambda a: a.prod(dim=1), torch.tensor([[1.5, 0.0, 2.0], [0.5, -1.0, 3.0]]))
add("amax", lambda a: a.amax(dim=(0, 1)), a234)
add("amin_ties", lambda a: a.amin(dim=1), torch.tensor([[1.0, 0.5, 0.5], [2.0, 3.0, 4.0]]))
add("max_dim", lambda a: a.max(dim=1)[0], a34)
add("min_dim", lambda a: a.min(dim=0)[0], a34)
add("argmin", lambda a: a.argmin(dim=1), a34, grad=False)
add("var", lambda a: a.var(dim=1), a34)
add("var_correction0", lambda a: a.var(dim=(0, 2), correction=0, keepdim=True), a234)
add("std", lambda a: a.std(dim=0), a34)
add("logsumexp", lambda a: a.logsumexp(dim=1), a34 * 10)
add("cumsum", lambda a: a.cumsum(dim=1), a34)
add("cumprod", lambda a: a.cumprod(dim=1), torch.tensor([[1.5, 0.0, 2.0, -1.0], [0.5, -1.0, 3.0, 2.0]]))
add("norm2", lambda a: a.norm(dim=1), a34)
add("norm1", lambda a: torch.linalg.vector_norm(a, ord=1, dim=0), a34)
add("norm3", lambda a: torch.linalg.vector_norm(a, ord=3), a34)
add("norm_inf", lambda a: torch.linalg.vector_norm(a, ord=float("inf"), dim=1), a34)
add("all", lambda a: a.all(dim=1), torch.tensor([[True, False], [True, True]]), grad=False)
add("any", lambda a: a.any(dim=0), torch.tensor([[True, False], [False, False]]), grad=False)
add("sum_int64_exact", lambda a: a.sum(), torch.tensor([2**40 + 1, 2**40 + 3, -5]), grad=False)
# Elementwise
x = torch.linspace(-3, 3, 12).reshape(3, 4)
for name, fn in [("sin", torch.sin), ("cos", torch.cos), ("square", torch.square), ("erf", torch.erf),
                 ("expm1", torch.expm1), ("sigmoid", torch.sigmoid), ("tanh", torch.tanh),
                 ("gelu", F.gelu), ("gelu_tanh", lambda t: F.gelu(t, approximate="tanh")),
                 ("silu", F.silu), ("mish", F.mish), ("softplus", F.softplus),
                 ("softplus_beta", lambda t: F.softplus(t, beta=2, threshold=3)),
                 ("leaky_relu", lambda t: F.leaky_relu(t, 0.1)), ("elu", F.elu),
                 ("hardtanh", lambda t: F.hardtanh(t, -2.0, 2.0)), ("sign", torch.sign),
                 ("floor", torch.floor), ("ceil", torch.ceil), ("round", torch.round),
                 ("trunc", torch.trunc)]:
    add(name, fn, x)
add("gelu_transposed", lambda t: F.gelu(t.t()), x)
p = torch.linspace(0.25, 3, 12).reshape(3, 4)
for name, fn in [("rsqrt", torch.rsqrt), ("reciprocal", torch.reciprocal), ("log1p", torch.log1p),
                 ("log2", torch.log2)]:
    add(name, fn, p)
add("clamp_tensors", lambda a, lo, hi: a.clamp(min=lo, max=hi), a34, torch.full((4,), -0.5), torch.full((3, 1), 0.5))
add("lerp", lambda a, b, w: torch.lerp(a, b, w), a34, r(3, 4), torch.rand(4))
add("addcmul", lambda a, b, c: torch.addcmul(a, b, c, value=0.5), a34, r(3, 4), r(1, 4))
add("isfinite", lambda a: torch.isfinite(a), torch.tensor([1.0, float("inf"), float("nan"), -float("inf")]), grad=False)
add("logical_xor", lambda a, b: torch.logical_xor(a, b), torch.tensor([True, False, True]), torch.tensor([True, True, False]), grad=False)
# Linear algebra
add("matmul_batched_broadcast", lambda a, b: a @ b, r(2, 1, 3, 4), r(3, 4, 2))
add("matmul_vec_mat", lambda a, b: a @ b, r(4), r(2, 4, 3))
add("matmul_dot", lambda a, b: a @ b, r(5), r(5))
add("bmm_transposed", lambda a, b: torch.bmm(a, b.transpose(1, 2)), r(2, 3, 4), r(2, 5, 4))
add("outer", lambda a, b: torch.outer(a, b), r(3), r(4))
# Creation and promotion
add("tril", lambda a: a.tril(), a34)
add("triu_k1", lambda a: a.triu(1), a34)
add("linspace", lambda: torch.linspace(-1, 2, 7), grad=False)
add("arange_float", lambda: torch.arange(0, 1, 0.3), grad=False)
add("eye", lambda: torch.eye(3, 4), grad=False)
add("int_plus_float", lambda a, b: a + b, torch.tensor([1, 2, 3]), torch.tensor([0.5, 0.25, 0.125]), grad=False)
add("int_true_div", lambda a, b: a / b, torch.tensor([1, 7, -3]), torch.tensor([2, 2, 2]), grad=False)

out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "EmberTests", "Fixtures", "tensor_ops.json")
def finite_json(v):
    # JSON has no NaN or infinity: they go as the strings Swift's JSONDecoder reads back.
    if isinstance(v, float) and (v != v or v in (float("inf"), float("-inf"))):
        return "NaN" if v != v else ("Infinity" if v > 0 else "-Infinity")
    if isinstance(v, list):
        return [finite_json(x) for x in v]
    if isinstance(v, dict):
        return {k: finite_json(x) for k, x in v.items()}
    return v


with open(out, "w") as f:
    json.dump(finite_json({"torch": torch.__version__.split("+")[0], "cases": cases}), f,
              separators=(",", ":"), allow_nan=False)
print(len(cases), "cases ->", out)
