"""Image augmentation (data/augment.py, notes/04-data.md): the batch-at-once forms equal a plain
loop over images for the same random draws and torchvision at the same parameters; the draws have
the stated distributions; the same seed gives the same batch, also through the DataLoader, even
after a mid-epoch resume; bad inputs fail early with the function's name."""

import numpy as np
import pytest

from scratchcore import Tensor
from scratchcore.data import (
    ArrayDataset,
    Compose,
    Cutout,
    DataLoader,
    RandomCrop,
    RandomHorizontalFlip,
    cutout,
    hflip,
    pad_crop,
    random_crop,
    random_cutout,
    random_horizontal_flip,
)

# ---------------------------------------------------------------- plain per-image references


def crop_reference(images, padding, top, left, mode):
    """One image at a time: pad it, then slice out its H x W window."""
    n, _, h, w = images.shape
    out = np.empty_like(images)
    for i in range(n):
        padded = np.pad(images[i], ((0, 0), (padding, padding), (padding, padding)), mode=mode)
        out[i] = padded[:, top[i] : top[i] + h, left[i] : left[i] + w]
    return out


def flip_reference(images, flip):
    out = images.copy()
    for i in range(len(images)):
        if flip[i]:
            out[i] = images[i, :, :, ::-1]
    return out


def cutout_reference(images, centre_y, centre_x, size):
    """As the paper's code: clip the square's corners to the image, zero the slice."""
    n, _, h, w = images.shape
    out = images.copy()
    for i in range(n):
        y1, y2 = np.clip([centre_y[i] - size // 2, centre_y[i] - size // 2 + size], 0, h)
        x1, x2 = np.clip([centre_x[i] - size // 2, centre_x[i] - size // 2 + size], 0, w)
        out[i, :, y1:y2, x1:x2] = 0
    return out


def batch(n=7, c=3, h=6, w=5, dtype=np.float64, seed=0):
    x = np.random.default_rng(seed).standard_normal((n, c, h, w)) * 50
    return x.astype(dtype)


DTYPES = [np.float64, np.float32, np.uint8]


# ---------------------------------------------------------------- equal to the loops


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("mode", ["constant", "reflect"])
@pytest.mark.parametrize("padding", [0, 1, 3])
def test_random_crop_equals_per_image_loop(dtype, mode, padding):
    x = batch(dtype=dtype)
    before = x.copy()
    out = random_crop(x, padding, np.random.default_rng(5), mode=mode)
    top, left = np.random.default_rng(5).integers(0, 2 * padding + 1, size=(2, len(x)))
    np.testing.assert_array_equal(out, crop_reference(x, padding, top, left, mode))
    assert out.dtype == dtype and out.shape == x.shape
    np.testing.assert_array_equal(x, before)  # the input is not touched
    assert not np.shares_memory(out, x)


def test_pad_crop_at_the_centre_is_the_identity_and_corners_are_shifts():
    x = batch()
    n = len(x)
    np.testing.assert_array_equal(pad_crop(x, 2, np.full(n, 2), np.full(n, 2)), x)
    shifted = pad_crop(x, 2, np.zeros(n, int), np.full(n, 2))  # 2 rows of zeros on top
    np.testing.assert_array_equal(shifted[:, :, 2:], x[:, :, :-2])
    assert not shifted[:, :, :2].any()


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("p", [0.0, 0.3, 0.5, 1.0])
def test_random_horizontal_flip_equals_per_image_loop(dtype, p):
    x = batch(n=20, dtype=dtype)
    out = random_horizontal_flip(x, np.random.default_rng(2), p=p)
    flip = np.random.default_rng(2).random(len(x)) < p
    np.testing.assert_array_equal(out, flip_reference(x, flip))
    assert out.dtype == dtype and not np.shares_memory(out, x)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("size", [0, 1, 2, 3, 4, 9])
def test_random_cutout_equals_per_image_loop(dtype, size):
    x = batch(n=30, dtype=dtype) + (1 if dtype == np.uint8 else 0.5)  # no zero pixels before
    out = random_cutout(x, size, np.random.default_rng(4))
    rng = np.random.default_rng(4)
    centre_y, centre_x = rng.integers(0, 6, 30), rng.integers(0, 5, 30)
    np.testing.assert_array_equal(out, cutout_reference(x, centre_y, centre_x, size))
    assert out.dtype == dtype and not np.shares_memory(out, x)


def test_cutout_inside_the_image_erases_exactly_size_squared_pixels_per_channel():
    x = np.ones((4, 2, 10, 10))
    out = cutout(x, np.array([5, 4, 3, 6]), np.array([5, 6, 4, 3]), 4)
    assert ((out == 0).sum(axis=(2, 3)) == 16).all()
    np.testing.assert_array_equal(out[0, :, 3:7, 3:7], 0)  # rows 5 - 2 .. 5 + 1


# ---------------------------------------------------------------- equal to torchvision


@pytest.fixture
def tv():
    torch = pytest.importorskip("torch")
    functional = pytest.importorskip("torchvision.transforms.v2.functional")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield torch, functional
    torch.set_num_threads(threads)


@pytest.mark.parametrize("mode", ["constant", "reflect"])
@pytest.mark.parametrize("padding", [1, 2, 4])
def test_pad_crop_equals_torchvision_pad_then_crop(tv, mode, padding):
    torch, TF = tv
    x = batch(n=6, h=7, w=9)
    top, left = np.random.default_rng(padding).integers(0, 2 * padding + 1, size=(2, 6))
    padded = TF.pad(torch.from_numpy(x), [padding], fill=0, padding_mode=mode)
    expected = torch.stack(
        [TF.crop(padded[i], int(top[i]), int(left[i]), 7, 9) for i in range(6)]
    ).numpy()
    assert expected.dtype == np.float64
    np.testing.assert_array_equal(pad_crop(x, padding, top, left, mode), expected)


def test_hflip_equals_torchvision_horizontal_flip(tv):
    torch, TF = tv
    x = batch(n=5)
    flip = np.array([True, False, True, True, False])
    expected = np.where(flip[:, None, None, None], TF.horizontal_flip(torch.from_numpy(x)), x)
    np.testing.assert_array_equal(hflip(x, flip), expected)
    np.testing.assert_array_equal(hflip(x, np.ones(5, bool)), TF.hflip(torch.from_numpy(x)))


def test_cutout_equals_torchvision_erase_of_the_clipped_square(tv):
    torch, TF = tv
    x = batch(n=6, h=8, w=7)
    centre_y, centre_x, size = np.array([0, 7, 3, 4, 1, 6]), np.array([0, 6, 3, 0, 5, 2]), 5
    expected = []
    for i in range(6):
        y1, y2 = np.clip([centre_y[i] - 2, centre_y[i] + 3], 0, 8)
        x1, x2 = np.clip([centre_x[i] - 2, centre_x[i] + 3], 0, 7)
        erased = TF.erase(torch.from_numpy(x[i]), y1, x1, y2 - y1, x2 - x1, torch.tensor(0.0))
        expected.append(erased.numpy())
    np.testing.assert_array_equal(cutout(x, centre_y, centre_x, size), np.stack(expected))


# ---------------------------------------------------------------- the draws' distributions


@pytest.mark.parametrize("p", [0.1, 0.5, 0.85])
def test_flip_rate_is_p_within_a_binomial_bound(p):
    n = 20_000
    x = np.broadcast_to(np.arange(3.0), (n, 1, 1, 3))  # asymmetric: a flip changes pixel 0
    flipped = random_horizontal_flip(x, np.random.default_rng(11), p=p)[:, 0, 0, 0] == 2.0
    sd = np.sqrt(n * p * (1 - p))
    assert abs(flipped.sum() - n * p) < 4 * sd


def chi_square(counts):
    expected = counts.sum() / counts.size
    return ((counts - expected) ** 2 / expected).sum()


def chi_square_bound(cells):
    """Mean + 5 sd of a chi-square with cells - 1 degrees of freedom (seeded: never flakes)."""
    dof = cells - 1
    return dof + 5 * np.sqrt(2 * dof)


@pytest.mark.parametrize("padding", [1, 2, 4])
def test_crop_offsets_are_uniform_over_all_positions(padding):
    h = w = 2 * padding + 3
    cells = (2 * padding + 1) ** 2
    n = 300 * cells
    # Pixel (r, c) holds r * w + c + 1. Output pixel (padding, padding) is input pixel
    # (top, left), always inside the image, so it tells the offset the crop used.
    code = (np.arange(h * w, dtype=np.int64) + 1).reshape(1, 1, h, w)
    out = random_crop(np.broadcast_to(code, (n, 1, h, w)), padding, np.random.default_rng(3))
    top, left = np.divmod(out[:, 0, padding, padding] - 1, w)
    counts = np.zeros((2 * padding + 1, 2 * padding + 1))
    np.add.at(counts, (top, left), 1)
    assert counts.min() > 0 and chi_square(counts) < chi_square_bound(cells)


def test_cutout_centre_is_uniform_over_all_pixels():
    n, h, w = 9_000, 5, 6
    out = random_cutout(np.ones((n, 2, h, w)), 1, np.random.default_rng(8))
    assert (out == 0).sum() == 2 * n  # one pixel, in both channels
    zero = out[:, 0].reshape(n, -1).argmin(axis=1)  # a 1x1 square is its centre
    counts = np.bincount(zero, minlength=h * w)
    assert counts.min() > 0 and chi_square(counts) < chi_square_bound(h * w)


# ---------------------------------------------------------------- seeds


AUGMENTS = {
    "crop": lambda x, rng: random_crop(x, 2, rng),
    "crop reflect": lambda x, rng: random_crop(x, 2, rng, mode="reflect"),
    "flip": lambda x, rng: random_horizontal_flip(x, rng),
    "cutout": lambda x, rng: random_cutout(x, 3, rng),
    "compose": Compose([RandomCrop(2), RandomHorizontalFlip(), Cutout(3)]),
}


@pytest.mark.parametrize("name", list(AUGMENTS))
def test_same_seed_same_batch_other_seed_other_batch(name):
    augment, x = AUGMENTS[name], batch(n=16)
    first = augment(x, np.random.default_rng(0))
    np.testing.assert_array_equal(first, augment(x, np.random.default_rng(0)))
    assert not np.array_equal(first, augment(x, np.random.default_rng(1)))


def test_compose_is_its_transforms_in_order_from_one_generator_and_keeps_labels():
    x, y = batch(n=9), np.arange(9)
    pipeline = Compose([RandomCrop(3, mode="reflect"), RandomHorizontalFlip(0.7), Cutout(2)])
    out, labels = pipeline((x, y), np.random.default_rng(6))
    rng = np.random.default_rng(6)
    expected = random_cutout(
        random_horizontal_flip(random_crop(x, 3, rng, "reflect"), rng, 0.7), 2, rng
    )
    np.testing.assert_array_equal(out, expected)
    assert labels is y
    np.testing.assert_array_equal(pipeline(x, np.random.default_rng(6)), expected)
    assert "RandomCrop(padding=3, mode='reflect')" in repr(pipeline)


def test_crop_and_flip_pipeline_equals_the_crop_then_flip_recipe_draw_for_draw():
    """The draw order is fixed (offsets, then flips), so a pipeline equals any loop that draws
    the same way, e.g. a training script's own crop-and-flip written before this module."""
    x = batch(n=12)
    out = Compose([RandomCrop(2), RandomHorizontalFlip()])(x, np.random.default_rng(9))
    rng = np.random.default_rng(9)
    top, left = rng.integers(0, 5, size=(2, 12))
    flip = rng.random(12) < 0.5
    np.testing.assert_array_equal(
        out, flip_reference(crop_reference(x, 2, top, left, "constant"), flip)
    )


# ---------------------------------------------------------------- in the DataLoader


def make_loader(**kwargs):
    x, y = batch(n=23, c=2, h=5, w=5), np.arange(23)
    pipeline = Compose([RandomCrop(1), RandomHorizontalFlip(), Cutout(2)])
    settings = {"batch_size": 4, "shuffle": True, "seed": 7, "transform": pipeline, **kwargs}
    return DataLoader(ArrayDataset(x, y), **settings), x, pipeline


def test_loader_transform_gets_a_generator_per_seed_epoch_and_batch():
    loader, x, pipeline = make_loader()
    for epoch in range(2):
        order = loader.order(epoch)
        for b, (xb, yb) in enumerate(loader):
            np.testing.assert_array_equal(yb, order[4 * b : 4 * b + 4])  # labels untouched
            rng = np.random.default_rng([7, epoch, b, 1])
            np.testing.assert_array_equal(xb, pipeline(x[yb], rng))
    # a stream of its own, not the one that shuffled the epoch
    assert loader.augment_rng(0, 0).random() != np.random.default_rng([7, 0]).random()


def test_loader_augmentation_is_reproducible_differs_by_epoch_and_survives_a_resume():
    loader, _, _ = make_loader()
    epochs = [[xb for xb, _ in loader] for _ in range(2)]
    again, _, _ = make_loader()
    for ours, theirs in zip(epochs[0], (xb for xb, _ in again), strict=True):
        np.testing.assert_array_equal(ours, theirs)
    # same examples in both epochs (no shuffle), different augmentations
    still, _, _ = make_loader(shuffle=False)
    first, second = [np.concatenate([xb for xb, _ in still]) for _ in range(2)]
    assert not np.array_equal(first, second)
    # interrupted after 2 batches of epoch 1, resumed in a fresh loader
    interrupted, _, _ = make_loader()
    list(interrupted)
    it = iter(interrupted)
    next(it), next(it)
    fresh, _, _ = make_loader(seed=0)
    fresh.load_state_dict(interrupted.state_dict())
    for ours, (theirs, _) in zip(epochs[1][2:], fresh, strict=True):
        np.testing.assert_array_equal(ours, theirs)


def test_loader_transform_runs_before_as_tensor_and_none_changes_nothing():
    loader, x, _ = make_loader(as_tensor=True)
    xb, yb = next(iter(loader))
    assert isinstance(xb, Tensor) and isinstance(yb, Tensor)
    plain, _, _ = make_loader(transform=None)
    xb, yb = next(iter(plain))
    np.testing.assert_array_equal(xb, x[yb])


# ---------------------------------------------------------------- bad inputs


BAD = [
    (
        lambda: random_crop(np.zeros((3, 4, 4)), 1, np.random.default_rng()),
        r"random_crop.*\(3, 4, 4\)",
    ),
    (
        lambda: random_crop(np.zeros((1, 1, 4, 4)), -1, np.random.default_rng()),
        r"random_crop: padding.*-1",
    ),
    (
        lambda: random_crop(np.zeros((1, 1, 4, 4)), 1.5, np.random.default_rng()),
        r"random_crop: padding.*1\.5",
    ),
    (
        lambda: random_crop(np.zeros((1, 1, 4, 4)), 1, np.random.default_rng(), "wrap"),
        r"random_crop: mode.*'wrap'",
    ),
    (
        lambda: random_crop(np.zeros((1, 1, 4, 4)), 4, np.random.default_rng(), "reflect"),
        r"random_crop: reflect padding.*4.*4x4",
    ),
    (
        lambda: random_horizontal_flip(np.zeros((2, 4, 4)), np.random.default_rng()),
        r"random_horizontal_flip.*\(2, 4, 4\)",
    ),
    (
        lambda: random_horizontal_flip(np.zeros((1, 1, 2, 2)), np.random.default_rng(), p=1.5),
        r"random_horizontal_flip: p.*1\.5",
    ),
    (
        lambda: random_horizontal_flip(np.zeros((1, 1, 2, 2)), np.random.default_rng(), p=-0.1),
        r"random_horizontal_flip: p.*-0\.1",
    ),
    (
        lambda: random_horizontal_flip(
            np.zeros((1, 1, 2, 2)), np.random.default_rng(), p=float("nan")
        ),
        r"random_horizontal_flip: p.*nan",
    ),
    (
        lambda: random_cutout(np.zeros((4, 4)), 2, np.random.default_rng()),
        r"random_cutout.*\(4, 4\)",
    ),
    (
        lambda: random_cutout(np.zeros((1, 1, 4, 4)), -2, np.random.default_rng()),
        r"random_cutout: size.*-2",
    ),
    (
        lambda: random_cutout(np.zeros((1, 1, 0, 4)), 2, np.random.default_rng()),
        r"random_cutout: images must have H, W >= 1",
    ),
    (
        lambda: pad_crop(np.zeros((2, 1, 4, 4)), 1, [0, 3], [0, 0]),
        r"pad_crop: top must lie in \[0, 2\].*max 3",
    ),
    (lambda: pad_crop(np.zeros((2, 1, 4, 4)), 1, [0], [0]), r"pad_crop: top must be 2 integers"),
    (lambda: pad_crop(np.zeros((2, 1, 4, 4)), 1, [0.0, 1.0], [0, 0]), r"pad_crop: top.*float64"),
    (lambda: hflip(np.zeros((2, 1, 4, 4)), [1, 0]), r"hflip: flip must be 2 booleans"),
    (
        lambda: cutout(np.zeros((2, 1, 4, 4)), [0, 4], [0, 0], 2),
        r"cutout: centre_y must lie in \[0, 3\]",
    ),
    (lambda: RandomCrop(-4), r"RandomCrop: padding.*-4"),
    (lambda: RandomCrop(4, mode="edge"), r"RandomCrop: mode.*'edge'"),
    (lambda: RandomHorizontalFlip(2), r"RandomHorizontalFlip: p.*2"),
    (lambda: Cutout(-1), r"Cutout: size.*-1"),
]


@pytest.mark.parametrize(("call", "message"), BAD, ids=[m for _, m in BAD])
def test_bad_inputs_raise_value_error_naming_the_function(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_wrong_types_raise_type_error():
    with pytest.raises(TypeError, match=r"random_crop: rng must be a np\.random\.Generator.*int"):
        random_crop(np.zeros((1, 1, 4, 4)), 1, 0)
    with pytest.raises(TypeError, match=r"Compose: every transform must be callable"):
        Compose([RandomCrop(1), "flip"])
    with pytest.raises(TypeError, match=r"DataLoader: transform must be a callable.*'crop'"):
        DataLoader(ArrayDataset(np.zeros(3)), transform="crop")
