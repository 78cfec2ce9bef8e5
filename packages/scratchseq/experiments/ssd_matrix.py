"""The matrix behind Mamba-2: a selective SSM written out as one (T, T) matrix, and its blocks.

Notes: ``packages/scratchseq/notes/15-state-space-models.md`` (sections 5, 6 and 8).

A scalar-decay SSM, ``h_t = exp(a_t) h_{t-1} + x_t B_t^T``, ``y_t = h_t C_t``, computes
``y = M x`` with ``M = L ∘ (C B^T)`` and ``L = exp(segsum(a))``. For one head of a small random
selective SSM (float64, seeded; ``a_t = Δ_t A`` with a different step ``Δ_t`` at every
position, as when ``Δ`` is computed from the input) this script

* builds ``L`` and ``M`` with the package's own ``segsum`` and checks that ``M x`` is what the
  three SSD forms compute: the recurrent scan, the quadratic form and the chunked algorithm
  (``scratchseq.ssm.ssd``), also at a length the chunk size does not divide;
* cuts ``M`` into chunk-by-chunk blocks and measures the numerical rank of each (the diagonal
  blocks are full; an off-diagonal block factors through the N-dimensional state, so its rank
  is at most N), and how small the singular values beyond the N-th are;
* draws ``L``, ``M`` with the chunk grid, and the rank of every block.

    uv run python packages/scratchseq/experiments/ssd_matrix.py [--smoke] [--seed N] [--out DIR]

Writes ``results/ssd_matrix.json`` and ``results/ssd_matrix.png``. Runs in about a second (the
smoke run is the same size: the experiment is already tiny).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from scratchcore.tensor import Tensor
from scratchcore.train import experiment_parser, save_figure, seed_everything, write_results
from scratchseq.ssm import segsum, ssd_chunked, ssd_quadratic, ssd_scan

# How a re-run must match the committed results (``uv run python -m checks.reproduce``).
REPRODUCE = {
    "tolerances": [
        ("*", 0, "seeded float64 inputs, no training: the same operations every run"),
    ],
}


@dataclass
class Config:
    length: int = 24  # T: the sequence the matrix is drawn for
    chunk_size: int = 6  # Q: T / Q = 4 chunks, a 4 x 4 grid of blocks
    state_size: int = 4  # N: the rank bound of every off-diagonal block (< Q, so it shows)
    head_dim: int = 2  # P: columns of x (the matrix M does not depend on it)
    ragged_length: int = 23  # a length the chunk size does not divide: the padded path
    decay: float = 0.3  # -A: a_t = -decay * Δ_t


SMOKE = Config()  # already seconds-small; the smoke run is the full run


def random_selective_ssm(config: Config, rng: np.random.Generator, length: int) -> dict:
    """One head's inputs, float64, with a batch axis of 1 in the SSD layout.

    ``Δ_t = softplus(z_t)``, ``z_t ~ N(-1, 1)``: a step of about 0.3 that differs from position
    to position, the way a selective SSM's does; ``a_t = -decay * Δ_t``; ``x``, ``B``, ``C``
    standard normal. Shapes: X (1, T, 1, P), A (1, T, 1), B and C (1, T, 1, N).
    """
    delta = np.logaddexp(0.0, rng.normal(-1.0, 1.0, length))
    return {
        "X": rng.standard_normal((1, length, 1, config.head_dim)),
        "A": (-config.decay * delta).reshape(1, length, 1),
        "B": rng.standard_normal((1, length, 1, config.state_size)),
        "C": rng.standard_normal((1, length, 1, config.state_size)),
    }


def ssd_matrices(problem: dict) -> tuple[np.ndarray, np.ndarray]:
    """``L = exp(segsum(a))`` and ``M = L ∘ (C B^T)``, both (T, T), for the one head of
    ``problem`` — with the package's ``segsum``, the one ``ssd_quadratic`` uses."""
    a = problem["A"][0, :, 0]
    B, C = problem["B"][0, :, 0], problem["C"][0, :, 0]
    L = segsum(Tensor(a)).exp().data
    return L, L * (C @ B.T)


