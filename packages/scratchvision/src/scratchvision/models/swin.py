"""Swin Transformer v2 (Liu et al., 2022): attention inside shifted windows, in a pyramid.

Notes: ``packages/scratchvision/notes/07-swin-v2.md``; also ``05-resnet.md`` (a hierarchy of
stages, as in a ResNet) and scratchseq's ``05-attention.md``.

A ViT attends from every patch to every other: cost quadratic in the number of patches. Swin
attends only inside ``M x M`` windows (cost linear in the image area) and lets information
cross window borders by *shifting* the windows by ``M/2`` every second block. Between stages,
``PatchMerging`` joins 2x2 neighbours (half the resolution, twice the channels), which gives a
CNN-like pyramid. Version 2 changes three things in the block, to train large models stably:

* **residual post-norm**: ``x = x + norm1(attn(x))``; ``x = x + norm2(mlp(x))`` — the norm sits
  on the branch, after it, so no branch's output grows unchecked down the residual stream;
* **scaled cosine attention**: ``sim(q, k) = cos(q, k) · τ_h`` with a learned per-head
  ``logit_scale = log τ_h``, clamped at ``log 100`` — no head's logits can explode;
* **continuous position bias**: a small MLP (``cpb_mlp``) maps the *log-spaced* relative offset
  ``sign(Δ) log2(1 + 8|Δ| / (M - 1)) / log2 8`` of two tokens to a bias per head, squashed to
  ``16 sigmoid(·)``; being a function of the offset, it carries over to other window sizes.

The shifted windows are computed as PyTorch code does: roll the feature map by ``-M/2`` (a
cyclic shift), attend in the regular windows, roll back. A window that straddles the wrapped
border then holds pixels from opposite sides of the image; an additive mask of ``-100`` (timm's
value) stops those pairs attending to each other (``shift_attention_mask``).

Feature maps are channels-last (B, H, W, C) inside the network, as in timm. Names are timm's
``SwinTransformerV2`` (``patch_embed.proj``, ``patch_embed.norm``, ``layers.0.blocks.0.attn.
{logit_scale, q_bias, v_bias, cpb_mlp.0, cpb_mlp.2, qkv, proj}``, ``norm1``, ``mlp.fc1``,
``norm2``, ``layers.1.downsample.{reduction, norm}``, ``norm``, ``head.fc``), so its state dict
loads 1:1. timm's *non-persistent* buffers — ``relative_coords_table``,
``relative_position_index``, ``k_bias`` (zeros) and ``attn_mask`` — are not in its state dict; here
they are plain arrays computed from the sizes (not ``register_buffer``, which would put them in
the state dict), cast to the input's dtype when used.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

import scratchcore.nn as nn
import scratchcore.nn.functional as F
from scratchcore import cat, maximum
from scratchcore.nn import init
from scratchcore.nn.parameter import Parameter
from scratchcore.tensor import Tensor
from scratchvision.models.vit import trunc_normal_

MASKED = -100.0  # timm's additive mask value: exp(-100) ~ 4e-44, as good as -inf and never NaN

# ---------------------------------------------------------------------------------------------
# Windows: partition, reverse, cyclic shift and its mask
# ---------------------------------------------------------------------------------------------


def window_partition(x: Tensor, window: tuple[int, int]) -> Tensor:
    """(B, H, W, C) -> (B * nW, wh, ww, C): the non-overlapping windows, row-major per image.

    ``nW = (H / wh)(W / ww)``; window ``b * nW + i * (W / ww) + j`` is
    ``x[b, i wh:(i+1) wh, j ww:(j+1) ww]``. Two reshapes and a transpose: no copy per window.
    """
    b, h, w, c = x.shape
    wh, ww = window
    if h % wh or w % ww:
        raise ValueError(f"window_partition: ({h}, {w}) is not a multiple of the window {window}")
    x = x.reshape(b, h // wh, wh, w // ww, ww, c).permute(0, 1, 3, 2, 4, 5)
    return x.reshape(-1, wh, ww, c)


def window_reverse(windows: Tensor, window: tuple[int, int], size: tuple[int, int]) -> Tensor:
    """(B * nW, wh, ww, C) -> (B, H, W, C): the inverse of ``window_partition``."""
    (h, w), (wh, ww) = size, window
    c = windows.shape[-1]
    x = windows.reshape(-1, h // wh, w // ww, wh, ww, c).permute(0, 1, 3, 2, 4, 5)
    return x.reshape(-1, h, w, c)


def roll(x: Tensor, shifts: tuple[int, int]) -> Tensor:
    """``torch.roll(x, shifts, dims=(1, 2))`` for (B, H, W, C): pixel (i, j) moves to
    ((i + sh) mod H, (j + sw) mod W). One gather; its backward scatters the gradient back."""
    _, h, w, _ = x.shape
    rows = (np.arange(h) - shifts[0]) % h  # output row i reads input row i - sh
    cols = (np.arange(w) - shifts[1]) % w
    return x[:, rows[:, None], cols[None, :]]


def shift_region_labels(size: tuple[int, int], window: tuple[int, int], shift: tuple[int, int]):
    """(H, W) int labels of the *shifted* map: which of the 3x3 regions a pixel belongs to.

    After rolling by ``-shift``, the last ``shift`` rows (and columns) came from the top (left)
    of the image. Along each axis, label 0 = [0, H - wh) (untouched windows), 1 = [H - wh,
    H - sh) (the last window's own pixels), 2 = [H - sh, H) (pixels that wrapped around).
    """
    (h, w), (wh, ww), (sh, sw) = size, window, shift
    label_h = np.digitize(np.arange(h), [h - wh, h - sh])  # 0, 1 or 2 for each row
    label_w = np.digitize(np.arange(w), [w - ww, w - sw])
    return 3 * label_h[:, None] + label_w[None, :]


def shift_attention_mask(size, window, shift) -> np.ndarray | None:
    """(nW, N, N) additive mask for shifted-window attention, N = wh ww: ``-100`` between two
    tokens of one window that come from different regions (were not neighbours before the
    shift), else 0. None when there is no shift."""
    if not any(shift):
        return None
    labels = Tensor(shift_region_labels(size, window, shift)[None, :, :, None].astype(float))
    per_window = window_partition(labels, window).data.reshape(-1, window[0] * window[1])
    differ = per_window[:, None, :] != per_window[:, :, None]
    return np.where(differ, MASKED, 0.0)


# ---------------------------------------------------------------------------------------------
# Continuous position bias
# ---------------------------------------------------------------------------------------------


def relative_coords_table(window: tuple[int, int], pretrained_window=(0, 0)) -> np.ndarray:
    """(1, 2wh - 1, 2ww - 1, 2) float64: every relative offset (Δh, Δw) a window can hold,
    normalised by ``window - 1`` (or the pretraining window's, to transfer a model), scaled to
    [-8, 8] and log-spaced: ``sign(d) log2(1 + |d|) / log2(8)``. Nearby offsets stay distinct,
    far ones are compressed — which is what lets the bias extrapolate to larger windows."""
    ref = pretrained_window if pretrained_window[0] > 0 else window
    dh = np.arange(-(window[0] - 1), window[0]) / max(ref[0] - 1, 1)
    dw = np.arange(-(window[1] - 1), window[1]) / max(ref[1] - 1, 1)
    table = np.stack(np.meshgrid(dh, dw, indexing="ij"), axis=-1)[None] * 8
    return np.sign(table) * np.log2(np.abs(table) + 1.0) / math.log2(8)


def relative_position_index(window: tuple[int, int]) -> np.ndarray:
    """(N, N) int: for tokens p, q of a window (row-major), the row of the flattened
    ``relative_coords_table`` holding their offset ``p - q``."""
    wh, ww = window
    coords = np.stack(np.meshgrid(np.arange(wh), np.arange(ww), indexing="ij")).reshape(2, -1)
    rel = coords[:, :, None] - coords[:, None, :]  # (2, N, N), each in [-(w-1), w-1]
    return (rel[0] + wh - 1) * (2 * ww - 1) + (rel[1] + ww - 1)


# ---------------------------------------------------------------------------------------------
# Layers
# ---------------------------------------------------------------------------------------------


def _normalize(x: Tensor, eps: float = 1e-12) -> Tensor:
    """``x / max(||x||, eps)`` along the last axis, as ``torch.nn.functional.normalize``."""
    return x / maximum((x * x).sum(axis=-1, keepdims=True).sqrt(), eps)


class WindowAttention(nn.Module):
    """Scaled cosine attention with continuous position bias inside each window.

    (B * nW, N, C) tokens (N = wh ww), ``mask`` (nW, N, N) or None -> (B * nW, N, C).
    ``qkv`` has no bias of its own: its bias is ``cat(q_bias, 0, v_bias)`` — Swin v2 learns no
    key bias (timm keeps a zero ``k_bias`` buffer so that the three concatenate; here it is
    made in ``forward``).
    """

    def __init__(
        self, dim, window, num_heads, pretrained_window=(0, 0), dtype=np.float32, rng=None
    ):
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"WindowAttention: dim {dim} is not divisible by {num_heads} heads")
        self.dim, self.window, self.num_heads = dim, tuple(window), num_heads
        self.logit_scale = Parameter(np.full((num_heads, 1, 1), math.log(10.0), dtype=dtype))
        self.cpb_mlp = nn.Sequential(
            nn.Linear(2, 512, dtype=dtype, rng=rng),
            nn.ReLU(),
            nn.Linear(512, num_heads, bias=False, dtype=dtype, rng=rng),
        )
        self.qkv = nn.Linear(dim, 3 * dim, bias=False, dtype=dtype, rng=rng)
        self.q_bias = Parameter(np.zeros(dim, dtype=dtype))
        self.v_bias = Parameter(np.zeros(dim, dtype=dtype))
        self.proj = nn.Linear(dim, dim, dtype=dtype, rng=rng)
        # Computed from the sizes, not state (timm: non-persistent buffers)
        self.relative_coords_table = relative_coords_table(self.window, pretrained_window)
        self.relative_position_index = relative_position_index(self.window)

    def position_bias(self, dtype) -> Tensor:
        """(heads, N, N): ``16 sigmoid(cpb_mlp(offset(p, q)))`` for every pair of tokens."""
        n = self.window[0] * self.window[1]
        table = self.cpb_mlp(Tensor(self.relative_coords_table.astype(dtype)))
        table = table.reshape(-1, self.num_heads)  # ((2wh-1)(2ww-1), heads)
        bias = table[self.relative_position_index.reshape(-1)].reshape(n, n, self.num_heads)
        return 16 * bias.permute(2, 0, 1).sigmoid()

    def forward(self, x: Tensor, mask: np.ndarray | None = None) -> Tensor:
        windows, n, c = x.shape
        zeros = Tensor(np.zeros(c, dtype=x.dtype))
        qkv = F.linear(x, self.qkv.weight, cat([self.q_bias, zeros, self.v_bias]))
        q, k, v = qkv.reshape(windows, n, 3, self.num_heads, -1).permute(2, 0, 3, 1, 4).unbind(0)
        # cos(q, k) * tau: unit-length queries scaled by tau = exp(min(logit_scale, log 100))
        tau = self.logit_scale.clip(max=math.log(100.0)).exp()  # (heads, 1, 1)
        q, k = _normalize(q) * tau, _normalize(k)
        bias = self.position_bias(x.dtype)  # (heads, N, N), learned through cpb_mlp
        if mask is not None:  # one mask per window position: view the batch as (B, nW, ...)
            nw = mask.shape[0]
            q, k, v = (t.reshape(-1, nw, self.num_heads, n, t.shape[-1]) for t in (q, k, v))
            bias = bias + Tensor(mask[:, None].astype(x.dtype))  # (nW, heads, N, N)
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=bias, scale=1.0)
        out = out.reshape(windows, self.num_heads, n, -1).transpose(1, 2).reshape(windows, n, c)
        return self.proj(out)


class Mlp(nn.Module):
    """``fc2(gelu(fc1(x)))``: (..., C) -> (..., hidden) -> (..., C). Exact (erf) GELU."""

    def __init__(self, dim, hidden, dtype=np.float32, rng=None):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden, dtype=dtype, rng=rng)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim, dtype=dtype, rng=rng)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc2(self.act(self.fc1(x)))


class SwinTransformerV2Block(nn.Module):
    """(B, H, W, C) -> (B, H, W, C): (shifted-)window attention then MLP, residual post-norm.

    As timm, a window larger than the feature map shrinks to it, and then there is no shift
    (one window already sees everything).
    """

    def __init__(
        self,
        dim,
        resolution,
        num_heads,
        window=7,
        shift=0,
        mlp_ratio=4.0,
        pretrained_window=0,
        dtype=np.float32,
        rng=None,
    ):
        super().__init__()
        resolution, window, shift = _pair(resolution), _pair(window), _pair(shift)
        self.window = tuple(min(r, w) for r, w in zip(resolution, window, strict=True))
        self.shift = tuple(
            0 if r <= w else s for r, w, s in zip(resolution, self.window, shift, strict=True)
        )
        if any(r % w for r, w in zip(resolution, self.window, strict=True)):
            raise ValueError(
                f"SwinTransformerV2Block: resolution {resolution} must be a multiple of the "
                f"window {self.window} (no padding here)"
            )
        self.resolution = resolution
        self.attn = WindowAttention(
            dim, self.window, num_heads, _pair(pretrained_window), dtype, rng
        )
        self.norm1 = nn.LayerNorm(dim, dtype=dtype)
        self.mlp = Mlp(dim, int(dim * mlp_ratio), dtype, rng)
        self.norm2 = nn.LayerNorm(dim, dtype=dtype)
        self.attn_mask = shift_attention_mask(resolution, self.window, self.shift)  # or None

    def _attn(self, x: Tensor) -> Tensor:
        _, h, w, c = x.shape
        if any(self.shift):
            x = roll(x, (-self.shift[0], -self.shift[1]))  # the cyclic shift
        windows = window_partition(x, self.window).reshape(-1, self.window[0] * self.window[1], c)
        windows = self.attn(windows, self.attn_mask)
        x = window_reverse(windows.reshape(-1, *self.window, c), self.window, (h, w))
        return roll(x, self.shift) if any(self.shift) else x

    def forward(self, x: Tensor) -> Tensor:
        if x.ndim != 4 or tuple(x.shape[1:3]) != self.resolution:
            raise ValueError(
                f"SwinTransformerV2Block: expected (B, {self.resolution[0]}, "
                f"{self.resolution[1]}, C); got shape {x.shape}"
            )
        x = x + self.norm1(self._attn(x))  # post-norm: the norm is on the branch
        return x + self.norm2(self.mlp(x))


class PatchMerging(nn.Module):
    """(B, H, W, C) -> (B, H/2, W/2, out_dim): each 2x2 group of pixels concatenated (4C) in
    timm's order — (0,0), (1,0), (0,1), (1,1) as (row, column) offsets — then ``reduction``
    (Linear 4C -> out_dim, no bias) and then ``norm`` (v2's order; v1 normalised first)."""

    def __init__(self, dim, out_dim=None, dtype=np.float32, rng=None):
        super().__init__()
        self.dim, self.out_dim = dim, out_dim or 2 * dim
        self.reduction = nn.Linear(4 * dim, self.out_dim, bias=False, dtype=dtype, rng=rng)
        self.norm = nn.LayerNorm(self.out_dim, dtype=dtype)

    def forward(self, x: Tensor) -> Tensor:
        b, h, w, c = x.shape
        if h % 2 or w % 2:
            raise ValueError(f"PatchMerging: H and W must be even; got shape {x.shape}")
        # (B, H/2, dh, W/2, dw, C) -> (B, H/2, W/2, dw, dh, C): the column offset varies slowest
        x = x.reshape(b, h // 2, 2, w // 2, 2, c).permute(0, 1, 3, 4, 2, 5)
        return self.norm(self.reduction(x.reshape(b, h // 2, w // 2, 4 * c)))


class SwinTransformerV2Stage(nn.Module):
    """``downsample`` (PatchMerging, or Identity in stage 1) then ``depth`` blocks whose windows
    alternate unshifted / shifted by half a window."""

    def __init__(
        self,
        dim,
        out_dim,
        resolution,
        depth,
        num_heads,
        window,
        downsample,
        mlp_ratio=4.0,
        pretrained_window=0,
        dtype=np.float32,
        rng=None,
    ):
        super().__init__()
        window = _pair(window)
        if downsample:
            self.downsample = PatchMerging(dim, out_dim, dtype, rng)
            resolution = tuple((r + 1) // 2 for r in resolution)
        else:
            if dim != out_dim:
                raise ValueError(f"SwinTransformerV2Stage: {dim} -> {out_dim} needs downsample")
            self.downsample = nn.Identity()
        half = (window[0] // 2, window[1] // 2)
        self.blocks = nn.ModuleList(
            [
                SwinTransformerV2Block(
                    out_dim,
                    resolution,
                    num_heads,
                    window,
                    (0, 0) if i % 2 == 0 else half,
                    mlp_ratio,
                    pretrained_window,
                    dtype,
                    rng,
                )
                for i in range(depth)
            ]
        )
        self.output_resolution = resolution

    def forward(self, x: Tensor) -> Tensor:
        x = self.downsample(x)
        for block in self.blocks:
            x = block(x)
        return x


class PatchEmbed(nn.Module):
    """(B, C, H, W) -> (B, H/P, W/P, D): strided convolution, channels-last, LayerNorm."""

    def __init__(self, img_size, patch_size, in_channels, embed_dim, dtype=np.float32, rng=None):
        super().__init__()
        if img_size % patch_size:
            raise ValueError(f"PatchEmbed: img_size {img_size} not a multiple of {patch_size}")
        self.img_size, self.grid_size = img_size, img_size // patch_size
        self.proj = nn.Conv2d(in_channels, embed_dim, patch_size, patch_size, dtype=dtype, rng=rng)
        self.norm = nn.LayerNorm(embed_dim, dtype=dtype)

    def forward(self, x: Tensor) -> Tensor:
        expected = (self.proj.in_channels, self.img_size, self.img_size)
        if x.ndim != 4 or tuple(x.shape[1:]) != expected:
            raise ValueError(
                f"PatchEmbed: expected images (B, {', '.join(map(str, expected))}); "
                f"got shape {x.shape}"
            )
        return self.norm(self.proj(x).permute(0, 2, 3, 1))


class ClassifierHead(nn.Module):
    """(B, H, W, C) -> (B, num_classes): average over all positions, then ``fc``."""

    def __init__(self, dim, num_classes, dtype=np.float32, rng=None):
        super().__init__()
        self.fc = nn.Linear(dim, num_classes, dtype=dtype, rng=rng)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc(x.mean(axis=(1, 2)))


class SwinTransformerV2(nn.Module):
    """Swin v2 classifier: (B, in_channels, img_size, img_size) -> (B, num_classes).

    Stage ``i`` works at resolution ``img_size / (patch_size 2^i)`` with ``embed_dim 2^i``
    channels and ``num_heads[i]`` heads. Initialisation as timm: every Linear N(0, 0.02²)
    (truncated) with zero bias, ``logit_scale = log 10``, q/v biases 0, and each block's
    post-norms ``norm1``/``norm2`` at γ = β = 0, so every block starts as the identity. No
    dropout or stochastic depth here.
    """

    def __init__(
        self,
        img_size: int = 224,
        patch_size: int = 4,
        in_channels: int = 3,
        num_classes: int = 1000,
        embed_dim: int = 96,
        depths: tuple[int, ...] = (2, 2, 6, 2),
        num_heads: tuple[int, ...] = (3, 6, 12, 24),
        window_size: int = 7,
        mlp_ratio: float = 4.0,
        pretrained_window_sizes: tuple[int, ...] | None = None,
        dtype: Any = np.float32,
        rng: np.random.Generator | None = None,
    ) -> None:
        super().__init__()
        if len(depths) != len(num_heads):
            raise ValueError(f"SwinTransformerV2: {len(depths)} depths but {len(num_heads)} heads")
        pretrained = pretrained_window_sizes or (0,) * len(depths)
        self.patch_embed = PatchEmbed(img_size, patch_size, in_channels, embed_dim, dtype, rng)
        resolution = (self.patch_embed.grid_size,) * 2
        stages, dim = [], embed_dim
        for i, (depth, heads) in enumerate(zip(depths, num_heads, strict=True)):
            out_dim = embed_dim * 2**i
            stage = SwinTransformerV2Stage(
                dim,
                out_dim,
                resolution,
                depth,
                heads,
                window_size,
                i > 0,
                mlp_ratio,
                pretrained[i],
                dtype,
                rng,
            )
            stages.append(stage)
            resolution, dim = stage.output_resolution, out_dim
        self.layers = nn.Sequential(*stages)
        self.num_features = dim
        self.norm = nn.LayerNorm(dim, dtype=dtype)
        self.head = ClassifierHead(dim, num_classes, dtype, rng)
        for module in self.modules():
            if isinstance(module, nn.Linear):
                trunc_normal_(module.weight, 0.02, rng)
                if module.bias is not None:
                    init.zeros_(module.bias)
        for stage in stages:  # res-post-norm init: each block's branch starts at zero
            for block in stage.blocks:
                for norm in (block.norm1, block.norm2):
                    init.zeros_(norm.weight)
                    init.zeros_(norm.bias)

    def forward_features(self, x: Tensor) -> Tensor:
        """(B, C, H, W) -> the last stage's normalised feature map (B, H', W', C')."""
        return self.norm(self.layers(self.patch_embed(x)))

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.forward_features(x))


def _pair(value) -> tuple[int, int]:
    return tuple(value) if isinstance(value, tuple | list) else (value, value)
