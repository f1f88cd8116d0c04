"""Writes Tests/EmberTests/Fixtures/recurrent.json: PyTorch's nn.RNN, nn.LSTM and nn.GRU in
several configurations (stacked, bidirectional, batch_first, relu, no bias, unbatched): the
parameters under their state-dict names, the input and initial states, the output and final
states, and the gradients of L = sum(output * g) + sum(h_n) (+ sum(c_n)) for the input and
every parameter; and the cells (nn.RNNCell, nn.LSTMCell, nn.GRUCell) one step each, with the
gradients of L = sum(h' * g) (+ sum(c')). Run from the repo root with the PyTorch reference (shared/reference/setup.sh):

    /tmp/pytorch-reference/venv/bin/python scripts/make_recurrent_fixtures.py
"""
import json
import torch
import torch.nn as nn

torch.manual_seed(0)


def flat(t):
    return t.detach().reshape(-1).double().tolist()


cases = []


def add(name, module, x_shape, with_state=True):
    x = torch.randn(x_shape).requires_grad_(True)
    lstm = isinstance(module, nn.LSTM)
    nd = 2 if module.bidirectional else 1
    batched = len(x_shape) == 3
    n = (x_shape[0] if module.batch_first else x_shape[1]) if batched else None
    sshape = [module.num_layers * nd] + ([n] if batched else []) + [module.hidden_size]
    h0 = torch.randn(sshape) if with_state else None
    c0 = torch.randn(sshape) if with_state and lstm else None
    if lstm:
        out, (h, c) = module(x, (h0, c0)) if with_state else module(x)
    else:
        out, h = module(x, h0) if with_state else module(x)
        c = None
    g = torch.linspace(0.5, 1.5, out.numel()).reshape(out.shape)
    loss = (out * g).sum() + h.sum() + (c.sum() if c is not None else 0)
    loss.backward()
    params = list(module.named_parameters())
    cases.append({
        "name": name, "repr": repr(module), "x_shape": list(x_shape), "x": flat(x),
        "h0": flat(h0) if h0 is not None else None, "c0": flat(c0) if c0 is not None else None,
        "state_shape": sshape,
        "params": [{"name": k, "shape": list(p.shape), "value": flat(p), "grad": flat(p.grad)} for k, p in params],
        "out_shape": list(out.shape), "out": flat(out), "g": flat(g), "h": flat(h),
        "c": flat(c) if c is not None else None, "dx": flat(x.grad)})


add("rnn_tanh_2_layers", nn.RNN(3, 4, num_layers=2), [5, 2, 3])
add("rnn_relu_no_bias", nn.RNN(3, 4, nonlinearity="relu", bias=False), [4, 2, 3], with_state=False)
add("lstm", nn.LSTM(3, 4), [5, 2, 3])
add("lstm_2_layers_bidirectional_batch_first", nn.LSTM(3, 4, num_layers=2, batch_first=True, bidirectional=True), [2, 5, 3])
add("gru", nn.GRU(3, 4), [5, 2, 3])
add("gru_bidirectional_unbatched", nn.GRU(3, 4, bidirectional=True), [6, 3], with_state=False)

cells = []


def add_cell(name, module, x_shape, with_state=True):
    x = torch.randn(x_shape).requires_grad_(True)
    lstm = isinstance(module, nn.LSTMCell)
    sshape = x_shape[:-1] + [module.hidden_size]
    h0 = torch.randn(sshape) if with_state else None
    c0 = torch.randn(sshape) if with_state and lstm else None
    if lstm:
        h, c = module(x, (h0, c0)) if with_state else module(x)
    else:
        h = module(x, h0) if with_state else module(x)
        c = None
    g = torch.linspace(0.5, 1.5, h.numel()).reshape(h.shape)
    loss = (h * g).sum() + (c.sum() if c is not None else 0)
    loss.backward()
    cells.append({
        "name": name, "repr": repr(module), "x_shape": list(x_shape), "x": flat(x),
        "h0": flat(h0) if h0 is not None else None, "c0": flat(c0) if c0 is not None else None,
        "state_shape": sshape,
        "params": [{"name": k, "shape": list(p.shape), "value": flat(p), "grad": flat(p.grad)}
                   for k, p in module.named_parameters()],
        "g": flat(g), "h": flat(h), "c": flat(c) if c is not None else None, "dx": flat(x.grad)})


add_cell("rnn_cell", nn.RNNCell(3, 4), [2, 3])
add_cell("rnn_cell_relu_no_bias", nn.RNNCell(3, 4, bias=False, nonlinearity="relu"), [2, 3], with_state=False)
add_cell("lstm_cell", nn.LSTMCell(3, 4), [2, 3])
add_cell("lstm_cell_unbatched", nn.LSTMCell(3, 4), [3], with_state=False)
add_cell("gru_cell", nn.GRUCell(3, 4), [2, 3])
add_cell("gru_cell_unbatched_no_bias", nn.GRUCell(3, 4, bias=False), [3])

with open("Tests/EmberTests/Fixtures/recurrent.json", "w") as f:
    json.dump({"torch": torch.__version__, "cases": cases, "cells": cells}, f, indent=1)
print(f"wrote {len(cases)} cases and {len(cells)} cells")
