"""One time step of a vanilla RNN, an LSTM and a GRU, written with scratchcore Tensor ops.

Notes: ``packages/scratchseq/notes/04-recurrence.md``.

Each cell maps the input's projection at step ``t`` and the previous state to the next state.
The input projection ``x_t W_ih^T + b_ih`` does not depend on the state, so the layers compute
it for every step at once (one matmul over the whole sequence) and hand the cells one slice of
it; only the recurrent part ``h_{t-1} W_hh^T + b_hh`` has to wait for the previous step.

Shapes: ``x_proj`` is ``(N, G * H)`` for batch ``N``, hidden size ``H`` and ``G`` gates (1 for
the RNN, 4 for the LSTM, 3 for the GRU); every state is ``(N, H)``; ``weight_hh`` is
``(G * H, H)`` and ``bias_hh`` ``(G * H,)`` (or ``None``), stacked gate by gate as PyTorch.
"""

from __future__ import annotations

import scratchcore.nn.functional as F
from scratchcore import Tensor


def _chunks(x: Tensor, count: int) -> list[Tensor]:
    """Split the last axis of ``x`` into ``count`` equal blocks: one per gate."""
    # chunk's backward hands each gate's gradient back as a piece of one (N, G * H) buffer
    return list(x.chunk(count, axis=-1))


def rnn_cell(
    x_proj: Tensor,
    h: Tensor,
    weight_hh: Tensor,
    bias_hh: Tensor | None,
    nonlinearity: str = "tanh",
) -> Tensor:
    """Elman's recurrence: ``h_t = tanh(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh)``.

    ``nonlinearity`` is ``"tanh"`` or ``"relu"``, as ``torch.nn.RNN``.
    """
    pre = x_proj + F.linear(h, weight_hh, bias_hh)
    return pre.tanh() if nonlinearity == "tanh" else pre.relu()


def lstm_cell(
    x_proj: Tensor, h: Tensor, c: Tensor, weight_hh: Tensor, bias_hh: Tensor | None
) -> tuple[Tensor, Tensor]:
    """Hochreiter & Schmidhuber's LSTM with a forget gate; gates in PyTorch's order i, f, g, o.

    ``c_t = f * c_{t-1} + i * g`` is the additive path: the gradient from ``c_t`` to ``c_{t-1}``
    is ``f`` (elementwise), with no weight matrix and no squashing in between.
    ``h_t = o * tanh(c_t)`` is what the layer shows the world. Returns ``(h_t, c_t)``.
    """
    i, f, g, o = _chunks(x_proj + F.linear(h, weight_hh, bias_hh), 4)
    c = f.sigmoid() * c + i.sigmoid() * g.tanh()
    return o.sigmoid() * c.tanh(), c


def gru_cell(x_proj: Tensor, h: Tensor, weight_hh: Tensor, bias_hh: Tensor | None) -> Tensor:
    """Cho et al.'s gated recurrent unit; gates in PyTorch's order r, z, n.

    ``r = sigma(x_r + W_hr h + b_hr)``, ``z = sigma(x_z + W_hz h + b_hz)``,
    ``n = tanh(x_n + r * (W_hn h + b_hn))`` — the reset gate multiplies the *projected* state,
    bias included, as PyTorch (and cuDNN) do — then ``h_t = (1 - z) * n + z * h_{t-1}``: an
    interpolation, so ``z`` near 1 copies the state forward unchanged.
    """
    x_r, x_z, x_n = _chunks(x_proj, 3)
    h_r, h_z, h_n = _chunks(F.linear(h, weight_hh, bias_hh), 3)
    r = (x_r + h_r).sigmoid()
    z = (x_z + h_z).sigmoid()
    n = (x_n + r * h_n).tanh()
    return (1 - z) * n + z * h
