"""Patch whitening: patches against an explicit loop, and the whitened channels' covariance.

The filter bank of ``patch_whitening_filter`` must make the convolution's output channels
uncorrelated over the training patches with variances ``lambda / (lambda + eps)``; the patches
must be exactly the windows a loop would cut; the fixed convolution must equal PyTorch's.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from scratchcore import Tensor
from scratchcore.testing import assert_close
from scratchvision.models import PatchWhitening, image_patches, patch_whitening_filter


@settings(max_examples=10, deadline=None, derandomize=True)
@given(
    n=st.integers(1, 3),
    c=st.integers(1, 3),
    h=st.integers(3, 7),
    w=st.integers(3, 7),
    size=st.sampled_from([1, 2, 3]),
    seed=st.integers(0, 2**16),
)
def test_patches_are_the_windows_a_loop_cuts(n, c, h, w, size, seed):
    images = np.random.default_rng(seed).standard_normal((n, c, h, w))
    expected = [
        images[i, :, r : r + size, s : s + size]
        for i in range(n)
        for r in range(h - size + 1)
        for s in range(w - size + 1)
    ]
    assert_close(image_patches(images, size), np.stack(expected), 0, 0)


def correlated_images(seed, n=300, c=3, side=10):
    """Smooth, colour-correlated images: a blurred shared field plus a little noise."""
    rng = np.random.default_rng(seed)
    field = rng.standard_normal((n, 1, side + 2, side + 2))
    smooth = sum(field[:, :, i : i + side, j : j + side] for i in range(3) for j in range(3))
    mix = rng.uniform(0.5, 1.5, (1, c, 1, 1))
    return smooth * mix + 0.1 * rng.standard_normal((n, c, side, side))


@pytest.mark.parametrize(("c", "eps", "seed"), [(3, 1e-2, 0), (1, 1e-3, 1), (2, 0.5, 2)])
def test_whitened_channels_are_uncorrelated_with_the_predicted_variances(c, eps, seed):
    images = correlated_images(seed, c=c)
    filters = patch_whitening_filter(images, 3, eps)
    assert filters.shape == (9 * c, c, 3, 3)
    flat = image_patches(images, 3).reshape(-1, 9 * c)
    whitened = flat @ filters.reshape(9 * c, -1).T  # each channel's value at every patch
    covariance = whitened.T @ whitened / (len(flat) - 1)
    raw = np.linalg.eigvalsh(flat.T @ flat / (len(flat) - 1))[::-1]
    assert_close(covariance, np.diag(raw / (raw + eps)), 1e-9, 1e-9)
    # the inputs were far from white: their loudest direction dwarfs their quietest
    assert raw[0] > 100 * raw[-1]


def test_the_fixed_convolution_equals_torch_and_keeps_the_size():
    rng = np.random.default_rng(4)
    filters = patch_whitening_filter(correlated_images(5, n=20), 3)
    x = rng.standard_normal((2, 3, 8, 8))
    ours = PatchWhitening(filters, np.float64)(Tensor(x))
    theirs = torch.nn.functional.conv2d(torch.tensor(x), torch.tensor(filters), padding=1)
    assert ours.shape == (2, 27, 8, 8)
    assert_close(ours, theirs.numpy(), 1e-12, 1e-12)


def test_bad_input_is_a_clear_error():
    with pytest.raises(ValueError, match="expected images"):
        image_patches(np.zeros((3, 8, 8)))
    with pytest.raises(ValueError, match="size must be"):
        image_patches(np.zeros((1, 3, 4, 4)), 5)
    with pytest.raises(ValueError, match="eps must be positive"):
        patch_whitening_filter(np.zeros((1, 3, 4, 4)), eps=0)
    with pytest.raises(ValueError, match="odd k"):
        PatchWhitening(np.zeros((4, 3, 2, 2)))
