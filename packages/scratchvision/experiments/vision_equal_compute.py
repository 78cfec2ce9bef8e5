"""ResNet, ViT and Swin v2 on CIFAR-10 at equal compute, with all labels and with a tenth.

Notes: ``packages/scratchvision/notes/06-vit.md`` and ``07-swin-v2.md`` (the evidence sections).

A convolution assumes that what matters in an image is local and looks the same everywhere; a
Vision Transformer assumes neither and must learn both from data; Swin puts locality back
(attention inside small windows) and a hierarchy (patch merging) while keeping attention. The
usual story — a ViT needs more data or more training to catch up, Swin sits in between — is a
claim about *inductive bias*, and this experiment measures it at a laptop's scale.

**Equal compute** means equal training FLOPs. Each model's forward FLOPs per image are counted
from its graph (``scratchcore.train.forward_flops``: the products of convolutions, linear layers
and attention, 2 per multiply-add); a training step costs about three forward passes (the
backward pass computes one product per input), so each model trains for

    steps = budget / (3 x forward FLOPs per image x batch size)

and the larger model simply sees fewer images. The default budget, 12 TFLOPs, is about one pass
of ResNet-20 over CIFAR-10's 50,000 training images. Wall and CPU time are recorded beside it:
they measure this engine on this machine as much as the architectures.

Each model is trained twice: on all 50,000 training images, and on a tenth of them (500 per
class, drawn per seed) with the same budget, so the small set is seen about ten times as
often. The three models, sized to be small but not tiny:

* ResNet-20 (He et al. 2016, option-A shortcuts; 0.27 M parameters);
* ViT with 4x4 patches (64 tokens and a class token), width 128, 6 blocks, 4 heads;
* Swin v2 with 2x2 patches (a 16x16 grid), width 48 doubling over 3 stages of 2 blocks, 3/6/12
  heads, 4x4 windows.

The recipes are fixed from common practice, not tuned on anything: batch 128; random crop
(4-pixel zero padding) and horizontal flip; inputs standardised with the training subset's
channel statistics; a linear warmup over the first 5% of steps, then cosine decay to zero. The
ResNet trains with SGD (Nesterov momentum 0.9, learning rate 0.1, weight decay 5e-4), the
transformers with AdamW (learning rate 1e-3, weight decay 0.05 on weight matrices only, not on
biases, norms, position embeddings, the class token or Swin's position-bias MLP and temperature),
as each family is usually trained. The 10,000 test images are scored once, at the end of each
run; nothing is chosen by them. Three seeds (weights, subset, batches, augmentation); a ranking
is called settled only when it holds on every seed.

CIFAR-10 is not bundled: ``scratchcore.data.datasets.cifar10()`` reads
``$SCRATCHMIND_DATA/cifar-10/cifar-10-python.tar.gz`` and otherwise says where to put it.

    uv run python packages/scratchvision/experiments/vision_equal_compute.py [--smoke] [--resume]

Finished runs are kept in ``results/checkpoints/vision_equal_compute_runs.json`` (not
committed); ``--resume`` skips them, so an interrupted experiment loses at most one run. The
results file is rewritten after every run (``"partial": true`` until the last).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

import scratchcore.nn.functional as F
import scratchcore.optim as optim
from scratchcore import Tensor, nn
from scratchcore.data import (
    ArrayDataset,
    DataLoader,
    channel_statistics,
    standardize,
    stratified_subset,
)
from scratchcore.data.augment import Compose, RandomCrop, RandomHorizontalFlip
from scratchcore.data.datasets import cifar10
from scratchcore.train import (
    experiment_parser,
    forward_flops,
    model_accuracy,
    progress,
    save_figure,
    seed_everything,
    spread_over_seeds,
    write_results,
)
from scratchvision.models.resnet import CifarResNet
from scratchvision.models.swin import SwinTransformerV2
from scratchvision.models.vit import VisionTransformer

REPRODUCE = {
    "tolerances": [
        ("*time_s*", None, "wall-clock and CPU seconds: they measure the machine"),
        ("*", 0, "seeded weights, subsets, batch order and augmentation: the same every run"),
    ],
    "data": {"vision_equal_compute": ["cifar-10/cifar-10-python.tar.gz"]},
}

NUM_CLASSES = 10
# Parameters that AdamW does not decay: one value each (position tables, the class token, the
# attention temperature) or the small MLP that makes Swin's position bias.
NO_DECAY = ("pos_embed", "cls_token", "cpb_mlp", "logit_scale")


@dataclass
class Config:
    budget_tflop: float = 12.0  # training FLOPs per run: ~one ResNet-20 pass over 50,000 images
    fractions: tuple[float, ...] = (1.0, 0.1)  # share of the training set that is labelled
    seeds: tuple[int, ...] = (0, 1, 2)
    batch_size: int = 128
    warmup_fraction: float = 0.05
    crop_padding: int = 4
    eval_batch_size: int = 500
    resnet: dict = field(default_factory=lambda: {"depth": 20})
    vit: dict = field(
        default_factory=lambda: {"patch_size": 4, "embed_dim": 128, "depth": 6, "num_heads": 4}
    )
    swin: dict = field(
        default_factory=lambda: {
            "patch_size": 2,
            "embed_dim": 48,
            "depths": (2, 2, 2),
            "num_heads": (3, 6, 12),
            "window_size": 4,
        }
    )
    sgd: dict = field(
        default_factory=lambda: {"lr": 0.1, "momentum": 0.9, "weight_decay": 5e-4, "nesterov": True}
    )
    adamw: dict = field(default_factory=lambda: {"lr": 1e-3, "weight_decay": 0.05})
    train_examples: int | None = None  # None: all 50,000
    test_examples: int | None = None  # None: all 10,000


SMOKE = Config(
    budget_tflop=4e-5,
    seeds=(0, 1),
    fractions=(1.0, 0.5),
    batch_size=8,
    eval_batch_size=8,
    resnet={"depth": 8, "widths": (2, 4, 4)},
    vit={"patch_size": 8, "embed_dim": 16, "depth": 1, "num_heads": 2},
    swin={
        "patch_size": 4,
        "embed_dim": 8,
        "depths": (1, 1),
        "num_heads": (1, 2),
        "window_size": 4,
    },
    train_examples=40,
    test_examples=16,
)


def build_model(name: str, config: Config, rng: np.random.Generator) -> nn.Module:
    """A freshly initialised classifier of 32x32x3 images into 10 classes."""
    if name == "resnet":
        return CifarResNet(num_classes=NUM_CLASSES, rng=rng, **config.resnet)
    if name == "vit":
        return VisionTransformer(img_size=32, num_classes=NUM_CLASSES, rng=rng, **config.vit)
    if name == "swin":
        return SwinTransformerV2(img_size=32, num_classes=NUM_CLASSES, rng=rng, **config.swin)
    raise ValueError(f"build_model: unknown model {name!r}; expected one of {list(MODELS)}")


MODELS = {"resnet": "ResNet", "vit": "ViT", "swin": "Swin v2"}


def make_optimizer(name: str, model: nn.Module, config: Config) -> optim.Optimizer:
    """SGD for the ResNet (weight decay on everything, as He et al.); AdamW for the
    transformers, with weight decay on weight matrices only."""
    if name == "resnet":
        return optim.SGD(model.parameters(), **config.sgd)
    decay, no_decay = [], []
    for param_name, param in model.named_parameters():
        keep = param.ndim < 2 or any(key in param_name for key in NO_DECAY)
        (no_decay if keep else decay).append(param)
    groups = [{"params": decay}, {"params": no_decay, "weight_decay": 0.0}]
    return optim.AdamW(groups, **config.adamw)


def endless(loader: DataLoader) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """The loader's batches, epoch after epoch (each epoch reshuffled)."""
    while True:
        yield from loader


