"""Offline datasets (notes/04-data.md): digits split, procedural shapes, the docs corpus, toys."""

import numpy as np
import pytest
from sklearn.datasets import load_digits

from scratchcore.data import DataLoader
from scratchcore.data.datasets import (
    SHAPE_CLASSES,
    digits,
    python_docs_corpus,
    python_docs_text,
    shape_mask,
    shapes,
    spirals,
    two_moons,
)


def row_keys(X):
    """Each row of ``X`` as bytes, to compare sets of images exactly."""
    X = np.ascontiguousarray(X.reshape(len(X), -1))
    return {row.tobytes() for row in X}


def test_digits_split_is_fixed_stratified_and_disjoint():
    d = digits()
    assert d.X_train.shape == (1437, 1, 8, 8) and d.X_test.shape == (360, 1, 8, 8)
    assert d.X_train.dtype == np.float32 and d.y_train.dtype == np.int64
    assert d.X_train.min() == 0.0 and d.X_train.max() == 1.0
    # Every image of the bundled set appears once, in exactly one split, with its label.
    bunch = load_digits()
    reference = {
        (img / 16.0).astype(np.float32).tobytes(): t
        for img, t in zip(bunch.images, bunch.target, strict=True)
    }
    train, test = row_keys(d.X_train), row_keys(d.X_test)
    assert not train & test
    for X, y in ((d.X_train, d.y_train), (d.X_test, d.y_test)):
        for img, label in zip(X, y, strict=True):
            assert reference[img[0].tobytes()] == label
    # Stratified: test class counts are the whole set's proportions (36 per class, +-1).
    assert np.abs(np.bincount(d.y_test, minlength=10) - 36).max() <= 1
    # Fixed: a second call returns the very same split.
    again = digits(flatten=True)
    np.testing.assert_array_equal(again.X_test, d.X_test.reshape(360, 64))
    np.testing.assert_array_equal(again.y_train, d.y_train)
    assert d.classes == tuple("0123456789")


def test_shapes_deterministic_balanced_and_in_range():
    a = shapes(n=240, seed=3)
    b = shapes(n=240, seed=3)
    c = shapes(n=240, seed=4)
    assert a.images.shape == (240, 3, 32, 32) and a.images.dtype == np.float32
    assert a.labels.dtype == np.int64
    np.testing.assert_array_equal(a.images, b.images)
    np.testing.assert_array_equal(a.labels, b.labels)
    assert not np.array_equal(a.images, c.images)
    assert a.classes == SHAPE_CLASSES and len(SHAPE_CLASSES) >= 10
    np.testing.assert_array_equal(np.bincount(a.labels, minlength=12), np.full(12, 20))
    assert a.images.min() >= 0.0 and a.images.max() <= 1.0
    u8 = shapes(n=240, seed=3, dtype="uint8")
    assert u8.images.dtype == np.uint8
    np.testing.assert_array_equal(u8.images, np.round(a.images * 255).astype(np.uint8))


def test_shapes_draw_the_labelled_shape():
    # Without noise, each image is exactly background + coverage * (foreground - background):
    # the pixels split into a background colour and the shape. The shape's area relative to a
    # circle of the same scale is a property of the class (a ring is ~70% of a disc, a plus ~40%).
    img = shapes(n=24, seed=0, noise=0.0)
    for image, label in zip(img.images, img.labels, strict=True):
        corners = image[:, [0, 0, -1, -1], [0, -1, 0, -1]]  # shapes never reach the corners
        np.testing.assert_allclose(corners, corners[:, :1].repeat(4, axis=1), atol=1e-6)
        assert (np.abs(image - corners[:, :1, None]).max(axis=0) > 1e-3).sum() > 15, SHAPE_CLASSES[
            label
        ]


@pytest.mark.parametrize(
    ("name", "area"),
    [
        ("circle", np.pi),
        ("square", 1.6**2),
        ("ring", np.pi * (1 - 0.55**2)),
        ("plus", 2 * 0.6 * 2 - 0.6**2),
        ("ellipse", np.pi * 0.45),
        ("triangle", 0.5 * (3**0.5) * 1.5),
        ("horizontal_stripes", 1.8**2 / 2),
        ("checkerboard", 1.8**2 * 5 / 9),  # 3x3 cells, 5 of them filled
    ],
)
def test_shape_masks_have_their_closed_form_area(name, area):
    # Area of each mask in the shape's own frame on a fine grid vs the closed form.
    t = (np.arange(1000) + 0.5) / 500 - 1
    u, v = np.meshgrid(t, t)
    measured = shape_mask(name, u, v).mean() * 4
    assert abs(measured - area) < 0.02 * area


def test_shapes_generation_is_vectorised_and_fast():
    import time

    start = time.perf_counter()
    shapes(n=2000, seed=0)
    assert (
        time.perf_counter() - start < 5.0
    )  # ~0.3 s on a laptop core; a per-pixel loop takes minutes


def test_shapes_rejects_bad_arguments():
    with pytest.raises(ValueError, match="dtype"):
        shapes(n=10, dtype="float16")
    with pytest.raises(ValueError, match="n >= 1"):
        shapes(n=0)
    with pytest.raises(ValueError, match="unknown class"):
        shape_mask("hexagon", np.zeros(1), np.zeros(1))


def test_python_docs_corpus_split_is_fixed_and_disjoint():
    text = python_docs_text()
    from pydoc_data.topics import topics

    assert text == "\n".join(topics[k] for k in sorted(topics))
    corpus = python_docs_corpus()
    assert len(corpus.train) > 100_000 and len(corpus.validation) > 10_000
    assert corpus.train + corpus.validation == text  # a cut: disjoint and covering
    assert len(corpus.train) == int(0.9 * len(text))
    assert python_docs_corpus() == corpus


def test_toy_sets_are_seeded_and_balanced():
    X, y = two_moons(n=101, seed=2)
    X2, y2 = two_moons(n=101, seed=2)
    np.testing.assert_array_equal(X, X2)
    np.testing.assert_array_equal(y, y2)
    np.testing.assert_array_equal(np.bincount(y), [50, 51])
    X, y = spirals(n=90, classes=3, noise=0.0, seed=0)
    np.testing.assert_array_equal(np.bincount(y), [30, 30, 30])
    np.testing.assert_allclose(np.hypot(X[:, 0], X[:, 1]).max(), 1.0, rtol=1e-6)


def test_shapes_feed_a_loader():
    data = shapes(n=36, seed=1)
    loader = DataLoader(data.dataset(), batch_size=10, shuffle=True, seed=0)
    labels = np.concatenate([y for _, y in loader])
    np.testing.assert_array_equal(np.sort(labels), np.sort(data.labels))
