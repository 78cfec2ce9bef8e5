"""RNN, LSTM and GRU against torch.nn.RNN / LSTM / GRU in float64 with the same weights.

Outputs, final states, and the gradients of the input, the initial states and every parameter
(backpropagation through time) must agree to float64 precision.
"""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import scratchcore.nn as nn
from scratchcore import Tensor, concatenate, stack
from scratchcore.autograd import gradcheck
from scratchcore.testing import assert_close, check_module_parity
from scratchseq.recurrent import GRU, LSTM, RNN, gru_cell, lstm_cell, rnn_cell
from scratchseq.recurrent.fused import lstm_layer

ATOL, RTOL = 1e-10, 1e-7
BATCH, INPUT, HIDDEN = 3, 4, 5

OURS = {"rnn_tanh": RNN, "rnn_relu": RNN, "lstm": LSTM, "gru": GRU}
THEIRS = {
    "rnn_tanh": torch.nn.RNN,
    "rnn_relu": torch.nn.RNN,
    "lstm": torch.nn.LSTM,
    "gru": torch.nn.GRU,
}


def _kwargs(kind: str, num_layers: int) -> dict:
    extra = {"nonlinearity": "relu"} if kind == "rnn_relu" else {}
    return {"num_layers": num_layers, "batch_first": True} | extra


class Ours(nn.Module):
    """Our layer, with every output flattened into one vector (so one parity check sees all)."""

    def __init__(self, kind: str, num_layers: int) -> None:
        super().__init__()
        self.rnn = OURS[kind](
            INPUT,
            HIDDEN,
            dtype=np.float64,
            rng=np.random.default_rng(1),
            **_kwargs(kind, num_layers),
        )
        self.lstm = kind == "lstm"

    def forward(self, x, *initial):
        if self.lstm:
            output, (h_n, c_n) = self.rnn(x, tuple(initial) if initial else None)
            finals = [h_n, c_n]
        else:
            output, h_n = self.rnn(x, *initial)
            finals = [h_n]
        return concatenate([t.reshape(-1) for t in [output, *finals]])


class Theirs(torch.nn.Module):
    def __init__(self, kind: str, num_layers: int) -> None:
        super().__init__()
        self.rnn = THEIRS[kind](INPUT, HIDDEN, **_kwargs(kind, num_layers))
        self.lstm = kind == "lstm"

    def forward(self, x, *initial):
        if self.lstm:
            output, (h_n, c_n) = self.rnn(x, tuple(initial) if initial else None)
            finals = [h_n, c_n]
        else:
            output, h_n = self.rnn(x, *initial)
            finals = [h_n]
        return torch.cat([t.reshape(-1) for t in [output, *finals]])


@pytest.mark.parametrize("kind", list(OURS))
@pytest.mark.parametrize("num_layers", [1, 2])
@pytest.mark.parametrize("steps", [1, 2, 7])
@pytest.mark.parametrize("with_initial_state", [False, True])
def test_parity_with_torch(kind, num_layers, steps, with_initial_state):
    rng = np.random.default_rng(steps * 10 + num_layers)
    arrays = [rng.standard_normal((BATCH, steps, INPUT))]
    if with_initial_state:
        states = 2 if kind == "lstm" else 1
        arrays += [rng.standard_normal((num_layers, BATCH, HIDDEN)) for _ in range(states)]
    check_module_parity(
        Ours(kind, num_layers), Theirs(kind, num_layers), arrays, atol=ATOL, rtol=RTOL
    )


@pytest.mark.parametrize("layer", [RNN, LSTM, GRU])
def test_parameter_names_and_shapes_match_torch(layer):
    torch_layer = {RNN: torch.nn.RNN, LSTM: torch.nn.LSTM, GRU: torch.nn.GRU}[layer]
    ours = layer(INPUT, HIDDEN, num_layers=2)
    theirs = torch_layer(INPUT, HIDDEN, num_layers=2)
    expected = [(name, tuple(p.shape)) for name, p in theirs.named_parameters()]
    assert [(name, p.shape) for name, p in ours.named_parameters()] == expected


