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
    # Time-major buffers, (T, N, ...): every step reads and writes one contiguous slab instead
    # of N rows a whole sequence apart (measured: the step's elementwise work took twice as long
    # on the batch-major slices). One transposing copy in, one out.
    xb = np.ascontiguousarray(xp.transpose(1, 0, 2))  # (T, N, 4H)
    if bias_hh is not None:
        xb += bias_hh.data  # the bias added once, outside the loop
    w_t = np.ascontiguousarray(w.T)  # (H, 4H): BLAS multiplies by it a third faster than by w.T
    gates = np.empty((steps, n, four_h), dtype=dtype)  # activated i, f, g, o of every step
    states_t = np.empty((steps, n, 2 * hidden), dtype=dtype)  # [h_t, c_t]
    tanh_c = np.empty((steps, n, hidden), dtype=dtype)
    # Sequences are independent, so each thread runs the whole time loop for its own block of
    # the batch (its rows ``r``); the loop over time is sequential on purpose.
    rows_per_thread = -(-n // get_num_threads())

    def forward_rows(r: slice) -> None:
        h, c = h0.data[r], c0.data[r]
        with np.errstate(over="ignore"):  # exp(-a) overflowing to inf gives sigma = 0: right
            for t in range(steps):  # the recurrence: step t needs step t - 1
                pre = np.matmul(h, w_t)
                pre += xb[t, r]
                a = gates[t, r]  # sigma of all four blocks in place (1 / (1 + exp(-pre)), as
                np.negative(pre, out=a)  # sigmoid_array), then tanh over the g block: five
                np.exp(a, out=a)  # calls on the whole (n, 4H) instead of three per gate
                a += 1
                np.reciprocal(a, out=a)
                np.tanh(pre[:, 2 * hidden : 3 * hidden], out=a[:, 2 * hidden : 3 * hidden])
                i, f, g, o = (a[:, k * hidden : (k + 1) * hidden] for k in range(4))
                state = states_t[t, r]
                c = np.multiply(f, c, out=state[:, hidden:])  # c_t = f c_{t-1} + i g
                c += i * g
                np.tanh(c, out=tanh_c[t, r])
                h = np.multiply(o, tanh_c[t, r], out=state[:, :hidden])  # h_t = o tanh(c_t)

    for_blocks(n, forward_rows, rows_per_thread)
    states = np.ascontiguousarray(states_t.transpose(1, 0, 2))  # (N, T, 2H), the node's output

    h0_values, c0_values, has_bias = h0.data, c0.data, bias_hh is not None  # not the tensors

    def backward(d_states):
        d_states_t = np.ascontiguousarray(d_states.transpose(1, 0, 2))  # (T, N, 2H)
        d_pre = np.empty((steps, n, 4, hidden), dtype=dtype)  # time-major, gates split
        dh_first = np.empty((n, hidden), dtype=dtype)  # the gradients at h0 and c0
        dc_first = np.empty((n, hidden), dtype=dtype)

        def backward_rows(r: slice) -> None:
            # Every factor of the step equations that does not depend on dh or dc, for all
            # steps at once (whole-array NumPy calls, outside the loop):
            #   dc += dh * o (1 - tanh(c)^2);  dpre = dc * [g i (1 - i), c_prev f (1 - f),
            #   i (1 - g^2)] for i, f, g and dh * tanh(c) o (1 - o) for o
            i, f, g, o = (gates[:, r, k * hidden : (k + 1) * hidden] for k in range(4))
            tc = tanh_c[:, r]
            c_prev = np.concatenate([c0_values[None, r], states_t[:-1, r, hidden:]], axis=0)
            through_h = o * (1 - tc * tc)  # (T, n, H)
            # the factors are written where each step's dpre will go, and turned into it in place
            factors = d_pre[:, r]  # (T, n, 4, H)
            np.multiply(g * i, 1 - i, out=factors[:, :, 0])
            np.multiply(c_prev * f, 1 - f, out=factors[:, :, 1])
            np.multiply(i, 1 - g * g, out=factors[:, :, 2])
            np.multiply(tc * o, 1 - o, out=factors[:, :, 3])
            dh = np.zeros((r.stop - r.start, hidden), dtype=dtype)
            dc = np.zeros_like(dh)
            for t in range(steps - 1, -1, -1):  # backpropagation through time, last step first
                d = d_pre[t, r]  # (n, 4, H)
                dh += d_states_t[t, r, :hidden]
                dc += d_states_t[t, r, hidden:]
                dc += dh * through_h[t]  # c_t reaches the loss through h_t too
                d[:, :3] *= dc[:, None]  # i, f, g: d holds this step's factors until here
                d[:, 3] *= dh  # o
                dh = d.reshape(-1, four_h) @ w  # dh_{t-1} = dpre W
                dc *= f[t]  # dc_{t-1} = dc * f
            dh_first[r], dc_first[r] = dh, dc

        for_blocks(n, backward_rows, rows_per_thread)
        rows = d_pre.reshape(steps * n, four_h)  # every (step, example): one row
        # every step's h_{t-1}: h0, then h_0 .. h_{T-2}, in the same (step, example) order
        h_prev = np.concatenate([h0_values[None], states_t[:-1, :, :hidden]], axis=0)
        d_weight = matmul(rows.T, h_prev.reshape(-1, hidden))  # all N * T steps in one product
        d_bias = rows.sum(axis=0) if has_bias else None
        d_x = np.ascontiguousarray(d_pre.reshape(steps, n, four_h).transpose(1, 0, 2))
        return d_x, dh_first, dc_first, d_weight, d_bias

    parents = (x_proj, h0, c0, weight_hh, bias_hh if bias_hh is not None else Tensor(0.0))
    out = Tensor._make(states, parents, backward, "lstm_layer")
    return out[:, :, :hidden], out[:, -1, :hidden], out[:, -1, hidden:]
