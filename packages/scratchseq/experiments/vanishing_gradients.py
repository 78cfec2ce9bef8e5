"""How far back does a gradient reach? ``||d L / d h_t||`` against the distance ``T - t``.

Notes: ``packages/scratchseq/notes/04-recurrence.md`` (the evidence section).

At initialisation, on random inputs, a loss that reads only the last hidden state,
``L = sum_n <w, h_T^(n)>`` for a fixed random unit vector ``w``, is backpropagated through time.
The norm of its gradient with respect to each earlier state ``h_t`` (per sequence, averaged over
the batch, divided by its value at ``t = T``) says how much a change at step ``t`` can still move
the loss: in a vanilla tanh RNN it shrinks geometrically, by at most ``||W_hh||_2`` per step; the
LSTM's cell state and the GRU's interpolation keep it alive for much longer. A vanilla RNN with
its recurrent weights scaled up shows the other failure: gradients that grow before the tanh
saturates.

    uv run python packages/scratchseq/experiments/vanishing_gradients.py [--smoke] [--seed N]

Writes ``results/vanishing_gradients.json`` and ``results/vanishing_gradients.png``.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

import scratchcore.nn.functional as F
from scratchcore import Tensor
from scratchcore.train import (
    experiment_parser,
    plot_curves,
    progress,
    seed_everything,
    write_results,
)
from scratchseq.recurrent import GRU, LSTM, RNN
from scratchseq.recurrent.layers import unbind_time

# How a re-run must match the committed results (``uv run python -m checks.reproduce``).
REPRODUCE = {
    "tolerances": [
        (
            "*spectral_norm",
            "1e-10%",
            "an SVD in LAPACK, whose kernels differ by CPU model in the last bits",
        ),
        ("*", 0, "seeded initialisation and inputs, no training: the same operations every run"),
    ],
}


@dataclass
class Config:
    input_size: int = 16
    hidden_size: int = 64
    steps: int = 100
    batch_size: int = 32
    # (label, layer, multiplier of W_hh after the default init, added to the LSTM's forget bias)
    models: list[tuple[str, str, float, float]] = field(
        default_factory=lambda: [
            ("RNN (tanh)", "rnn", 1.0, 0.0),
            ("RNN (tanh), W_hh x 4", "rnn", 4.0, 0.0),
            ("LSTM", "lstm", 1.0, 0.0),
            ("LSTM, forget bias +1", "lstm", 1.0, 1.0),
            ("LSTM, forget bias +3", "lstm", 1.0, 3.0),
            ("GRU", "gru", 1.0, 0.0),
        ]
    )
    report_distances: list[int] = field(default_factory=lambda: [1, 10, 25, 50, 99])


SMOKE = Config(hidden_size=16, steps=20, batch_size=4, report_distances=[1, 10, 19])
LAYERS = {"rnn": RNN, "lstm": LSTM, "gru": GRU}


def hidden_state_gradients(
    model: RNN | LSTM | GRU, x: Tensor, w: np.ndarray
) -> dict[str, np.ndarray]:
    """``d L / d h_t`` (and ``d L / d c_t`` for an LSTM) for ``L = sum_n <w, h_T^(n)>``.

    ``x`` is ``(N, T, input_size)``; ``w`` is ``(H,)``. The first layer is unrolled with the
    layer's own cell so that every intermediate state can keep its gradient; the backward pass
    is the engine's. Returns ``{"h": (N, T, H)}`` (plus ``"c"`` for the LSTM).
    """
    weight_ih, _, bias_ih, _ = model.layer_parameters(0)
    x_proj = F.linear(x, weight_ih, bias_ih)
    zeros = Tensor(np.zeros((x.shape[0], model.hidden_size), dtype=x.dtype))
    state = (zeros,) * model.state_count
    history = []
    for x_proj_t in unbind_time(x_proj):
        state = tuple(s.retain_grad() for s in model.cell(x_proj_t, state, 0))
        history.append(state)
    (state[0] * w).sum().backward()
    names = ["h", "c"][: model.state_count]
    return {name: np.stack([s[i].grad for s in history], axis=1) for i, name in enumerate(names)}


def relative_norms(grads: np.ndarray) -> np.ndarray:
    """``(N, T, H)`` gradients -> ``(T,)`` mean per-sequence norm, over distance ``T - t`` =
    0, 1, ..., T - 1, divided by the norm at distance 0."""
    norms = np.linalg.norm(grads, axis=2).mean(axis=0)[::-1]
    return norms / norms[0]


def main(argv: list[str] | None = None) -> dict:
    parser = experiment_parser(__doc__, default_out=Path(__file__).parent / "results")
    args = parser.parse_args(argv)
    config = SMOKE if args.smoke else Config()
    start = time.perf_counter()
    rng = seed_everything(args.seed)

    x = Tensor(rng.standard_normal((config.batch_size, config.steps, config.input_size)))
    w = rng.standard_normal(config.hidden_size)
    w /= np.linalg.norm(w)
    curves, metrics = {}, {}
    for label, kind, scale, forget_bias in progress(config.models, desc="BPTT at init"):
        model = LAYERS[kind](config.input_size, config.hidden_size, dtype=np.float64, rng=rng)
        model.weight_hh_l0.data *= scale
        if kind == "lstm":  # gates i, f, g, o: the second block of H rows is the forget gate
            model.bias_hh_l0.data[config.hidden_size : 2 * config.hidden_size] += forget_bias
        grads = hidden_state_gradients(model, x, w)
        norms = relative_norms(grads["h"])
        distance = np.arange(config.steps)
        curves[label] = (distance, norms)
        entry = {
            f"grad_norm_ratio_at_distance_{d}": float(norms[d]) for d in config.report_distances
        }
        # The geometric-mean factor by which the gradient shrinks (< 1) or grows per step back.
        entry["factor_per_step"] = float(norms[-1] ** (1 / (config.steps - 1)))
        if kind == "rnn":
            # The per-step Jacobian is diag(1 - h^2) W_hh: its norm is at most ||W_hh||_2.
            entry["w_hh_spectral_norm"] = float(np.linalg.norm(model.weight_hh_l0.data, ord=2))
        if kind == "lstm":
            cell_norms = relative_norms(grads["c"])
            entry |= {
                f"cell_grad_norm_ratio_at_distance_{d}": float(cell_norms[d])
                for d in config.report_distances
            }
            entry["cell_factor_per_step"] = float(cell_norms[-1] ** (1 / (config.steps - 1)))
        metrics[label] = entry
    wall_time = time.perf_counter() - start

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    figure = plot_curves(
        curves,
        out / "vanishing_gradients.png",
        "distance T - t (steps back in time)",
        "||dL/dh_t|| / ||dL/dh_T||",
        title=f"gradients through time at initialisation (H = {config.hidden_size})",
        logy=True,
    )
    write_results(
        out,
        experiment="vanishing_gradients",
        package="scratchseq",
        seed=args.seed,
        config=asdict(config) | {"smoke": args.smoke},
        metrics=metrics,
        wall_time_s=wall_time,
        figures=[figure.name],
    )
    for label, entry in metrics.items():
        print(label, {k: f"{v:.3g}" for k, v in entry.items()})
    return metrics


if __name__ == "__main__":
    main()
