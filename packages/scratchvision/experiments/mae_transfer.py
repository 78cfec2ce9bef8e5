"""Masked-autoencoder pre-training on unlabelled images, then transfer with few labels.

Notes: ``packages/scratchvision/notes/08-masked-autoencoders.md`` (the evidence section).

Labels are scarce; images are not. A masked autoencoder (``scratchvision.models.mae``) hides 75%
of each image's 4x4 patches and learns to paint them back; its encoder never sees a label. Does
what it learns help when labels are few? The experiment:

1. **Pre-train** two MAEs on the training images, labels unused: one reconstructing raw pixels,
   one reconstructing per-patch normalised pixels (``norm_pix_loss``, the paper's better
   setting). Same architecture, budget and seed. A figure shows test images, the masked input
   and both reconstructions — the normalised one de-normalised with each patch's true mean and
   variance, which the figure says (it is why such reconstructions look better than the model
   is).
2. **Linear probe** (the encoder frozen): a single linear layer on the mean of the encoder's
   patch tokens, trained on 1%, 10% and 100% of the training labels (a stratified subset drawn
   per seed), against the same linear layer on (i) raw pixels and (ii) a randomly initialised
   encoder of the same shape. Three seeds; the spread is reported.
3. **Fine-tuning** (nothing frozen) at the small label fractions: the pre-trained encoder
   against the same encoder from random initialisation, same steps, same recipe.

Everything trainable uses a recipe fixed up front (no tuning on the test split, which is scored
once per run). The linear probe is multinomial logistic regression on standardised features:
full-batch Adam, fixed steps and weight decay. Fine-tuning: AdamW with warmup and cosine decay,
random crops and flips.

Data: by default the procedural 12-class ``shapes`` images (generated here, no download); with
``--cifar10``, CIFAR-10 through the real loader (``$SCRATCHMIND_DATA/cifar-10/...``).

    uv run python packages/scratchvision/experiments/mae_transfer.py [--cifar10] [--smoke]
        [--resume]

The pre-trained encoders are checkpointed (``results/checkpoints/mae_transfer_*.safetensors``,
not committed) and ``--resume`` reuses them. Writes ``results/mae_transfer[_cifar10].json`` and
figures ``..._reconstructions.png`` and ``..._transfer.png``.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

import scratchcore.nn as nn
import scratchcore.nn.functional as F
import scratchcore.optim as optim
from scratchcore import Tensor, no_grad
from scratchcore.data import ArrayDataset, DataLoader, stratified_subset
from scratchcore.data.augment import Compose, RandomCrop, RandomHorizontalFlip
from scratchcore.train import (
    History,
    experiment_parser,
    load_checkpoint,
    model_accuracy,
    progress,
    save_checkpoint,
    save_figure,
    seed_everything,
    spread_over_seeds,
    write_results,
)
from scratchvision.image_splits import image_splits
from scratchvision.models.mae import MaskedAutoencoder

REPRODUCE = {
    "tolerances": [
        ("*time_s*", None, "wall-clock seconds: they measure the machine"),
        ("*", 0, "seeded images, weights, masks, subsets and batches: the same every run"),
    ],
    "data": {"mae_transfer_cifar10": ["cifar-10/cifar-10-python.tar.gz"]},
}


@dataclass
class Config:
    train_images: int = 20_000  # shapes only (CIFAR-10 uses its 50,000)
    test_images: int = 4_000  # shapes only (CIFAR-10 uses its 10,000)
    embed_dim: int = 128
    depth: int = 4
    num_heads: int = 4
    decoder_embed_dim: int = 64
    decoder_depth: int = 1
    decoder_num_heads: int = 4
    mask_ratio: float = 0.75
    pretrain_epochs: int = 20
    pretrain_batch_size: int = 128
    pretrain_lr: float = 1e-3
    pretrain_weight_decay: float = 0.05
    warmup_fraction: float = 0.05
    label_fractions: tuple[float, ...] = (0.01, 0.1, 1.0)
    seeds: tuple[int, ...] = (0, 1, 2)
    probe_steps: int = 300
    probe_lr: float = 1e-2
    probe_weight_decay: float = 1e-4
    finetune_fractions: tuple[float, ...] = (0.01, 0.1)
    finetune_steps: int = 300
    finetune_batch_size: int = 64
    finetune_lr: float = 1e-3
    finetune_weight_decay: float = 0.05
    feature_batch_size: int = 500
    shown_images: int = 8


SMOKE = Config(
    train_images=96,
    test_images=48,
    embed_dim=16,
    depth=1,
    num_heads=2,
    decoder_embed_dim=8,
    decoder_num_heads=2,
    pretrain_epochs=2,
    pretrain_batch_size=32,
    label_fractions=(0.25, 1.0),
    seeds=(0, 1),
    probe_steps=20,
    finetune_fractions=(0.25,),
    finetune_steps=4,
    finetune_batch_size=16,
    feature_batch_size=32,
    shown_images=3,
)

SETTINGS = {"pixels": False, "norm_pix": True}  # name -> norm_pix_loss


def build_mae(config: Config, norm_pix: bool, rng: np.random.Generator) -> MaskedAutoencoder:
    return MaskedAutoencoder(
        img_size=32,
        patch_size=4,
        embed_dim=config.embed_dim,
        depth=config.depth,
        num_heads=config.num_heads,
        decoder_embed_dim=config.decoder_embed_dim,
        decoder_depth=config.decoder_depth,
        decoder_num_heads=config.decoder_num_heads,
        mask_ratio=config.mask_ratio,
        norm_pix_loss=norm_pix,
        rng=rng,
    )


def pretrain(
    model: MaskedAutoencoder, x_train: np.ndarray, config: Config, seed: int, desc: str
) -> History:
    """Pre-train on images alone: AdamW (betas 0.9, 0.95 as He et al.), warmup then cosine,
    random crops and flips; one fresh mask per image per step."""
    loader = DataLoader(
        ArrayDataset(x_train),
        batch_size=config.pretrain_batch_size,
        shuffle=True,
        seed=seed,
        transform=Compose([RandomCrop(4), RandomHorizontalFlip()]),
    )
    steps = config.pretrain_epochs * len(loader)
    optimizer = optim.AdamW(
        model.parameters(),
        lr=config.pretrain_lr,
        betas=(0.9, 0.95),
        weight_decay=config.pretrain_weight_decay,
    )
    schedule = optim.lr_scheduler.WarmupCosineLR(
        optimizer, max(1, round(config.warmup_fraction * steps)), steps
    )
    rng, history = np.random.default_rng(seed), History()
    for epoch in range(config.pretrain_epochs):
        losses = []
        for batch in (bar := progress(loader, desc=f"{desc} epoch {epoch + 1}")):
            x = batch[0] if isinstance(batch, tuple | list) else batch  # images only
            loss = model(Tensor(x), rng=rng).loss
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
            losses.append(loss.item())
            bar.set_postfix(loss=f"{losses[-1]:.4f}")
        history.log(epoch + 1, pretrain_loss=float(np.mean(losses)))
    return history


@no_grad()
def encoder_features(model: MaskedAutoencoder, x: np.ndarray, batch_size: int) -> np.ndarray:
    """(N, 3, 32, 32) -> (N, D): the mean of the encoder's patch tokens, nothing masked."""
    model.eval()
    parts = [
        model.forward_features(Tensor(x[i : i + batch_size])).data[:, 1:].mean(axis=1)
        for i in range(0, len(x), batch_size)
    ]
    return np.concatenate(parts).astype(np.float64)