def test_sequence_first_layout_and_no_bias_match_torch():
    rng = np.random.default_rng(3)
    ours = GRU(INPUT, HIDDEN, num_layers=2, bias=False, batch_first=False, dtype=np.float64)
    theirs = torch.nn.GRU(INPUT, HIDDEN, num_layers=2, bias=False, batch_first=False)
    x = rng.standard_normal((6, BATCH, INPUT))  # (T, N, in)
    check_module_parity(_FirstOutput(ours), _FirstOutputTorch(theirs), [x], atol=ATOL, rtol=RTOL)


class _FirstOutput(nn.Module):
    def __init__(self, rnn):
        super().__init__()
        self.rnn = rnn

    def forward(self, x):
        return self.rnn(x)[0]


class _FirstOutputTorch(torch.nn.Module):
    def __init__(self, rnn):
        super().__init__()
        self.rnn = rnn

    def forward(self, x):
        return self.rnn(x)[0]


def test_default_init_is_torchs_uniform():
    """Every parameter from U(-1/sqrt(H), 1/sqrt(H)): within the bound, and filling it."""
    hidden = 64
    bound = 1 / np.sqrt(hidden)
    layer = LSTM(8, hidden, num_layers=2, dtype=np.float64, rng=np.random.default_rng(0))
    values = np.concatenate([p.data.reshape(-1) for p in layer.parameters()])
    assert np.abs(values).max() <= bound
    assert np.abs(values).max() > 0.99 * bound
    # U(-b, b) has mean 0 and variance b^2 / 3; ~70k draws pin both down to about 1%.
    assert abs(values.mean()) < 0.01 * bound
    assert values.var() == pytest.approx(bound**2 / 3, rel=0.02)


def test_dropout_between_layers_only_in_training():
    rng = np.random.default_rng(4)
    x = Tensor(rng.standard_normal((BATCH, 5, INPUT)))
    layer = RNN(INPUT, HIDDEN, num_layers=2, dropout=0.5, dtype=np.float64)
    plain = RNN(INPUT, HIDDEN, num_layers=2, dtype=np.float64)
    plain.load_state_dict(layer.state_dict())
    layer.eval()
    assert_close(layer(x)[0], plain(x)[0], ATOL, RTOL)
    layer.train()
    assert np.abs(layer(x)[0].data - plain(x)[0].data).max() > 1e-3


def test_bad_shapes_are_named():
    layer = LSTM(INPUT, HIDDEN)
    with pytest.raises(ValueError, match=r"LSTM: input must be \(N, T, input_size\)"):
        layer(Tensor(np.zeros((2, 3, INPUT + 1))))
    with pytest.raises(ValueError, match=r"LSTM: initial state .* \(1, 2, 5\); got \(2, 2, 5\)"):
        zeros = Tensor(np.zeros((2, 2, HIDDEN)))
        layer(Tensor(np.zeros((2, 3, INPUT))), (zeros, zeros))
    with pytest.raises(ValueError, match="nonlinearity"):
        RNN(INPUT, HIDDEN, nonlinearity="sigmoid")


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_cells_against_finite_differences(cell):
    """Each cell's backward (the engine's, through the cell's Tensor ops) against central
    differences, with respect to the input projection, the states and both recurrent params."""
    rng = np.random.default_rng(5)
    gates = {"rnn": 1, "lstm": 4, "gru": 3}[cell]
    x_proj = rng.standard_normal((2, gates * 3))
    h, c = rng.standard_normal((2, 3)), rng.standard_normal((2, 3))
    weight_hh, bias_hh = rng.standard_normal((gates * 3, 3)), rng.standard_normal(gates * 3)
    if cell == "rnn":
        assert gradcheck(rnn_cell, [x_proj, h, weight_hh, bias_hh])
    elif cell == "gru":
        assert gradcheck(gru_cell, [x_proj, h, weight_hh, bias_hh])
    else:

        def both(x_proj, h, c, weight_hh, bias_hh):
            return concatenate(lstm_cell(x_proj, h, c, weight_hh, bias_hh), axis=1)

        assert gradcheck(both, [x_proj, h, c, weight_hh, bias_hh])


def _composed_lstm(x_proj, h, c, weight_hh, bias_hh):
    """The reference for the fused layer: ``lstm_cell`` looped over the steps, as Tensor ops."""
    outputs = []
    for t in range(x_proj.shape[1]):  # a loop over time steps, on purpose
        h, c = lstm_cell(x_proj[:, t], h, c, weight_hh, bias_hh)
        outputs.append(h)
    return stack(outputs, axis=1), h, c


