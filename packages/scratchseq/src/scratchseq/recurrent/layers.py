"""``RNN``, ``LSTM`` and ``GRU`` layers: a cell looped over time, stacked ``num_layers`` deep.

Notes: ``packages/scratchseq/notes/04-recurrence.md``.

Parameters have PyTorch's names and layouts, so a state dict moves 1:1 into ``torch.nn.RNN`` /
``LSTM`` / ``GRU``: layer ``k`` holds ``weight_ih_l{k}`` ``(G * H, in)``, ``weight_hh_l{k}``
``(G * H, H)``, ``bias_ih_l{k}`` and ``bias_hh_l{k}`` ``(G * H,)``, with ``G`` gates stacked in
PyTorch's order. Every one starts as U(-1/sqrt(H), 1/sqrt(H)), PyTorch's default.

Backpropagation through time is nothing special here: the forward pass unrolls the loop into one
graph of Tensor ops, and the engine's ordinary reverse pass walks it back from the last step to
the first.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

import scratchcore.nn.functional as F
from scratchcore import Tensor, stack
from scratchcore.nn import Module, Parameter, init
from scratchseq.recurrent.cells import gru_cell, lstm_cell, rnn_cell
from scratchseq.recurrent.fused import lstm_layer

State = tuple[Tensor, ...]  # (h,) for the RNN and GRU, (h, c) for the LSTM


def unbind_time(x: Tensor) -> list[Tensor]:
    """``(N, T, F)`` -> ``T`` tensors of shape ``(N, F)``, one per time step.

    ``Tensor.unbind``: each step is a slice ``x[:, t]``, and its backward hands back only that
    step's gradient, which the engine writes into one buffer the size of ``x``: the T slices cost
    one sequence's worth of gradient memory in all. (Before slices worked that way, each one cost
    a zero array as large as the whole sequence, O(T^2) in all, and this function halved the
    sequence recursively to bring that down to O(T log T); the LSTM now skips it altogether,
    see ``LSTM.sequence``.)
    """
    return list(x.unbind(axis=1))


class _RecurrentLayer(Module):
    """What RNN, LSTM and GRU share: parameters, shape checks, and the loops over layers and time.

    A subclass sets ``gates`` and ``state_count`` and defines ``cell(x_proj, state, layer)``.
    """

    gates = 1
    state_count = 1  # the LSTM carries two states, h and c

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = True,
        dropout: float = 0.0,
        dtype: Any = np.float32,
        rng: np.random.Generator | None = None,
    ) -> None:
        super().__init__()
        name = type(self).__name__
        if input_size < 1 or hidden_size < 1 or num_layers < 1:
            raise ValueError(
                f"{name}: input_size, hidden_size and num_layers must be >= 1; got "
                f"{input_size}, {hidden_size}, {num_layers}"
            )
        if not 0.0 <= dropout <= 1.0:
            raise ValueError(f"{name}: dropout must be a probability in [0, 1]; got {dropout}")
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        self.bias, self.batch_first, self.dropout, self.rng = bias, batch_first, dropout, rng
        rows = self.gates * hidden_size
        for k in range(num_layers):
            columns = input_size if k == 0 else hidden_size
            setattr(self, f"weight_ih_l{k}", Parameter(np.empty((rows, columns), dtype=dtype)))
            setattr(self, f"weight_hh_l{k}", Parameter(np.empty((rows, hidden_size), dtype=dtype)))
            if bias:
                setattr(self, f"bias_ih_l{k}", Parameter(np.empty(rows, dtype=dtype)))
                setattr(self, f"bias_hh_l{k}", Parameter(np.empty(rows, dtype=dtype)))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Every weight and bias from U(-1/sqrt(H), 1/sqrt(H)), as PyTorch's recurrent layers."""
        bound = 1 / math.sqrt(self.hidden_size)
        for p in self.parameters():
            init.uniform_(p, -bound, bound, self.rng)

    def layer_parameters(self, k: int) -> tuple[Tensor, Tensor, Tensor | None, Tensor | None]:
        """``(weight_ih, weight_hh, bias_ih, bias_hh)`` of layer ``k`` (biases ``None`` if off)."""
        return (
            getattr(self, f"weight_ih_l{k}"),
            getattr(self, f"weight_hh_l{k}"),
            getattr(self, f"bias_ih_l{k}", None),
            getattr(self, f"bias_hh_l{k}", None),
        )

    def cell(self, x_proj: Tensor, state: State, layer: int) -> State:
        raise NotImplementedError

    def _check(self, x: Tensor, states: State | None) -> None:
        name = type(self).__name__
        if x.ndim != 3 or x.shape[-1] != self.input_size:
            layout = "(N, T, input_size)" if self.batch_first else "(T, N, input_size)"
            raise ValueError(
                f"{name}: input must be {layout} with input_size={self.input_size}; "
                f"got shape {x.shape}"
            )
        if x.shape[1 if self.batch_first else 0] == 0:
            raise ValueError(f"{name}: the sequence is empty (input shape {x.shape})")
        batch = x.shape[0 if self.batch_first else 1]
        expected = (self.num_layers, batch, self.hidden_size)
        for s in states or ():
            if s.shape != expected:
                raise ValueError(
                    f"{name}: initial state must have shape (num_layers, N, hidden_size) = "
                    f"{expected}; got {s.shape}"
                )

    def _run(self, x: Tensor, states: State | None) -> tuple[Tensor, State]:
        """``x`` ``(N, T, in)`` (or ``(T, N, in)``) -> output of the top layer at every step and
        the final states, each ``(num_layers, N, H)``."""
        x = x if isinstance(x, Tensor) else Tensor(x)
        self._check(x, states)
        if not self.batch_first:
            x = x.transpose(0, 1)
        batch = x.shape[0]
        if states is None:
            zeros = Tensor(np.zeros((self.num_layers, batch, self.hidden_size), dtype=x.dtype))
            states = (zeros,) * self.state_count
        finals: list[State] = []
        for k in range(self.num_layers):
            if k > 0 and self.training and self.dropout > 0:
                x = F.dropout(x, self.dropout, training=True, rng=self.rng)
            weight_ih, _, bias_ih, _ = self.layer_parameters(k)
            # The input's contribution for all T steps in one matmul: (N, T, G * H).
            x_proj = F.linear(x, weight_ih, bias_ih)
            state = tuple(s[k] for s in states)
            # The recurrence over time (step t needs step t - 1): the cell looped over the steps,
            # or for the LSTM one fused node (see ``sequence``). ``x`` becomes (N, T, H), this
            # layer's h_t at every step, which is the next layer's input.
            x, state = self.sequence(x_proj, state, k)
            finals.append(state)
        final = tuple(stack([f[i] for f in finals], axis=0) for i in range(self.state_count))
        return (x if self.batch_first else x.transpose(0, 1)), final

    def sequence(self, x_proj: Tensor, state: State, layer: int) -> tuple[Tensor, State]:
        """Layer ``layer`` over the whole sequence: ``x_proj`` ``(N, T, G * H)`` and the initial
        state -> ``(h_t at every step (N, T, H), final state)``, by looping ``cell``."""
        outputs = []
        for x_proj_t in unbind_time(x_proj):  # the recurrence: a loop over time on purpose
            state = self.cell(x_proj_t, state, layer)
            outputs.append(state[0])
        return stack(outputs, axis=1), state

    def extra_repr(self) -> str:
        text = f"{self.input_size}, {self.hidden_size}"
        if self.num_layers != 1:
            text += f", num_layers={self.num_layers}"
        if not self.bias:
            text += ", bias=False"
        text += f", batch_first={self.batch_first}"
        return text + (f", dropout={self.dropout}" if self.dropout else "")


