"""A whole LSTM layer as one graph node: the time loop in NumPy, backpropagation through time by
hand.

Notes: ``packages/scratchseq/notes/04-recurrence.md`` (the cell it fuses is ``cells.lstm_cell``).

Why fuse: composed from Tensor ops, one step of ``lstm_cell`` is about twenty graph nodes, so a
128-step sequence is thousands of nodes whose bookkeeping costs more than their arithmetic, and
the recurrent weight gets 128 separate small gradients ``dpre_t^T h_{t-1}`` (each a matmul with an
inner size of only the batch) that must then be summed. Here the forward pass is the same loop
over time on plain arrays, and the backward pass walks the steps in reverse with the derivatives
written out below, collecting every step's pre-activation gradient ``dpre_t`` so that the weight
gradient is ONE matmul over all ``N * T`` rows at the end. ``cells.lstm_cell`` stays the readable
definition; ``tests/test_recurrent.py`` checks this layer against it and against ``torch.nn.LSTM``.

Backward of one step. With ``pre = x_t + h_{t-1} W^T + b`` cut into gates ``i, f, g, o``
(``sigma, sigma, tanh, sigma`` of their blocks), ``c_t = f c_{t-1} + i g`` and
``h_t = o tanh(c_t)``, given ``dh`` and ``dc`` (the loss's gradient w.r.t. ``h_t`` and ``c_t``,
from outside plus from step ``t + 1``)::

    dc   <- dc + dh * o * (1 - tanh(c_t)^2)          # c_t reaches the loss through h_t too
    dpre_o = dh * tanh(c_t) * o (1 - o)
    dpre_i = dc * g * i (1 - i)        dpre_g = dc * i * (1 - g^2)
    dpre_f = dc * c_{t-1} * f (1 - f)
    dh_{t-1} = dpre W                  dc_{t-1} = dc * f

and over all steps ``dW = sum_t dpre_t^T h_{t-1}``, ``db = sum_t sum_n dpre_t``,
``dx_t = dpre_t``.
"""

from __future__ import annotations

import numpy as np

from scratchcore import Tensor, get_num_threads
from scratchcore.parallel import for_blocks, matmul
from scratchcore.tensor import sigmoid_array


def lstm_layer(
    x_proj: Tensor, h0: Tensor, c0: Tensor, weight_hh: Tensor, bias_hh: Tensor | None
) -> tuple[Tensor, Tensor, Tensor]:
    """Run ``lstm_cell`` over every step: ``x_proj`` ``(N, T, 4H)`` (the input's projection, bias
    included), ``h0``, ``c0`` ``(N, H)``, ``weight_hh`` ``(4H, H)``, ``bias_hh`` ``(4H,)`` or
    ``None`` -> ``(output (N, T, H), h_T (N, H), c_T (N, H))``, equal to the composed cells.

    The node's one output holds ``[h_t, c_t]`` side by side, ``(N, T, 2H)``; the three results are
    slices of it, so gradients arriving at any of them land in one buffer (``SliceGrad``).
    """
    xp, w = x_proj.data, weight_hh.data
    n, steps, four_h = xp.shape
    hidden = four_h // 4
    dtype = xp.dtype
    gates = np.empty((n, steps, four_h), dtype=dtype)  # activated i, f, g, o of every step
    states = np.empty((n, steps, 2 * hidden), dtype=dtype)  # [h_t, c_t]
    tanh_c = np.empty((n, steps, hidden), dtype=dtype)
    # Sequences are independent, so each thread runs the whole time loop for its own block of
    # the batch (its rows ``r``); the loop over time is sequential on purpose.
    rows_per_thread = -(-n // get_num_threads())

    def forward_rows(r: slice) -> None:
        h, c = h0.data[r], c0.data[r]
        for t in range(steps):  # the recurrence: step t needs step t - 1
            pre = h @ w.T
            pre += xp[r, t]
            if bias_hh is not None:
                pre += bias_hh.data
            a = gates[r, t]
            a[:, : 2 * hidden] = sigmoid_array(pre[:, : 2 * hidden])  # i and f are adjacent
            np.tanh(pre[:, 2 * hidden : 3 * hidden], out=a[:, 2 * hidden : 3 * hidden])
            a[:, 3 * hidden :] = sigmoid_array(pre[:, 3 * hidden :])
            i, f, g, o = (a[:, k * hidden : (k + 1) * hidden] for k in range(4))
            c = f * c + i * g
            np.tanh(c, out=tanh_c[r, t])
            h = o * tanh_c[r, t]
            states[r, t, :hidden], states[r, t, hidden:] = h, c

    for_blocks(n, forward_rows, rows_per_thread)

    def backward(d_states):
        d_pre = np.empty_like(gates)
        dh_first = np.empty((n, hidden), dtype=dtype)  # the gradients at h0 and c0
        dc_first = np.empty((n, hidden), dtype=dtype)

        def backward_rows(r: slice) -> None:
            dh = np.zeros((r.stop - r.start, hidden), dtype=dtype)
            dc = np.zeros_like(dh)
            for t in range(steps - 1, -1, -1):  # backpropagation through time, last step first
                i, f, g, o = (gates[r, t, k * hidden : (k + 1) * hidden] for k in range(4))
                c_prev = c0.data[r] if t == 0 else states[r, t - 1, hidden:]
                dh = dh + d_states[r, t, :hidden]
                tc = tanh_c[r, t]
                dc = dc + d_states[r, t, hidden:] + dh * o * (1 - tc * tc)
                d = d_pre[r, t]
                d[:, :hidden] = dc * g * i * (1 - i)
                d[:, hidden : 2 * hidden] = dc * c_prev * f * (1 - f)
                d[:, 2 * hidden : 3 * hidden] = dc * i * (1 - g * g)
                d[:, 3 * hidden :] = dh * tc * o * (1 - o)
                dh = d @ w
                dc = dc * f
            dh_first[r], dc_first[r] = dh, dc

        for_blocks(n, backward_rows, rows_per_thread)
        # every step's h_{t-1}: h0, then h_0 .. h_{T-2}
        h_prev = np.concatenate([h0.data[:, None], states[:, :-1, :hidden]], axis=1)
        rows = d_pre.reshape(-1, four_h)
        d_weight = matmul(rows.T, h_prev.reshape(-1, hidden))  # all N * T steps in one product
        d_bias = rows.sum(axis=0) if bias_hh is not None else None
        return d_pre, dh_first, dc_first, d_weight, d_bias

    parents = (x_proj, h0, c0, weight_hh, bias_hh if bias_hh is not None else Tensor(0.0))
    out = Tensor._make(states, parents, backward, "lstm_layer")
    return out[:, :, :hidden], out[:, -1, :hidden], out[:, -1, hidden:]