def max_abs(u: np.ndarray, v: np.ndarray) -> float:
    return float(np.abs(u - v).max())


def compare_forms(problem: dict, chunk_size: int) -> dict[str, float]:
    """Largest absolute differences between the three SSD forms and ``M x``, outputs and final
    states."""
    args = (problem["X"], problem["A"], problem["B"], problem["C"])
    y_scan, h_scan = ssd_scan(*args)
    y_quad, h_quad = ssd_quadratic(*args)
    y_chunk, h_chunk = ssd_chunked(*args, chunk_size=chunk_size)
    _, M = ssd_matrices(problem)
    y_matrix = M @ problem["X"][0, :, 0]  # (T, P)
    return {
        "scan_vs_quadratic": max_abs(y_scan.data, y_quad.data),
        "scan_vs_chunked": max_abs(y_scan.data, y_chunk.data),
        "quadratic_vs_chunked": max_abs(y_quad.data, y_chunk.data),
        "matrix_vs_scan": max_abs(y_matrix, y_scan.data[0, :, 0]),
        "final_state_scan_vs_chunked": max_abs(h_scan.data, h_chunk.data),
        "final_state_scan_vs_quadratic": max_abs(h_scan.data, h_quad.data),
        "largest_output": float(np.abs(y_scan.data).max()),
    }


def block_structure(M: np.ndarray, chunk_size: int, state_size: int) -> dict:
    """The numerical rank of every (Q, Q) block of ``M`` (``np.linalg.matrix_rank``'s default
    tolerance: singular values below ``σ_1 · Q · eps`` count as zero), and for the blocks below
    the diagonal the largest ratio ``σ_{N+1} / σ_1`` (what the rank bound leaves over)."""
    c = M.shape[0] // chunk_size
    ranks = np.zeros((c, c), dtype=int)
    beyond = []
    for i in range(c):  # a handful of blocks: the loop is over the grid, not the entries
        for j in range(i + 1):
            block = M[i * chunk_size : (i + 1) * chunk_size, j * chunk_size : (j + 1) * chunk_size]
            ranks[i, j] = np.linalg.matrix_rank(block)
            if i > j:
                s = np.linalg.svd(block, compute_uv=False)  # descending, min(Q, Q) of them
                beyond.append(float(s[state_size] / s[0]) if state_size < len(s) else 0.0)
    below = [int(ranks[i, j]) for i in range(c) for j in range(i)]
    return {
        "block_ranks": ranks.tolist(),  # row i, column j: chunk i's outputs from chunk j's inputs
        "diagonal_block_ranks": [int(ranks[i, i]) for i in range(c)],
        "off_diagonal_block_ranks": below,
        "max_off_diagonal_block_rank": max(below),
        "max_singular_value_ratio_beyond_state_size": max(beyond),
    }


