"""Swin Transformer v2 against timm's ``SwinTransformerV2``, weight for weight, in float64.

* timm's state dict loads 1:1; its non-persistent buffers (``relative_coords_table``,
  ``relative_position_index``, ``attn_mask``) equal the arrays computed here;
* outputs, the input gradient and every parameter's gradient equal timm's, in a configuration
  where both stages have shifted windows (32x32 images, patch 2: 16x16 then 8x8 maps, window 4);
  one head's ``logit_scale`` is above ``log 100`` so the clamp is exercised;
* window partition then reverse is the identity, and partition is the slicing it claims;
* the shift mask blocks exactly the pairs of tokens that were not neighbours before the shift,
  computed by brute force over every window and pair;
* without the shift (or without its mask) the outputs differ beyond tolerance.

Tolerances: ``atol = 1e-10``, ``rtol = 1e-8`` in float64. One float32 step in timm: its
``relative_coords_table`` is computed in float32 (``torch.log2`` on float32) and only then cast,
so ``.double()`` keeps float32 rounding (~3e-8). It is compared at float32 precision and then
replaced, in the timm model only, by our float64 table before the float64 comparison.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from timm.models.swin_transformer_v2 import SwinTransformerV2 as TimmSwin

from scratchcore import Tensor
from scratchcore.testing import assert_close
from scratchvision.models import SwinTransformerV2
from scratchvision.models.swin import (
    roll,
    shift_attention_mask,
    window_partition,
    window_reverse,
)

ATOL, RTOL = 1e-10, 1e-8
CONFIG = dict(
    img_size=32,
    patch_size=2,
    window_size=4,
    embed_dim=24,
    depths=(2, 2),
    num_heads=(2, 4),
    num_classes=10,
)


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def timm_model(seed: int = 0):
    """timm's Swin v2 in float64, every parameter moved off its init (at init the post-norms
    are all zero: every block is the identity and the test would see nothing)."""
    torch.manual_seed(seed)
    model = TimmSwin(**CONFIG, drop_path_rate=0.0).double()
    gen = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for name, p in model.named_parameters():
            p.add_(
                (0.5 if "norm" in name else 0.1)
                * torch.randn(p.shape, generator=gen, dtype=p.dtype)
            )
            if "norm" in name and name.endswith("weight"):
                p.add_(1.0)
        model.layers[0].blocks[1].attn.logit_scale[0] = 5.0  # > log(100) = 4.605: clamped
    return model


def ours_from(theirs) -> SwinTransformerV2:
    ours = SwinTransformerV2(**CONFIG, dtype=np.float64)
    ours.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})
    return ours


def use_float64_tables(ours, theirs) -> None:
    """Test-only workaround: timm's float32-rounded coordinate tables -> our float64 ones."""
    modules = dict(ours.named_modules())
    for name, module in theirs.named_modules():
        if type(module).__name__ == "WindowAttention":
            table = modules[name].relative_coords_table
            module.relative_coords_table.copy_(torch.tensor(table))


def compare(ours, theirs, x: np.ndarray, seed: int = 0) -> None:
    for p in ours.parameters():
        p.grad = None
    theirs.zero_grad(set_to_none=True)
    xs, xt = Tensor(x.copy(), requires_grad=True), torch.tensor(x, requires_grad=True)
    out, expected = ours(xs), theirs(xt)
    assert_close(out, expected, ATOL, RTOL, name="logits")
    w = np.random.default_rng(seed).standard_normal(out.shape)
    out.backward(w)
    (expected * torch.tensor(w)).sum().backward()
    assert_close(xs.grad, xt.grad, ATOL, RTOL, name="input gradient")
    torch_params = dict(theirs.named_parameters())
    for name, p in ours.named_parameters():
        assert_close(p.grad, torch_params[name].grad, ATOL, RTOL, name=f"grad of {name}")


def test_state_dict_and_computed_buffers_are_timms():
    theirs = TimmSwin(**CONFIG).double()
    ours = SwinTransformerV2(**CONFIG)
    expected = {k: tuple(v.shape) for k, v in theirs.state_dict().items()}
    assert list(ours.state_dict()) == list(expected)  # no buffers on either side
    assert {k: v.shape for k, v in ours.state_dict().items()} == expected
    modules = dict(ours.named_modules())
    shifted = 0
    for name, module in theirs.named_modules():
        kind = type(module).__name__
        if kind == "WindowAttention":
            mine = modules[name]
            assert_close(mine.relative_coords_table, module.relative_coords_table, 1e-7, 1e-6)
            assert np.array_equal(mine.relative_position_index, module.relative_position_index)
        elif kind == "SwinTransformerV2Block":
            mine = modules[name]
            assert (mine.attn_mask is None) == (module.attn_mask is None), name
            assert tuple(mine.shift) == tuple(module.shift_size), name
            if mine.attn_mask is not None:
                shifted += 1
                assert_close(mine.attn_mask, module.attn_mask, 0.0, 0.0, name=f"{name} mask")
    assert shifted == 2  # the second block of both stages: the parity test covers the shift