def train_one(
    name: str, config: Config, x_train, y_train, x_test, y_test, seed: int, desc: str
) -> dict:
    """Train one model for the FLOP budget from seed ``seed``; its test accuracy and costs."""
    rng = seed_everything(seed)
    model = build_model(name, config, rng)
    probe = Tensor(x_train[:2])
    flops_per_image = forward_flops(model, probe) / len(probe)
    step_flops = 3 * flops_per_image * config.batch_size
    steps = int(config.budget_tflop * 1e12 // step_flops)
    if steps < 2:
        raise ValueError(
            f"{name}: a budget of {config.budget_tflop} TFLOPs buys {steps} steps of "
            f"{step_flops / 1e12:.3g} TFLOPs: raise the budget"
        )
    optimizer = make_optimizer(name, model, config)
    schedule = optim.lr_scheduler.WarmupCosineLR(
        optimizer, warmup_steps=max(1, round(config.warmup_fraction * steps)), total_steps=steps
    )
    loader = DataLoader(
        ArrayDataset(x_train, y_train),
        batch_size=config.batch_size,
        shuffle=True,
        seed=seed,
        transform=Compose([RandomCrop(config.crop_padding), RandomHorizontalFlip()]),
    )
    batches, losses = endless(loader), []
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in (bar := progress(range(steps), desc=desc)):
        x, y = next(batches)
        loss = F.cross_entropy(model(Tensor(x)), Tensor(y))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
        losses.append(loss.item())
        bar.set_postfix(loss=f"{losses[-1]:.3f}")
    train_time, train_cpu = time.perf_counter() - wall, time.process_time() - cpu
    eval_start = time.perf_counter()
    test_accuracy = model_accuracy(model, x_test, y_test, config.eval_batch_size)
    tail = max(1, steps // 10)  # the last tenth of training: a loss less noisy than one batch
    return {
        "test_accuracy": test_accuracy,
        "final_train_loss": float(np.mean(losses[-tail:])),
        "steps": steps,
        "images_seen": steps * config.batch_size,
        "epochs": steps * config.batch_size / len(y_train),
        "forward_mflop_per_image": flops_per_image / 1e6,
        "train_tflop": steps * step_flops / 1e12,
        "parameters": int(sum(p.numel() for p in model.parameters())),
        "train_time_s": train_time,
        "train_cpu_time_s": train_cpu,
        "eval_time_s": time.perf_counter() - eval_start,
    }


def run_key(fraction: float, seed: int, name: str) -> str:
    return f"fraction={fraction}/seed={seed}/{name}"


def summarise(runs: dict[str, dict], config: Config) -> dict:
    """Per labelled fraction: each model's accuracy over the seeds, and the ranking, settled
    only if every seed gives the same order."""
    summary = {}
    for fraction in config.fractions:
        by_model = {
            name: {s: runs[run_key(fraction, s, name)]["test_accuracy"] for s in config.seeds}
            for name in MODELS
        }
        orders = {s: sorted(MODELS, key=lambda n, s=s: -by_model[n][s]) for s in config.seeds}
        mean = {n: float(np.mean(list(v.values()))) for n, v in by_model.items()}
        summary[f"fraction={fraction}"] = {
            "test_accuracy": {n: spread_over_seeds(v) for n, v in by_model.items()},
            "ranking_by_mean": sorted(MODELS, key=lambda n: -mean[n]),
            "ranking_per_seed": {str(s): order for s, order in orders.items()},
            "ranking_same_on_every_seed": len({tuple(o) for o in orders.values()}) == 1,
        }
    return summary


def figure(runs: dict[str, dict], config: Config, path: Path) -> Path:
    """Test accuracy of each model, one panel per labelled fraction: every seed as a dot, the
    mean as a bar."""
    fig = Figure(figsize=(4.2 * len(config.fractions), 4), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(config.fractions), sharey=True))
    for ax, fraction in zip(axes, config.fractions, strict=True):
        for i, name in enumerate(MODELS):
            values = [100 * runs[run_key(fraction, s, name)]["test_accuracy"] for s in config.seeds]
            ax.bar(i, np.mean(values), color=f"C{i}", alpha=0.4)
            ax.plot([i] * len(values), values, "o", color=f"C{i}")
        ax.set_xticks(range(len(MODELS)), list(MODELS.values()))
        ax.set_title(f"{fraction:.0%} of the labels, {config.budget_tflop:g} TFLOPs each")
        ax.grid(alpha=0.3, axis="y")
    axes[0].set_ylabel("test accuracy (%)")
    return save_figure(fig, path)


def main(argv: list[str] | None = None) -> dict:
    parser = experiment_parser(__doc__, default_out=Path(__file__).parent / "results")
    parser.add_argument("--resume", action="store_true", help="skip the runs already finished")
    args = parser.parse_args(argv)
    config = SMOKE if args.smoke else Config()
    start = time.perf_counter()

    data = cifar10(scale=False)  # uint8; fails with "where to put the file" if it is absent
    x_all, y_all = data.X_train, data.y_train
    if config.train_examples is not None:
        x_all, y_all = x_all[: config.train_examples], y_all[: config.train_examples]
    x_test_raw, y_test = data.X_test, data.y_test
    if config.test_examples is not None:
        x_test_raw, y_test = x_test_raw[: config.test_examples], y_test[: config.test_examples]

    out = Path(args.out)
    state = out / "checkpoints" / "vision_equal_compute_runs.json"
    runs: dict[str, dict] = {}
    if args.resume and state.exists():
        saved = json.loads(state.read_text())
        if saved["config"] != json.loads(json.dumps(asdict(config))):
            raise ValueError(
                f"--resume: {state} was made with config {saved['config']}, this run has "
                f"{asdict(config)}"
            )
        runs = saved["runs"]
    record = {
        "out_dir": out,
        "experiment": "vision_equal_compute",
        "package": "scratchvision",
        "seed": args.seed,
        "config": asdict(config) | {"smoke": args.smoke},
    }
    total = len(config.fractions) * len(config.seeds) * len(MODELS)
    if len(runs) == total:
        raise ValueError(f"--resume: every run in {state} is finished")
    for fraction in config.fractions:
        for seed in config.seeds:
            subset = stratified_subset(y_all, fraction, seed)
            mean, std = channel_statistics(x_all[subset])
            x_train, y_train = standardize(x_all[subset], mean, std), y_all[subset]
            x_test = standardize(x_test_raw, mean, std)
            for name in MODELS:
                key = run_key(fraction, seed, name)
                if key in runs:
                    continue
                desc = f"[{len(runs) + 1}/{total}] {key}"
                runs[key] = train_one(
                    name, config, x_train, y_train, x_test, y_test, seed, desc
                ) | {"train_examples": len(y_train)}
                print(f"{key}: test accuracy {runs[key]['test_accuracy']:.4f}")
                state.parent.mkdir(parents=True, exist_ok=True)
                state.write_text(json.dumps({"config": asdict(config), "runs": runs}))
                done = len(runs) == total
                metrics = {"partial": not done, "runs": runs, "models": MODELS}
                figures = []
                if done:
                    metrics["summary"] = summarise(runs, config)
                    figures = [figure(runs, config, out / "vision_equal_compute.png")]
                wall = time.perf_counter() - start
                write_results(**record, metrics=metrics, wall_time_s=wall, figures=figures)
    return metrics


if __name__ == "__main__":
    main()