class _ComposedLSTM(LSTM):
    """``LSTM`` with every layer run as ``lstm_cell`` looped over the steps (Tensor ops, autograd
    through time): the definition the fused ``lstm_layer`` must reproduce."""

    def sequence(self, x_proj, state, layer):
        _, weight_hh, _, bias_hh = self.layer_parameters(layer)
        output, h_n, c_n = _composed_lstm(x_proj, state[0], state[1], weight_hh, bias_hh)
        return output, (h_n, c_n)


@settings(max_examples=30, deadline=None, derandomize=True)
@given(
    num_layers=st.integers(1, 3),
    input_size=st.integers(1, 4),
    hidden_size=st.integers(1, 4),
    batch=st.integers(1, 3),
    steps=st.sampled_from([1, 1, 2, 3, 5]),
    with_initial_state=st.booleans(),
    bias=st.booleans(),
    batch_first=st.booleans(),
    dropout=st.sampled_from([0.0, 0.0, 0.4]),
    seed=st.integers(0, 2**32 - 1),
)
def test_fused_lstm_equals_the_composed_cells(
    num_layers,
    input_size,
    hidden_size,
    batch,
    steps,
    with_initial_state,
    bias,
    batch_first,
    dropout,
    seed,
):
    """Random stacks, sizes and lengths (T = 1 included): the fused layer and ``lstm_cell``
    looped over time give the same output, h_n and c_n and the same gradients of the input,
    the initial states and every parameter, with gradients arriving at the output AND at both
    final states (so the external dh_T and dc_T terms of the hand-written BPTT count)."""
    rng = np.random.default_rng(seed)
    x_shape = (batch, steps, input_size) if batch_first else (steps, batch, input_size)
    arrays = [rng.standard_normal(x_shape)]
    if with_initial_state:
        arrays += [rng.standard_normal((num_layers, batch, hidden_size)) for _ in range(2)]
    options = dict(num_layers=num_layers, bias=bias, batch_first=batch_first, dropout=dropout)
    fused_layer = LSTM(input_size, hidden_size, **options, dtype=np.float64)
    composed_layer = _ComposedLSTM(input_size, hidden_size, **options, dtype=np.float64)
    composed_layer.load_state_dict(fused_layer.state_dict())
    results = []
    for layer in (fused_layer, composed_layer):
        layer.rng = np.random.default_rng(seed)  # between layers both drop the same units
        inputs = [Tensor(a.copy(), requires_grad=True) for a in arrays]
        output, (h_n, c_n) = layer(inputs[0], tuple(inputs[1:]) or None)
        upstream = np.random.default_rng(seed + 1)
        loss = sum((o * upstream.standard_normal(o.shape)).sum() for o in (output, h_n, c_n))
        loss.backward()
        named_grads = {f"grad of {n}": p.grad for n, p in layer.named_parameters()}
        named_grads.update({f"grad of input {i}": t.grad for i, t in enumerate(inputs)})
        results.append({"output": output.data, "h_n": h_n.data, "c_n": c_n.data, **named_grads})
    fused, composed = results
    assert fused.keys() == composed.keys()
    for name, expected in composed.items():
        assert_close(fused[name], expected, atol=1e-13, rtol=1e-12, name=name)


def test_fused_lstm_layer_gradcheck_and_float32():
    rng = np.random.default_rng(12)
    arrays = [
        rng.standard_normal((2, 3, 8)),
        rng.standard_normal((2, 2)),
        rng.standard_normal((2, 2)),
        rng.standard_normal((8, 2)),
        rng.standard_normal(8),
    ]

    def all_outputs(*inputs):
        output, h_n, c_n = lstm_layer(*inputs)
        return concatenate([output.reshape(-1), h_n.reshape(-1), c_n.reshape(-1)])

    assert gradcheck(all_outputs, [Tensor(a, requires_grad=True) for a in arrays])
    inputs32 = [Tensor(a.astype(np.float32), requires_grad=True) for a in arrays]
    outs = lstm_layer(*inputs32)
    outs[0].sum().backward()
    assert all(o.dtype == np.float32 for o in outs)
    assert all(t.grad.dtype == np.float32 for t in inputs32)
    reference = lstm_layer(*[Tensor(a) for a in arrays])
    for got, want in zip(outs, reference, strict=True):
        assert_close(got.data, want.data, atol=1e-6, rtol=1e-5)
