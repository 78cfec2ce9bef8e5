"""Smoke run of experiments/vanishing_gradients.py, and its BPTT gradients against a closed form.

For a tanh RNN, ``d L / d h_{t-1} = (d L / d h_t * (1 - h_t^2)) W_hh``: the recursion the notes
derive, written here in plain NumPy, must give the engine's gradients exactly.
"""

import json
from pathlib import Path

import numpy as np

from scratchcore import Tensor
from scratchcore.testing import assert_close, load_experiment
from scratchseq.recurrent import RNN

SCRIPT = Path(__file__).resolve().parents[1] / "experiments" / "vanishing_gradients.py"


def test_hidden_state_gradients_follow_the_jacobian_product():
    experiment = load_experiment(SCRIPT)
    rng = np.random.default_rng(0)
    batch, steps, inputs, hidden = 3, 6, 4, 5
    model = RNN(inputs, hidden, dtype=np.float64, rng=rng)
    x = rng.standard_normal((batch, steps, inputs))
    w = rng.standard_normal(hidden)
    grads = experiment.hidden_state_gradients(model, Tensor(x), w)["h"]

    w_ih, w_hh = model.weight_ih_l0.data, model.weight_hh_l0.data
    b = model.bias_ih_l0.data + model.bias_hh_l0.data
    h, states = np.zeros((batch, hidden)), []
    for t in range(steps):
        h = np.tanh(x[:, t] @ w_ih.T + h @ w_hh.T + b)
        states.append(h)
    expected = np.zeros((batch, steps, hidden))
    g = np.broadcast_to(w, (batch, hidden))
    for t in reversed(range(steps)):
        expected[:, t] = g
        g = (g * (1 - states[t] ** 2)) @ w_hh  # one step back: diag(1 - h_t^2) W_hh, transposed
    assert_close(grads, expected, atol=1e-12, rtol=1e-9)


def test_vanishing_gradients_smoke(tmp_path):
    metrics = load_experiment(SCRIPT).main(["--smoke", "--out", str(tmp_path)])
    record = json.loads((tmp_path / "vanishing_gradients.json").read_text())
    assert record["experiment"] == "vanishing_gradients" and record["config"]["smoke"] is True
    assert record["metrics"] == metrics
    assert (tmp_path / record["figures"][0]).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    rnn, big = metrics["RNN (tanh)"], metrics["RNN (tanh), W_hh x 4"]
    lstm = metrics["LSTM, forget bias +3"]
    # At the default scale the tanh RNN's gradient shrinks every step; scaled up, it grows; an
    # LSTM whose forget gates start near 1 keeps its cell-state gradient nearly constant.
    assert rnn["factor_per_step"] < 0.8 and rnn["grad_norm_ratio_at_distance_19"] < 1e-3
    assert big["factor_per_step"] > 1.0
    assert lstm["cell_factor_per_step"] > 0.9
    assert rnn["factor_per_step"] < metrics["LSTM"]["factor_per_step"]
