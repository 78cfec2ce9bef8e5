"""Training utilities every experiment uses: seeding, the CLI, progress bars, metric history,
metrics, results files, figures, checkpoints and FLOP counts.

Notes: ``packages/scratchcore/notes/05-training.md``.

Unlike the rest of ``scratchcore`` this subpackage needs more than NumPy: matplotlib (figures),
tqdm (progress bars) and safetensors (checkpoints) — the ``train`` extra of
``scratchmind-core``. The engine itself never imports it.

A typical experiment::

    from scratchcore.train import (History, Timer, experiment_parser, plot_curves, progress,
                                   seed_everything, write_results)

    args = experiment_parser(__doc__, default_out=Path(__file__).parent / "results").parse_args()
    rng = seed_everything(args.seed)
    history = History()
    with Timer() as timer:
        for step in (bar := progress(range(steps), desc="train")):
            loss = ...
            history.log(step, train_loss=loss)
            bar.set_postfix(loss=f"{loss:.3f}")
    figure = plot_curves({"train": history.series("train_loss")}, args.out / "loss.png",
                         "step", "cross-entropy (nats)")
    write_results(args.out, "my_experiment", "scratchcore", args.seed, config,
                  {"test_accuracy": acc}, timer.elapsed, figures=[figure])
"""

from scratchcore.train.checkpoint import (
    CheckpointError,
    load_checkpoint,
    read_checkpoint,
    save_checkpoint,
)
from scratchcore.train.cli import experiment_parser
from scratchcore.train.flops import forward_flops, graph_flops
from scratchcore.train.history import History
from scratchcore.train.metrics import accuracy, confusion_matrix, model_accuracy
from scratchcore.train.plots import plot_confusion_matrix, plot_curves, save_figure
from scratchcore.train.progress import progress
from scratchcore.train.results import (
    command_line,
    git_info,
    machine_info,
    spread_over_seeds,
    to_jsonable,
    write_results,
)
from scratchcore.train.seed import rng_states, seed_everything, set_rng_states
from scratchcore.train.timer import Timer

__all__ = [
    "CheckpointError",
    "History",
    "Timer",
    "accuracy",
    "command_line",
    "confusion_matrix",
    "experiment_parser",
    "forward_flops",
    "git_info",
    "graph_flops",
    "load_checkpoint",
    "machine_info",
    "model_accuracy",
    "plot_confusion_matrix",
    "plot_curves",
    "progress",
    "read_checkpoint",
    "rng_states",
    "save_checkpoint",
    "save_figure",
    "seed_everything",
    "set_rng_states",
    "spread_over_seeds",
    "to_jsonable",
    "write_results",
]