def plot(L: np.ndarray, M: np.ndarray, ranks: np.ndarray, config: Config) -> Figure:
    t, q = L.shape[0], config.chunk_size
    c = t // q
    upper = np.triu(np.ones_like(L, dtype=bool), k=1)
    fig = Figure(figsize=(14.0, 4.6), layout="constrained")
    left, middle, right = fig.subplots(1, 3)

    image = left.imshow(np.ma.masked_array(L, upper), cmap="viridis", vmin=0, vmax=1)
    left.set_title(r"$L = \exp(\mathrm{segsum}(a))$: decay from $s$ to $t$")
    fig.colorbar(image, ax=left, shrink=0.8)

    bound = np.abs(M).max()
    image = middle.imshow(np.ma.masked_array(M, upper), cmap="RdBu_r", vmin=-bound, vmax=bound)
    middle.set_title(r"$M = L \circ (C B^\top)$, cut into chunks of " + f"{q}")
    fig.colorbar(image, ax=middle, shrink=0.8)
    for k in range(1, c):  # the chunk grid
        middle.axhline(k * q - 0.5, color="k", lw=1.2)
        middle.axvline(k * q - 0.5, color="k", lw=1.2)
    for i in range(c):
        middle.add_patch(
            Rectangle((i * q - 0.5, i * q - 0.5), q, q, fill=False, ec="tab:orange", lw=2.5)
        )
    label = dict(ha="center", va="center", fontsize=9, bbox=dict(fc="white", ec="none", alpha=0.85))
    middle.text((c - 1.5) * q - 0.5, 0.5 * q - 0.5, "diagonal blocks\n(orange): full", **label)
    middle.text(0.5 * q - 0.5, (c - 0.5) * q - 0.5, f"rank ≤ N = {config.state_size}", **label)
    for ax in (left, middle):
        ax.set_xlabel("input position s")
        ax.set_ylabel("output position t")

    grid = np.ma.masked_array(ranks, np.triu(np.ones_like(ranks, dtype=bool), k=1))
    right.imshow(grid, cmap="Oranges", vmin=0, vmax=q + 2)
    for i in range(c):
        for j in range(i + 1):
            right.text(j, i, str(ranks[i, j]), ha="center", va="center", fontsize=13)
    right.set_title(f"numerical rank of each {q}×{q} block")
    right.set_xticks(range(c), [f"chunk {j}" for j in range(c)])
    right.set_yticks(range(c), [f"chunk {i}" for i in range(c)])
    right.set_xlabel("inputs from")
    right.set_ylabel("outputs of")
    return fig


def main(argv: list[str] | None = None) -> dict:
    parser = experiment_parser(__doc__, default_out=Path(__file__).parent / "results")
    args = parser.parse_args(argv)
    config = SMOKE if args.smoke else Config()
    if config.length % config.chunk_size:
        raise ValueError("ssd_matrix: the drawn length must be a multiple of the chunk size")
    start = time.perf_counter()
    rng = seed_everything(args.seed)

    problem = random_selective_ssm(config, rng, config.length)
    ragged = random_selective_ssm(config, rng, config.ragged_length)
    L, M = ssd_matrices(problem)
    structure = block_structure(M, config.chunk_size, config.state_size)
    metrics = {
        "max_abs_difference": {
            f"length_{config.length}": compare_forms(problem, config.chunk_size),
            f"length_{config.ragged_length}": compare_forms(ragged, config.chunk_size),
        },
        "decay_matrix": {
            "upper_triangle_max_abs": float(np.abs(L[np.triu_indices_from(L, k=1)]).max()),
            "diagonal_max_abs_deviation_from_one": float(np.abs(np.diag(L) - 1).max()),
            "smallest_entry_below_diagonal": float(L[np.tril_indices_from(L, k=-1)].min()),
        },
        **structure,
    }
    wall_time = time.perf_counter() - start

    fig = plot(L, M, np.array(structure["block_ranks"]), config)
    figure = save_figure(fig, Path(args.out) / "ssd_matrix.png")
    write_results(
        args.out,
        experiment="ssd_matrix",
        package="scratchseq",
        seed=args.seed,
        config=asdict(config) | {"smoke": args.smoke},
        metrics=metrics,
        wall_time_s=wall_time,
        figures=[figure.name],
    )
    for name, diffs in metrics["max_abs_difference"].items():
        print(
            f"{name}: scan vs quadratic {diffs['scan_vs_quadratic']:.1e}, scan vs chunked "
            f"{diffs['scan_vs_chunked']:.1e}, quadratic vs chunked "
            f"{diffs['quadratic_vs_chunked']:.1e}, M x vs scan {diffs['matrix_vs_scan']:.1e}"
        )
    print(
        f"block ranks (chunk {config.chunk_size}, state {config.state_size}): diagonal "
        f"{structure['diagonal_block_ranks']}, below the diagonal "
        f"{structure['off_diagonal_block_ranks']}; largest sigma_(N+1)/sigma_1 "
        f"{structure['max_singular_value_ratio_beyond_state_size']:.1e}"
    )
    return metrics


if __name__ == "__main__":
    main()