@pytest.mark.parametrize("train", [True, False])
def test_parity_with_timm(train):
    theirs = timm_model()
    ours = ours_from(theirs)
    use_float64_tables(ours, theirs)
    ours.train(train), theirs.train(train)
    compare(ours, theirs, np.random.default_rng(1).standard_normal((2, 3, 32, 32)))
    # the clamped head's logit_scale gets no gradient, as torch.clamp
    assert ours.layers[0].blocks[1].attn.logit_scale.grad[0, 0, 0] == 0.0


@pytest.mark.parametrize("what", ["shift", "mask"])
def test_dropping_the_shift_or_its_mask_changes_the_output(what):
    theirs = timm_model()
    ours = ours_from(theirs)
    use_float64_tables(ours, theirs)
    for stage in ours.layers:
        block = stage.blocks[1]
        if what == "shift":
            block.shift = (0, 0)
        block.attn_mask = None
    x = np.random.default_rng(1).standard_normal((2, 3, 32, 32))
    with torch.no_grad():
        expected = theirs(torch.tensor(x)).numpy()
    with pytest.raises(AssertionError, match="values differ"):
        assert_close(ours(Tensor(x)), expected, ATOL, RTOL)


@pytest.mark.parametrize(("size", "window"), [((8, 8), (4, 4)), ((6, 12), (3, 4))])
def test_window_partition_then_reverse_is_the_identity(size, window):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, *size, 5))
    windows = window_partition(Tensor(x), window)
    (h, w), (wh, ww) = size, window
    per_image = (h // wh) * (w // ww)
    assert windows.shape == (2 * per_image, wh, ww, 5)
    for index in rng.choice(len(windows.data), 5, replace=False):  # spot-check the slicing
        b, k = divmod(int(index), per_image)
        i, j = divmod(k, w // ww)
        assert np.array_equal(
            windows.data[index], x[b, i * wh : (i + 1) * wh, j * ww : (j + 1) * ww]
        )
    assert np.array_equal(window_reverse(windows, window, size).data, x)
    with pytest.raises(ValueError, match="not a multiple"):
        window_partition(Tensor(x), (5, 5))


def test_roll_equals_torch_roll():
    x = np.random.default_rng(0).standard_normal((2, 6, 8, 3))
    for shifts in [(2, 2), (-2, -3), (7, 0)]:
        expected = torch.roll(torch.tensor(x), shifts=shifts, dims=(1, 2)).numpy()
        assert np.array_equal(roll(Tensor(x), shifts).data, expected)


@pytest.mark.parametrize(
    ("size", "window", "shift"),
    [
        ((8, 8), (4, 4), (2, 2)),
        ((8, 12), (4, 4), (2, 2)),
        ((12, 12), (6, 6), (3, 3)),
        ((9, 8), (3, 4), (1, 2)),
    ],
)
def test_shift_mask_blocks_exactly_the_pairs_that_were_not_neighbours(size, window, shift):
    """Brute force: roll the map of original (row, column) coordinates as the block rolls the
    features, cut it into windows, and for every window and pair of tokens decide whether the
    two pixels were neighbours in the unshifted image — no wrap-around between them, i.e. their
    original rows (and columns) differ by less than the window. Exactly the others are masked."""
    (h, w), (wh, ww) = size, window
    coords = np.stack(np.meshgrid(np.arange(h), np.arange(w), indexing="ij"), -1).astype(float)
    rolled = roll(Tensor(coords[None]), (-shift[0], -shift[1]))
    tokens = window_partition(rolled, window).data.reshape(-1, wh * ww, 2)  # original coords
    expected = np.zeros((len(tokens), wh * ww, wh * ww))
    for k, window_tokens in enumerate(tokens):
        for p, (rp, cp) in enumerate(window_tokens):
            for q, (rq, cq) in enumerate(window_tokens):
                neighbours = abs(rp - rq) < wh and abs(cp - cq) < ww
                expected[k, p, q] = 0.0 if neighbours else -100.0
    mask = shift_attention_mask(size, window, shift)
    assert_close(mask, expected, 0.0, 0.0, name="shift mask")
    assert (mask[0] == 0).all()  # the first window never wraps
    assert shift_attention_mask(size, window, (0, 0)) is None