def linear_probe(
    features: np.ndarray,
    labels: np.ndarray,
    test_features: np.ndarray,
    test_labels: np.ndarray,
    classes: int,
    config: Config,
    seed: int,
) -> float:
    """Test accuracy of multinomial logistic regression on standardised ``features``.

    Full-batch Adam for ``probe_steps`` steps with a small weight decay: the same recipe for
    every feature set, so only the features differ.
    """
    mean, std = features.mean(axis=0), features.std(axis=0) + 1e-6
    x = Tensor(((features - mean) / std).astype(np.float32))
    x_test = ((test_features - mean) / std).astype(np.float32)
    layer = nn.Linear(features.shape[1], classes, rng=np.random.default_rng(seed))
    optimizer = optim.AdamW(
        layer.parameters(), lr=config.probe_lr, weight_decay=config.probe_weight_decay
    )
    y = Tensor(labels)
    for _ in range(config.probe_steps):
        loss = F.cross_entropy(layer(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return model_accuracy(layer, x_test, test_labels, config.feature_batch_size)


class Classifier(nn.Module):
    """The MAE's encoder with a linear head on its mean patch token: (N, 3, 32, 32) -> logits."""

    def __init__(self, encoder: MaskedAutoencoder, classes: int, rng: np.random.Generator):
        super().__init__()
        self.encoder = encoder
        self.head = nn.Linear(encoder.pos_embed.shape[-1], classes, rng=rng)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.encoder.forward_features(x)[:, 1:].mean(axis=1))


def finetune(
    encoder: MaskedAutoencoder,
    x: np.ndarray,
    y: np.ndarray,
    x_test: np.ndarray,
    y_test: np.ndarray,
    classes: int,
    config: Config,
    seed: int,
    desc: str,
) -> float:
    """Train encoder and head end to end for ``finetune_steps``; the test accuracy."""
    model = Classifier(encoder, classes, np.random.default_rng(seed))
    model.train()
    loader = DataLoader(
        ArrayDataset(x, y),
        batch_size=min(config.finetune_batch_size, len(y)),
        shuffle=True,
        seed=seed,
        transform=Compose([RandomCrop(4), RandomHorizontalFlip()]),
    )
    optimizer = optim.AdamW(
        model.parameters(), lr=config.finetune_lr, weight_decay=config.finetune_weight_decay
    )
    steps = config.finetune_steps
    schedule = optim.lr_scheduler.WarmupCosineLR(
        optimizer, max(1, round(config.warmup_fraction * steps)), steps
    )
    batches = iter(())
    for _ in progress(range(steps), desc=desc):
        batch = next(batches, None)
        if batch is None:  # a new epoch over the (small) labelled set
            batches = iter(loader)
            batch = next(batches)
        loss = F.cross_entropy(model(Tensor(batch[0])), Tensor(batch[1]))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
    return model_accuracy(model, x_test, y_test, config.feature_batch_size)


def reconstructions_figure(models: dict, x: np.ndarray, seed: int, path: Path) -> Path:
    """Rows: test images, the masked input (hidden patches grey), each model's reconstruction
    (visible patches pasted back, as the MAE paper shows them)."""
    rng = np.random.default_rng(seed)
    noise = rng.random((len(x), 64))  # one mask for every model: the same patches hidden
    rows = {"test image": x}
    for name, model in models.items():
        model.eval()
        with no_grad():
            out = model(Tensor(x), noise=noise)
        mask = out.mask
        hidden = np.repeat(np.repeat(mask.reshape(-1, 8, 8), 4, axis=1), 4, axis=2)[:, None]
        rows.setdefault("masked input (75% hidden)", np.where(hidden > 0.5, 0.5, x))
        label = name if name == "pixels" else f"{name} (de-normalised with the true patch stats)"
        rows[f"reconstruction: {label}"] = np.clip(model.reconstruct(x, out.pred, mask), 0, 1)
    fig = Figure(figsize=(1.2 * len(x), 1.35 * len(rows)), layout="constrained")
    axes = fig.subplots(len(rows), len(x), squeeze=False)
    for r, (title, images) in enumerate(rows.items()):
        axes[r, 0].set_title(title, loc="left", fontsize=9)
        for c in range(len(x)):
            axes[r, c].imshow(images[c].transpose(1, 2, 0))
            axes[r, c].axis("off")
    return save_figure(fig, path)


def transfer_figure(probe: dict, tuned: dict, config: Config, path: Path) -> Path:
    """Linear-probe accuracy against the labelled fraction (a dot per seed, a line through the
    means) for each feature set, and fine-tuning beside it."""
    fig = Figure(figsize=(11, 4), layout="constrained")
    left, right = fig.subplots(1, 2, sharey=True)
    fractions = list(config.label_fractions)
    for i, (name, per_fraction) in enumerate(probe.items()):
        means = [per_fraction[str(f)]["mean"] for f in fractions]
        left.plot(fractions, np.multiply(means, 100), "-", color=f"C{i}", label=name)
        for f in fractions:
            values = np.multiply(per_fraction[str(f)]["values"], 100)
            left.plot([f] * len(values), values, "o", color=f"C{i}", markersize=3)
    left.set(xscale="log", xlabel="fraction of training labels", ylabel="test accuracy (%)")
    left.set_title("linear probe on frozen features")
    left.legend(fontsize=8)
    for i, (name, per_fraction) in enumerate(tuned.items()):
        fs = list(config.finetune_fractions)
        means = [per_fraction[str(f)]["mean"] for f in fs]
        right.plot(fs, np.multiply(means, 100), "-o", color=f"C{i + 4}", label=name)
    right.set(xscale="log", xlabel="fraction of training labels")
    right.set_title(f"fine-tuning, {config.finetune_steps} steps")
    right.legend(fontsize=8)
    for ax in (left, right):
        ax.grid(alpha=0.3)
    return save_figure(fig, path)


def main(argv: list[str] | None = None) -> dict:
    parser = experiment_parser(__doc__, default_out=Path(__file__).parent / "results")
    parser.add_argument("--cifar10", action="store_true", help="CIFAR-10 instead of shapes")
    parser.add_argument("--resume", action="store_true", help="reuse pre-trained encoders")
    args = parser.parse_args(argv)
    config = SMOKE if args.smoke else Config()
    name = "mae_transfer_cifar10" if args.cifar10 else "mae_transfer"
    start, cpu_start = time.perf_counter(), time.process_time()
    seed_everything(args.seed)
    x_train, y_train, x_test, y_test, classes = image_splits(
        args.cifar10, config.train_images, config.test_images, trim_cifar10=config is SMOKE
    )
    n_classes = len(classes)
    out = Path(args.out)

    # 1. pre-training, images only
    models, pretraining = {}, {}
    for setting, norm_pix in SETTINGS.items():
        model = build_mae(config, norm_pix, np.random.default_rng(args.seed))
        checkpoint = out / "checkpoints" / f"{name}_{setting}.safetensors"
        if args.resume and checkpoint.exists():
            pretraining[setting] = load_checkpoint(checkpoint, model)
        else:
            wall, cpu = time.perf_counter(), time.process_time()
            history = pretrain(model, x_train, config, args.seed, f"pre-train ({setting})")
            pretraining[setting] = {
                "history": history.to_dict(),
                "final_loss": history.last("pretrain_loss"),
                "time_s": time.perf_counter() - wall,
                "cpu_time_s": time.process_time() - cpu,
            }
            save_checkpoint(checkpoint, model, extra=pretraining[setting])
        models[setting] = model
    shown = x_test[: config.shown_images]
    figures = [
        reconstructions_figure(models, shown, args.seed, out / f"{name}_reconstructions.png")
    ]

    # 2. linear probes: frozen features, three label fractions, several seeds
    random_encoder = build_mae(config, True, np.random.default_rng(args.seed + 1000))
    feature_sets = {
        "raw pixels": (x_train.reshape(len(x_train), -1), x_test.reshape(len(x_test), -1)),
        "random encoder": tuple(
            encoder_features(random_encoder, x, config.feature_batch_size)
            for x in (x_train, x_test)
        ),
    }
    for setting, model in models.items():
        feature_sets[f"MAE ({setting})"] = tuple(
            encoder_features(model, x, config.feature_batch_size) for x in (x_train, x_test)
        )
    probe: dict = {}
    for feature_name, (f_train, f_test) in progress(feature_sets.items(), desc="linear probes"):
        probe[feature_name] = {}
        for fraction in config.label_fractions:
            accuracies = {}
            for seed in config.seeds:
                subset = stratified_subset(y_train, fraction, seed)
                accuracies[seed] = linear_probe(
                    f_train[subset], y_train[subset], f_test, y_test, n_classes, config, seed
                )
            probe[feature_name][str(fraction)] = spread_over_seeds(accuracies)

    # 3. fine-tuning at the small fractions: pre-trained against random initialisation, both
    # on the images as pre-training saw them (pixels in [0, 1])
    tuned: dict = {"MAE (norm_pix) initialisation": {}, "random initialisation": {}}
    for fraction in config.finetune_fractions:
        results = {k: {} for k in tuned}
        for seed in config.seeds:
            subset = stratified_subset(y_train, fraction, seed)
            for init in tuned:
                encoder = build_mae(config, True, np.random.default_rng(args.seed + 1000 + seed))
                if init.startswith("MAE"):
                    encoder.load_state_dict(models["norm_pix"].state_dict())
                results[init][seed] = finetune(
                    encoder,
                    x_train[subset],
                    y_train[subset],
                    x_test,
                    y_test,
                    n_classes,
                    config,
                    seed,
                    f"fine-tune {init}, {fraction:.0%}, seed {seed}",
                )
        for init in tuned:
            tuned[init][str(fraction)] = spread_over_seeds(results[init])
    figures.append(transfer_figure(probe, tuned, config, out / f"{name}_transfer.png"))

    smallest = str(min(config.label_fractions))
    pixels, mae = probe["raw pixels"][smallest]["mean"], probe["MAE (norm_pix)"][smallest]["mean"]
    metrics = {
        "data": "cifar10" if args.cifar10 else "shapes",
        "train_images": len(y_train),
        "test_images": len(y_test),
        "classes": n_classes,
        "pretraining": pretraining,
        "linear_probe": probe,
        "finetune": tuned,
        "relative_gain_over_pixels_at_smallest_fraction": (mae - pixels) / pixels,
        "total_cpu_time_s": time.process_time() - cpu_start,
    }
    write_results(
        out,
        name,
        "scratchvision",
        args.seed,
        asdict(config) | {"smoke": args.smoke, "cifar10": args.cifar10},
        metrics,
        time.perf_counter() - start,
        figures=figures,
    )
    return metrics


if __name__ == "__main__":
    main()
