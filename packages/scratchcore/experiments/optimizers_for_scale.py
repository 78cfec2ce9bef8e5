"""AdamW, Schedule-Free AdamW, Muon, Shampoo and Lion on a tiny GPT and a small CNN, at equal steps.

Notes: ``packages/scratchcore/notes/08-optimizers-for-scale.md`` (section "The evidence").

Two models, each trained for the same number of steps by every optimizer, from the *same* initial
weights and on the *same* minibatches in the same order, so the curves differ only by the update
rule:

* **lm** — a character-level causal transformer (GPT-style, pre-norm): token and position
  embeddings (d = 64), two ``TransformerEncoderLayer`` blocks run with ``is_causal=True`` (4
  heads, feed-forward 256, GELU, no dropout), a final LayerNorm and a linear head over the
  characters. Text: Python's own reference documentation (``scratchcore.data.datasets.
  python_docs_corpus``). Its training part (the first 90% of characters) is cut once more: the
  first 90% of it fits, the last 10% is the *tuning* text the learning rates are chosen on; the
  corpus's validation part (the last 10% of all characters) is held out, never seen while tuning,
  and scores the final runs. Contiguous cuts, so no passage sits on both sides.
* **cnn** — Conv(1->16, 3x3) - ReLU - MaxPool - Conv(16->32, 3x3) - ReLU - MaxPool - Flatten -
  Linear(128, 128) - ReLU - Linear(128, 10) on scikit-learn's 8x8 digits
  (``scratchcore.data.datasets.digits``: 1,437 training, 360 test images). The learning rates are
  chosen on 20% of the training images (seeded); the test images score the final runs only.

Optimizers (the learning rate of each comes from the sweep; everything else is fixed):

* ``AdamW``: weight_decay 0.01 (torch's default);
* ``ScheduleFree``: ``AdamWScheduleFree``, weight_decay 0.01, a linear warmup over the first 5%
  of steps (the reference recommends a warmup); evaluated at ``x`` (``optimizer.eval()``);
* ``Muon``: Keller Jordan's recipe — Muon (momentum 0.95, Nesterov, 5 Newton–Schulz steps,
  ``adjust_lr_fn="original"``, weight_decay 0.01) on the 2-D weight matrices *inside* the network
  (attention projections and feed-forward weights; the CNN's hidden Linear), and AdamW at a fixed
  lr 3e-3, weight_decay 0.01 on the rest: embeddings, the output head, biases, norm gains — and the
  convolution filters, which are 4-D (``scratchcore.optim.Muon`` takes matrices only). The sweep
  moves Muon's lr only;
* ``Shampoo``: eps 1e-4, inverse roots recomputed every step (``update_freq=1``), no decay;
* ``Lion``: betas (0.9, 0.99), weight_decay 0.1 (the paper: a 3-10x smaller lr than AdamW, so a
  larger decay for the same lr x decay).

Learning rates: each optimizer's grid (``Config.lr_grid``) is swept on the tuning split; the grid
value with the lowest final tuning loss wins (cross-entropy: nats per character, or per image).
Then the chosen rate is retrained on the whole training split and scored on the held-out split.

Recorded per model and optimizer: training loss at every step, the held-out metric (bits per
character for the LM; test accuracy and cross-entropy for the CNN), the chosen lr and the sweep,
and the wall and CPU time per training step and per ``optimizer.step()`` alone (Shampoo's
eigendecompositions show up there). Wall time depends on the machine's BLAS threads; run with
``OMP_NUM_THREADS=1`` for one-thread numbers.

Cost (one thread, ``OMP_NUM_THREADS=1``, timed with a few steps of each optimizer on a shared
2-core machine): about 40 ms of CPU per LM step (Shampoo about 75 ms, half of it in its
eigendecompositions) and about 3 ms per CNN step (Shampoo about 7 ms). The full run is
(6 grid values + 1 final run) x (500 LM steps x 235 ms for the five optimizers + 600 CNN steps
x 19 ms), about 15 CPU-minutes, plus a few seconds of data loading and evaluation. The grids
span two to three decades, reaching above each optimizer's usual rate: a first run with four
values per grid chose the top value for four of the five optimizers on the language model,
so the grids were extended upward (the choice is still made on the tuning split alone), and
the results record whether any choice still sits at an end of its grid.

    uv run python packages/scratchcore/experiments/optimizers_for_scale.py [--smoke] [--seed N]
                                                                            [--out DIR]

Writes ``results/optimizers_for_scale.json`` and ``results/optimizers_for_scale.png`` (training
loss per step for each model at the chosen rates; the two learning-rate sweeps).
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

import scratchcore.nn as nn
import scratchcore.nn.functional as F
from scratchcore import Tensor, no_grad, optim
from scratchcore.data.datasets import digits, python_docs_corpus
from scratchcore.train import Timer, experiment_parser, progress, save_figure, write_results

# How a re-run must match the committed results (``uv run python -m checks.reproduce``).
REPRODUCE = {
    "tolerances": [
        ("*time*", None, "wall and CPU times depend on the machine and its load"),
        ("*", 0, "seeded weights and batch order, bundled data: the same operations every run"),
    ],
}

OPTIMIZERS = ("AdamW", "ScheduleFree", "Muon", "Shampoo", "Lion")
MODELS = ("lm", "cnn")
MUON_REST_LR = 3e-3  # the AdamW half of the Muon recipe: embeddings, head, vectors, conv filters


def _default_grids() -> dict[str, list[float]]:
    return {
        "AdamW": [3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1],  # torch default 1e-3
        "ScheduleFree": [1e-3, 2.5e-3, 5e-3, 1e-2, 2e-2, 4e-2],  # reference default 2.5e-3
        "Muon": [5e-3, 1e-2, 2e-2, 5e-2, 1e-1, 2e-1],  # Keller Jordan's default 0.02
        "Shampoo": [3e-3, 1e-2, 3e-2, 1e-1, 3e-1, 1.0],  # AdaGrad-like step sizes
        "Lion": [3e-5, 1e-4, 3e-4, 1e-3, 3e-3, 1e-2],  # paper default 1e-4
    }


@dataclass
class Config:
    # language model
    lm_d_model: int = 64
    lm_heads: int = 4
    lm_layers: int = 2
    lm_ff: int = 256
    lm_context: int = 64
    lm_batch: int = 16
    lm_steps: int = 500
    lm_eval_windows: int = 64  # evenly spaced windows of the tuning / held-out text
    lm_tune_fraction: float = 0.1  # of the corpus's training part: the tuning text
    # CNN
    cnn_channels: tuple[int, int] = (16, 32)
    cnn_hidden: int = 128
    cnn_batch: int = 32
    cnn_steps: int = 600
    cnn_val_fraction: float = 0.2  # of the training images, for the sweep only
    train_limit: int | None = None  # first N characters / images of each split (smoke runs)
    lr_grid: dict[str, list[float]] = field(default_factory=_default_grids)


SMOKE = Config(
    lm_d_model=16, lm_heads=2, lm_layers=1, lm_ff=32, lm_context=16, lm_batch=4, lm_steps=6,
    lm_eval_windows=4, cnn_channels=(4, 8), cnn_hidden=16, cnn_batch=8, cnn_steps=6,
    train_limit=4000,
    lr_grid={"AdamW": [1e-3, 1e-2], "ScheduleFree": [2.5e-3], "Muon": [2e-2], "Shampoo": [3e-2],
             "Lion": [3e-4]},
)  # fmt: skip


# ---------------------------------------------------------------------------------------------
# The models
# ---------------------------------------------------------------------------------------------


class TinyGPT(nn.Module):
    """Characters (N, T) -> next-character logits (N, T, V): a pre-norm causal transformer."""

    def __init__(self, vocab: int, config: Config, rng: np.random.Generator) -> None:
        super().__init__()
        d = config.lm_d_model
        self.token = nn.Embedding(vocab, d, rng=rng)
        self.position = nn.Embedding(config.lm_context, d, rng=rng)
        self.blocks = nn.ModuleList(
            [
                nn.TransformerEncoderLayer(
                    d,
                    config.lm_heads,
                    config.lm_ff,
                    dropout=0.0,
                    activation="gelu",
                    norm_first=True,
                    rng=rng,
                )
                for _ in range(config.lm_layers)
            ]
        )
        self.norm = nn.LayerNorm(d)
        self.head = nn.Linear(d, vocab, rng=rng)

    def forward(self, idx: np.ndarray) -> Tensor:
        x = self.token(idx) + self.position(np.arange(idx.shape[1]))
        for block in self.blocks:
            x = block(x, is_causal=True)  # position t sees 0..t only
        return self.head(self.norm(x))


def make_cnn(config: Config, rng: np.random.Generator) -> nn.Module:
    c1, c2 = config.cnn_channels
    return nn.Sequential(
        nn.Conv2d(1, c1, 3, padding=1, rng=rng),
        nn.ReLU(),
        nn.MaxPool2d(2),  # 8x8 -> 4x4
        nn.Conv2d(c1, c2, 3, padding=1, rng=rng),
        nn.ReLU(),
        nn.MaxPool2d(2),  # 4x4 -> 2x2
        nn.Flatten(),
        nn.Linear(4 * c2, config.cnn_hidden, rng=rng),
        nn.ReLU(),
        nn.Linear(config.cnn_hidden, 10, rng=rng),
    )


def make_model(kind: str, config: Config, vocab: int, seed: int) -> nn.Module:
    """The same ``seed`` gives the same initial weights for every optimizer."""
    rng = np.random.default_rng([seed, 0 if kind == "lm" else 1])
    return TinyGPT(vocab, config, rng) if kind == "lm" else make_cnn(config, rng)


def hidden_matrices(kind: str, model: nn.Module) -> list[str]:
    """Names of the 2-D weights inside the network (Muon's share): not embeddings, not the head."""
    if kind == "lm":
        return [
            name
            for name, p in model.named_parameters()
            if name.startswith("blocks.") and p.ndim == 2
        ]
    matrices = [name for name, p in model.named_parameters() if p.ndim == 2]
    return matrices[:-1]  # the last is the output head


class Combined:
    """Two optimizers stepped as one (Muon on the hidden matrices, AdamW on the rest)."""

    def __init__(self, *optimizers: optim.Optimizer) -> None:
        self.optimizers = optimizers

    def zero_grad(self) -> None:
        for o in self.optimizers:
            o.zero_grad()

    def step(self) -> None:
        for o in self.optimizers:
            o.step()


def make_optimizer(name: str, lr: float, kind: str, model: nn.Module, steps: int):
    params = dict(model.named_parameters())
    if name == "AdamW":
        return optim.AdamW(params.values(), lr=lr, weight_decay=1e-2)
    if name == "ScheduleFree":
        sf = optim.AdamWScheduleFree(
            params.values(), lr=lr, weight_decay=1e-2, warmup_steps=max(1, steps // 20)
        )
        sf.train()
        return sf
    if name == "Muon":
        hidden = set(hidden_matrices(kind, model))
        rest = [p for n, p in params.items() if n not in hidden]
        return Combined(
            optim.Muon(
                [params[n] for n in hidden], lr=lr, weight_decay=1e-2, adjust_lr_fn="original"
            ),
            optim.AdamW(rest, lr=MUON_REST_LR, weight_decay=1e-2),
        )
    if name == "Shampoo":
        return optim.Shampoo(params.values(), lr=lr, eps=1e-4, update_freq=1)
    if name == "Lion":
        return optim.Lion(params.values(), lr=lr, betas=(0.9, 0.99), weight_decay=0.1)
    raise ValueError(f"unknown optimizer {name!r}; one of {OPTIMIZERS}")


# ---------------------------------------------------------------------------------------------
# Data and batches: one seeded stream per model, shared by every optimizer
# ---------------------------------------------------------------------------------------------


def load_data(config: Config, seed: int) -> dict[str, dict]:
    """Both models' data in two views: ``sweep`` (fit / tuning) and ``final`` (train / held out)."""
    corpus = python_docs_corpus()
    train_text, held_out = corpus.train, corpus.validation
    if config.train_limit is not None:
        train_text, held_out = train_text[: config.train_limit], held_out[: config.train_limit]
    chars = sorted(set(corpus.train) | set(corpus.validation))  # the alphabet only
    lookup = {c: i for i, c in enumerate(chars)}
    encode = lambda s: np.array([lookup[c] for c in s], dtype=np.int64)  # noqa: E731
    cut = int((1 - config.lm_tune_fraction) * len(train_text))
    lm = {
        "sweep": {"train": encode(train_text[:cut]), "eval": encode(train_text[cut:])},
        "final": {"train": encode(train_text), "eval": encode(held_out)},
        "vocab": len(chars),
    }
    splits = digits()
    X, y = splits.X_train, splits.y_train
    X_test, y_test = splits.X_test, splits.y_test
    if config.train_limit is not None:
        X, y = X[: config.train_limit // 10], y[: config.train_limit // 10]
    order = np.random.default_rng([seed, 1]).permutation(len(X))
    n_val = round(config.cnn_val_fraction * len(X))
    val, fit = order[:n_val], order[n_val:]
    cnn = {
        "sweep": {"X_train": X[fit], "y_train": y[fit], "X_eval": X[val], "y_eval": y[val]},
        "final": {"X_train": X, "y_train": y, "X_eval": X_test, "y_eval": y_test},
    }
    return {"lm": lm, "cnn": cnn}


def batches(kind: str, config: Config, data: dict, seed: int):
    """The minibatches, in order; a function of the seed and the data only."""
    rng = np.random.default_rng([seed, 2])
    if kind == "lm":
        tokens, T = data["train"], config.lm_context
        for _ in range(config.lm_steps):
            start = rng.integers(0, len(tokens) - T - 1, size=config.lm_batch)
            window = tokens[start[:, None] + np.arange(T + 1)]  # (N, T + 1)
            yield window[:, :-1], window[:, 1:]
        return
    n = len(data["X_train"])
    order = np.array([], dtype=np.int64)
    for _ in range(config.cnn_steps):
        if len(order) < config.cnn_batch:  # epochs of shuffled images, cut into batches
            order = np.concatenate([order, rng.permutation(n)])
        take, order = order[: config.cnn_batch], order[config.cnn_batch :]
        yield data["X_train"][take], data["y_train"][take]


def loss_of(kind: str, model: nn.Module, x: np.ndarray, y: np.ndarray) -> Tensor:
    out = model(x if kind == "lm" else Tensor(x))
    if kind == "lm":
        return F.cross_entropy(out.reshape(-1, out.shape[-1]), y.reshape(-1))
    return F.cross_entropy(out, y)


def evaluate(kind: str, model: nn.Module, config: Config, data: dict) -> dict[str, float]:
    """Cross-entropy (nats) on the evaluation text / images; bits per char or accuracy too."""
    with no_grad():
        if kind == "lm":
            tokens, T = data["eval"], config.lm_context
            starts = np.linspace(0, len(tokens) - T - 1, config.lm_eval_windows).astype(int)
            window = tokens[starts[:, None] + np.arange(T + 1)]
            nats = loss_of(kind, model, window[:, :-1], window[:, 1:]).item()
            return {"loss": nats, "bits_per_char": nats / math.log(2)}
        logits = model(Tensor(data["X_eval"]))
        nats = F.cross_entropy(logits, data["y_eval"]).item()
        return {"loss": nats, "accuracy": float((logits.data.argmax(1) == data["y_eval"]).mean())}


# ---------------------------------------------------------------------------------------------
# One run, the sweep, the final runs
# ---------------------------------------------------------------------------------------------


def train(
    kind: str,
    name: str,
    lr: float,
    config: Config,
    data: dict,
    vocab: int,
    seed: int,
    desc: str = "",
) -> dict:
    """Train a fresh model; the per-step losses, the evaluation and the time per step."""
    steps = config.lm_steps if kind == "lm" else config.cnn_steps
    model = make_model(kind, config, vocab, seed)
    optimizer = make_optimizer(name, lr, kind, model, steps)
    losses = []
    wall = cpu = opt_wall = opt_cpu = 0.0
    for x, y in progress(batches(kind, config, data, seed), total=steps, desc=desc, leave=False):
        w0, c0 = time.perf_counter(), time.process_time()
        loss = loss_of(kind, model, x, y)
        optimizer.zero_grad()
        loss.backward()
        w1, c1 = time.perf_counter(), time.process_time()
        optimizer.step()
        w2, c2 = time.perf_counter(), time.process_time()
        wall, cpu = wall + w2 - w0, cpu + c2 - c0
        opt_wall, opt_cpu = opt_wall + w2 - w1, opt_cpu + c2 - c1  # the update alone
        losses.append(loss.item())
    if name == "ScheduleFree":
        optimizer.eval()  # evaluate at x, the average (no BatchNorm here to recompute)
    return {
        "train_loss_per_step": losses,
        "eval": evaluate(kind, model, config, data),
        "step_wall_ms": 1e3 * wall / steps,
        "step_cpu_ms": 1e3 * cpu / steps,
        "optimizer_step_wall_ms": 1e3 * opt_wall / steps,
        "optimizer_step_cpu_ms": 1e3 * opt_cpu / steps,
    }


def _score(run: dict) -> float:
    loss = run["eval"]["loss"]
    return loss if math.isfinite(loss) else math.inf  # a diverged run never wins


def sweep(kind: str, config: Config, data: dict, vocab: int, seed: int) -> dict[str, dict]:
    """Final tuning loss for every grid value (``data`` is the fit / tuning view); the choice."""
    outcome = {}
    for name, grid in config.lr_grid.items():
        runs = []
        for lr in grid:
            run = train(kind, name, lr, config, data, vocab, seed, f"sweep {kind} {name} {lr:g}")
            runs.append({"lr": lr, "tuning_loss": run["eval"]["loss"]})
        best = min(runs, key=lambda r: (_score({"eval": {"loss": r["tuning_loss"]}}), r["lr"]))
        # a choice at either end of the grid means the best rate may lie outside it
        at_edge = best["lr"] in (min(grid), max(grid))
        outcome[name] = {"chosen_lr": best["lr"], "chosen_at_grid_edge": at_edge, "runs": runs}
    return outcome


def plot(finals: dict, swept: dict, path: Path) -> None:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(14, 8), layout="constrained")
    axes = fig.subplots(2, 2)
    titles = {"lm": "character GPT (python docs)", "cnn": "CNN (8x8 digits)"}
    for col, kind in enumerate(MODELS):
        ax_curve, ax_sweep = axes[0, col], axes[1, col]
        for name, run in finals[kind].items():
            lr = swept[kind][name]["chosen_lr"]
            curve = np.asarray(run["train_loss_per_step"])
            width = max(1, len(curve) // 40)  # a moving average: minibatch losses are noisy
            smooth = np.convolve(curve, np.ones(width) / width, mode="valid")
            ax_curve.plot(np.arange(width, len(curve) + 1), smooth, label=f"{name} (lr={lr:g})")
            runs = swept[kind][name]["runs"]
            ax_sweep.plot(
                [r["lr"] for r in runs], [r["tuning_loss"] for r in runs], "o-", label=name
            )
        ax_curve.set(
            xlabel="step",
            ylabel="training cross-entropy (nats, moving average)",
            yscale="log",
            title=f"{titles[kind]}: training loss at the chosen lr",
        )
        ax_sweep.set(
            xlabel="learning rate",
            ylabel="final tuning-split cross-entropy (nats)",
            xscale="log",
            yscale="log",
            title=f"{titles[kind]}: learning-rate sweep",
        )
        for ax in (ax_curve, ax_sweep):
            ax.grid(True, alpha=0.3)
            ax.legend(fontsize=8)
    save_figure(fig, path)


def main(argv: list[str] | None = None) -> dict:
    parser = experiment_parser(__doc__, default_out=Path(__file__).parent / "results")
    args = parser.parse_args(argv)
    config = SMOKE if args.smoke else Config()
    with Timer() as timer:
        data = load_data(config, args.seed)
        vocab = data["lm"]["vocab"]
        swept, finals = {}, {}
        for kind in MODELS:
            swept[kind] = sweep(kind, config, data[kind]["sweep"], vocab, args.seed)
            finals[kind] = {
                name: train(
                    kind,
                    name,
                    swept[kind][name]["chosen_lr"],
                    config,
                    data[kind]["final"],
                    vocab,
                    args.seed,
                    f"final {kind} {name}",
                )
                for name in config.lr_grid
            }
    metrics: dict = {}
    for kind in MODELS:
        metrics[kind] = {}
        for name, run in finals[kind].items():
            m = {
                "learning_rate": swept[kind][name]["chosen_lr"],
                "chosen_at_grid_edge": swept[kind][name]["chosen_at_grid_edge"],
            }
            if kind == "lm":
                m["held_out_bits_per_char"] = run["eval"]["bits_per_char"]
                m["held_out_loss_nats"] = run["eval"]["loss"]
            else:
                m["test_accuracy"] = run["eval"]["accuracy"]
                m["test_loss_nats"] = run["eval"]["loss"]
            m["final_train_loss"] = run["train_loss_per_step"][-1]
            for key in (
                "step_wall_ms",
                "step_cpu_ms",
                "optimizer_step_wall_ms",
                "optimizer_step_cpu_ms",
                "train_loss_per_step",
            ):
                m[key] = run[key]
            metrics[kind][name] = m
        metrics[kind]["lr_sweep"] = {name: s["runs"] for name, s in swept[kind].items()}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    plot(finals, swept, out / "optimizers_for_scale.png")
    models = {kind: make_model(kind, config, vocab, args.seed) for kind in MODELS}
    record = asdict(config) | {
        "smoke": args.smoke,
        "parameters": {k: sum(p.data.size for p in m.parameters()) for k, m in models.items()},
        "muon_hidden_matrices": {k: hidden_matrices(k, m) for k, m in models.items()},
        "muon_rest": f"AdamW lr={MUON_REST_LR}, weight_decay=0.01",
        "lm_vocab": vocab,
        "lr_selection": "lowest final cross-entropy on the tuning split over lr_grid (LM: the "
        "last 10% of the corpus's training part; CNN: 20% of the training images, seeded); the "
        "held-out text and the test images are not used",
        "data": "lm: scratchcore.data.datasets.python_docs_corpus; cnn: "
        "scratchcore.data.datasets.digits (1437 train / 360 test)",
    }
    write_results(
        out,
        experiment="optimizers_for_scale",
        package="scratchcore",
        seed=args.seed,
        config=record,
        metrics=metrics,
        wall_time_s=timer.elapsed,
        figures=["optimizers_for_scale.png"],
    )
    for kind in MODELS:
        for name in config.lr_grid:
            m = metrics[kind][name]
            score = m.get("held_out_bits_per_char", m.get("test_accuracy"))
            print(
                f"{kind:4s} {name:13s} lr={m['learning_rate']:<7g} {score:.4f}  "
                f"{m['step_wall_ms']:.1f} ms/step (optimizer {m['optimizer_step_wall_ms']:.1f})"
            )
    return metrics


if __name__ == "__main__":
    main()