class RNN(_RecurrentLayer):
    """Elman RNN: ``h_t = tanh(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh)``, as ``torch.nn.RNN``.

    ``forward(x, h0=None)``: ``x`` ``(N, T, input_size)`` (``batch_first``, the default here) or
    ``(T, N, input_size)``; ``h0`` ``(num_layers, N, H)``, zeros if omitted. Returns
    ``(output, h_n)``: the top layer's ``h_t`` at every step, ``(N, T, H)``, and every layer's
    last state, ``(num_layers, N, H)``.
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        nonlinearity: str = "tanh",
        **kwargs: Any,
    ) -> None:
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"RNN: nonlinearity must be 'tanh' or 'relu'; got {nonlinearity!r}")
        self.nonlinearity = nonlinearity
        super().__init__(input_size, hidden_size, num_layers, **kwargs)

    def cell(self, x_proj: Tensor, state: State, layer: int) -> State:
        _, weight_hh, _, bias_hh = self.layer_parameters(layer)
        return (rnn_cell(x_proj, state[0], weight_hh, bias_hh, self.nonlinearity),)

    def forward(self, x: Tensor, h0: Tensor | None = None) -> tuple[Tensor, Tensor]:
        output, (h_n,) = self._run(x, None if h0 is None else (h0,))
        return output, h_n

    def extra_repr(self) -> str:
        return super().extra_repr() + f", nonlinearity={self.nonlinearity!r}"


class LSTM(_RecurrentLayer):
    """Long short-term memory, as ``torch.nn.LSTM`` (gates i, f, g, o; no projection).

    ``forward(x, hx=None)`` with ``hx = (h0, c0)``, each ``(num_layers, N, H)``, zeros if
    omitted. Returns ``(output, (h_n, c_n))``; ``output`` is ``(N, T, H)`` as for ``RNN``.
    """

    gates = 4
    state_count = 2

    def cell(self, x_proj: Tensor, state: State, layer: int) -> State:
        _, weight_hh, _, bias_hh = self.layer_parameters(layer)
        return lstm_cell(x_proj, state[0], state[1], weight_hh, bias_hh)

    def sequence(self, x_proj: Tensor, state: State, layer: int) -> tuple[Tensor, State]:
        """``cell`` over every step as ONE graph node with a hand-written backward through time
        (``fused.lstm_layer``): the same numbers, a fraction of the time."""
        _, weight_hh, _, bias_hh = self.layer_parameters(layer)
        output, h_n, c_n = lstm_layer(x_proj, state[0], state[1], weight_hh, bias_hh)
        return output, (h_n, c_n)

    def forward(
        self, x: Tensor, hx: tuple[Tensor, Tensor] | None = None
    ) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        if hx is not None and len(hx) != 2:
            raise ValueError(f"LSTM: hx must be a pair (h0, c0); got {len(hx)} tensors")
        output, (h_n, c_n) = self._run(x, None if hx is None else tuple(hx))
        return output, (h_n, c_n)


class GRU(_RecurrentLayer):
    """Gated recurrent unit, as ``torch.nn.GRU`` (gates r, z, n).

    ``forward(x, h0=None)`` and its return value are those of ``RNN``.
    """

    gates = 3

    def cell(self, x_proj: Tensor, state: State, layer: int) -> State:
        _, weight_hh, _, bias_hh = self.layer_parameters(layer)
        return (gru_cell(x_proj, state[0], weight_hh, bias_hh),)

    def forward(self, x: Tensor, h0: Tensor | None = None) -> tuple[Tensor, Tensor]:
        output, (h_n,) = self._run(x, None if h0 is None else (h0,))
        return output, h_n
