"""The Vision Transformer against timm's ``VisionTransformer``, weight for weight, in float64.

* timm's state dict loads 1:1 (same names, order and shapes);
* outputs, the input gradient and every parameter's gradient equal timm's (train and eval mode;
  without dropout they are one function);
* bicubic resizing equals ``torch.nn.functional.interpolate(mode="bicubic",
  align_corners=False)`` with and without antialiasing, values and gradients;
* position embeddings resized from a 4x4 to a 6x6 patch grid (32x32 -> 48x48 images) equal
  timm's ``resample_abs_pos_embed``, and the resized model equals timm's resized model.

Tolerances: ``atol = 1e-10``, ``rtol = 1e-8`` in float64. One float32 step in timm:
``resample_abs_pos_embed`` casts to float32 before ``F.interpolate`` (and back after). Its result
is compared at float32 precision (``atol = rtol = 1e-6``); the tight float64 comparison is made
against the same steps run in float64 (timm's reshapes, torch's ``interpolate``), and timm's
resized model gets our float64 embeddings before the float64 model comparison.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from timm.layers import resample_abs_pos_embed
from timm.models.vision_transformer import VisionTransformer as TimmViT

from scratchcore import Tensor
from scratchcore.testing import assert_close, check_parity
from scratchvision.models import VisionTransformer, interpolate_pos_embed, resize_bicubic

ATOL, RTOL = 1e-10, 1e-8
CONFIG = dict(img_size=32, patch_size=8, embed_dim=48, depth=2, num_heads=3, num_classes=10)


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def timm_model(seed: int = 0):
    """timm's ViT in float64 with *every* parameter random: at timm's init the LayerNorms are
    (1, 0), the biases 0 and the class token ~1e-6, which would hide a swapped or unused one."""
    torch.manual_seed(seed)
    model = TimmViT(**CONFIG).double()
    gen = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith(("bias", "cls_token")) or "norm" in name:
                base = 1.0 if "norm" in name and name.endswith("weight") else 0.0
                p.copy_(base + 0.2 * torch.randn(p.shape, generator=gen, dtype=p.dtype))
    return model


def ours_from(theirs, **overrides) -> VisionTransformer:
    ours = VisionTransformer(**(CONFIG | overrides), dtype=np.float64)
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    return ours


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


def test_state_dict_is_timms():
    theirs = TimmViT(**CONFIG)
    ours = VisionTransformer(**CONFIG)
    expected = {k: tuple(v.shape) for k, v in theirs.state_dict().items()}
    assert list(ours.state_dict()) == list(expected)
    assert {k: v.shape for k, v in ours.state_dict().items()} == expected
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in theirs.named_parameters()]


@pytest.mark.parametrize("train", [True, False])
def test_parity_with_timm(train):
    theirs = timm_model()
    ours = ours_from(theirs)
    ours.train(train), theirs.train(train)
    compare(ours, theirs, np.random.default_rng(1).standard_normal((2, 3, 32, 32)))


def test_patch_order_matters():
    """The check can fail: the same weights with the class token's position swapped with the
    first patch's give other logits."""
    theirs = timm_model()
    ours = ours_from(theirs)
    ours.pos_embed.data[0, [0, 1]] = ours.pos_embed.data[0, [1, 0]]
    x = np.random.default_rng(1).standard_normal((2, 3, 32, 32))
    with torch.no_grad():
        expected = theirs(torch.tensor(x)).numpy()
    with pytest.raises(AssertionError, match="values differ"):
        assert_close(ours(Tensor(x)), expected, ATOL, RTOL)


@pytest.mark.parametrize("antialias", [False, True])
@pytest.mark.parametrize(
    ("size_in", "size_out"),
    [((4, 4), (6, 6)), ((6, 5), (3, 4)), ((7, 7), (2, 9)), ((3, 3), (12, 12)), ((1, 5), (3, 2))],
)
def test_resize_bicubic_equals_torch_interpolate(size_in, size_out, antialias):
    x = np.random.default_rng(0).standard_normal((2, 3, *size_in))
    check_parity(
        lambda t: resize_bicubic(t, size_out, antialias),
        lambda t: torch.nn.functional.interpolate(
            t, size=size_out, mode="bicubic", align_corners=False, antialias=antialias
        ),
        [x],
        atol=1e-12,
        rtol=1e-10,
    )


def timm_resample_in_float64(pos: torch.Tensor, new_size, antialias: bool) -> torch.Tensor:
    """``resample_abs_pos_embed``'s steps without its float32 cast."""
    prefix, grid = pos[:, :1], pos[:, 1:]
    side, dim = int(grid.shape[1] ** 0.5), grid.shape[2]
    grid = grid.reshape(1, side, side, dim).permute(0, 3, 1, 2)
    grid = torch.nn.functional.interpolate(
        grid, size=new_size, mode="bicubic", align_corners=False, antialias=antialias
    )
    return torch.cat([prefix, grid.permute(0, 2, 3, 1).reshape(1, -1, dim)], dim=1)


def test_interpolate_pos_embed_equals_timms():
    pos = torch.randn(1, 17, 48, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    ours = interpolate_pos_embed(pos.numpy(), (6, 6))  # 4x4 patch grid -> 6x6 (48x48 images)
    assert ours.shape == (1, 37, 48)
    # timm itself (float32 inside): float32 precision
    assert_close(ours, resample_abs_pos_embed(pos, [6, 6], num_prefix_tokens=1), 1e-6, 1e-6)
    # the same steps in float64: tight
    assert_close(ours, timm_resample_in_float64(pos, (6, 6), True), ATOL, RTOL)
    # antialias=True is timm's default and differs from plain bicubic even when enlarging
    plain = interpolate_pos_embed(pos.numpy(), (6, 6), antialias=False)
    assert_close(plain, timm_resample_in_float64(pos, (6, 6), False), ATOL, RTOL)
    with pytest.raises(AssertionError, match="values differ"):
        assert_close(plain, ours, 1e-6, 1e-6)
    with pytest.raises(ValueError, match="not a square"):
        interpolate_pos_embed(pos[:, :16].numpy(), (6, 6))


def test_resized_model_equals_timms_resized_model():
    theirs = timm_model()
    ours = ours_from(theirs)
    ours.set_image_size(48)
    theirs.set_input_size(img_size=48)
    # timm resized in float32; its float64 model gets our float64 embeddings (checked against
    # timm's at float32 precision first).
    assert_close(ours.pos_embed, theirs.pos_embed, 1e-6, 1e-6, name="resized pos_embed")
    with torch.no_grad():
        theirs.pos_embed.copy_(torch.tensor(ours.pos_embed.data))
    compare(ours, theirs, np.random.default_rng(2).standard_normal((2, 3, 48, 48)))
    with pytest.raises(ValueError, match="set_image_size"):
        ours(Tensor(np.zeros((1, 3, 32, 32))))
