"""The masked autoencoder, piece by piece and against ``transformers``' ``ViTMAEForPreTraining``.

* ``patchify`` lays pixels out as a loop written here says (channels innermost) and as
  ``transformers``' ``patchify`` does; ``unpatchify`` inverts it, and is its gradient;
* ``random_masking`` keeps ``int(L (1 - ratio))`` tokens, those of lowest noise, hides exactly the
  rest, and ``ids_restore`` puts a shuffled sequence back in order — on random shapes, ratios and
  seeds, and equal to ``transformers``' ``random_masking`` given the same noise;
* the fixed sin-cos positions equal a loop over the formula and ``transformers``' layout;
* the loss reads hidden patches only; ``norm_pix_loss`` targets use each patch's mean and
  unbiased variance with eps 1e-6; reconstructions de-normalise with the image's own statistics;
* the encoder never reads a hidden patch, and ``forward_features`` is the unmasked encoder;
* with the same weights (copied by name, q/k/v fused into qkv) and the same noise, loss,
  predictions, mask, ids_restore, encoder output, the input gradient and every parameter's
  gradient equal ``transformers``' in float64, with and without ``norm_pix_loss``.

Tolerances: ``atol = 1e-10``, ``rtol = 1e-8`` in float64. ``transformers`` runs with
``attn_implementation="sdpa"``: its eager attention takes the softmax in float32 (whatever the
model's dtype), which would limit any comparison to float32 precision.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from transformers import ViTMAEConfig, ViTMAEForPreTraining
from transformers.models.vit_mae.modeling_vit_mae import (
    ViTMAEEmbeddings,
    build_2d_sinusoidal_position_embedding,
)

from scratchcore import Tensor
from scratchcore.testing import assert_close
from scratchvision.models import MaskedAutoencoder, patchify, random_masking, unpatchify
from scratchvision.models.mae import (
    denormalize_patches,
    gather_tokens,
    masked_patch_loss,
    normalize_patches,
    sincos_pos_embed_2d,
)

ATOL, RTOL = 1e-10, 1e-8
# A tiny model: 8x8 images of 2x2 patches (L = 16), encoder 16 wide, decoder 8 wide.
SIZES = dict(img_size=8, patch_size=2, embed_dim=16, depth=2, num_heads=2)
DECODER = dict(decoder_embed_dim=8, decoder_depth=1, decoder_num_heads=2)


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


# ---- patches ------------------------------------------------------------------------------


def patchify_by_loop(images: np.ndarray, p: int) -> np.ndarray:
    """The layout, written out: patch (i, j) is row i * (W/p) + j; pixel (a, b), channel c of
    the patch is entry (a * p + b) * C + c."""
    n, c, h, w = images.shape
    gw = w // p
    out = np.zeros((n, (h // p) * gw, p * p * c))
    for i in range(h // p):
        for j in range(gw):
            for a in range(p):
                for b in range(p):
                    for ch in range(c):
                        out[:, i * gw + j, (a * p + b) * c + ch] = images[
                            :, ch, i * p + a, j * p + b
                        ]
    return out


def test_patchify_layout_is_the_loops_and_transformers():
    rng = np.random.default_rng(0)
    for _ in range(6):
        p, c = int(rng.integers(1, 4)), int(rng.integers(1, 4))
        gh, gw, n = int(rng.integers(1, 4)), int(rng.integers(1, 4)), int(rng.integers(1, 3))
        images = rng.standard_normal((n, c, gh * p, gw * p))
        assert_close(patchify(images, p), patchify_by_loop(images, p), 0, 0, name="vs loop")
    # transformers' patchify (square images only there), through a model of that patch layout
    images = rng.standard_normal((2, 3, 6, 6))
    hf = ViTMAEForPreTraining(hf_config(image_size=6, patch_size=3, num_channels=3))
    assert_close(patchify(images, 3), hf.patchify(torch.tensor(images)), 0, 0, name="vs hf")
    assert_close(unpatchify(patchify(images, 3), 3), images, 0, 0, name="round trip")
    transposed = images.transpose(0, 1, 3, 2)  # the check can fail: rows and columns swapped
    with pytest.raises(AssertionError, match="values differ"):
        assert_close(patchify(transposed, 3), patchify_by_loop(images, 3), 0, 0)


def test_unpatchify_inverts_patchify_and_is_its_gradient():
    rng = np.random.default_rng(1)
    for _ in range(8):
        p, c = int(rng.integers(1, 5)), int(rng.integers(1, 4))
        gh, gw, n = int(rng.integers(1, 5)), int(rng.integers(1, 5)), int(rng.integers(1, 4))
        images = rng.standard_normal((n, c, gh * p, gw * p))
        patches = patchify(images, p).numpy()
        assert_close(unpatchify(patches, p, (gh * p, gw * p)), images, 0, 0, name="inverse")
        assert_close(patchify(unpatchify(patches, p, (gh * p, gw * p)), p), patches, 0, 0)
        # a permutation of entries: its gradient is the inverse permutation of the upstream
        x = Tensor(images.copy(), requires_grad=True)
        upstream = rng.standard_normal(patches.shape)
        patchify(x, p).backward(upstream)
        assert_close(x.grad, unpatchify(upstream, p, (gh * p, gw * p)), 0, 0, name="gradient")


def test_patch_errors():
    with pytest.raises(ValueError, match="not a multiple of the patch"):
        patchify(np.zeros((1, 3, 8, 6)), 4)
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        patchify(np.zeros((3, 8, 8)), 4)
    with pytest.raises(ValueError, match="not a square"):
        unpatchify(np.zeros((1, 6, 12)), 2)
    with pytest.raises(ValueError, match="not P\\*P\\*C"):
        unpatchify(np.zeros((1, 4, 10)), 2)
    with pytest.raises(ValueError, match="do not tile"):
        unpatchify(np.zeros((1, 6, 12)), 2, (4, 4))


# ---- masking ------------------------------------------------------------------------------


def test_random_masking_by_hand():
    """L = 4, ratio 0.5, noise (0.3, 0.1, 0.4, 0.2): keep tokens 1 then 3 (lowest noise first);
    hide 0 and 2; in the shuffled order (1, 3, 0, 2) token 0 sits at 2, 1 at 0, 2 at 3, 3 at 1."""
    tokens = Tensor(np.arange(4.0).reshape(1, 4, 1) * np.ones((1, 1, 2)))
    visible, mask, ids_restore = random_masking(tokens, 0.5, np.array([[0.3, 0.1, 0.4, 0.2]]))
    assert_close(visible, [[[1.0, 1.0], [3.0, 3.0]]], 0, 0)
    assert_close(mask, [[1.0, 0.0, 1.0, 0.0]], 0, 0)
    assert_close(ids_restore, [[2, 0, 3, 1]], 0, 0)
    assert ids_restore.dtype == np.int64 and mask.dtype == tokens.dtype


def test_random_masking_on_random_shapes_ratios_and_seeds():
    rng = np.random.default_rng(2)
    for seed in range(40):
        n, length, d = int(rng.integers(1, 4)), int(rng.integers(1, 30)), int(rng.integers(1, 5))
        ratio = float(rng.uniform(0, 1))
        tokens = rng.standard_normal((n, length, d))
        noise = np.random.default_rng(seed).random((n, length))
        visible, mask, ids_restore = random_masking(Tensor(tokens), ratio, noise)
        keep = int(length * (1 - ratio))
        assert visible.shape == (n, keep, d)
        assert_close(mask.sum(axis=1), np.full(n, length - keep), 0, 0, name="hidden per row")
        for row in range(n):
            kept = np.sort(np.flatnonzero(mask[row] == 0))
            lowest = np.sort(np.argsort(noise[row])[:keep])  # the keep lowest-noise tokens
            assert_close(kept, lowest, 0, 0, name="kept are the lowest noise")
            assert sorted(ids_restore[row]) == list(range(length))  # a permutation
        # the visible tokens followed by the hidden ones, in shuffled order, un-shuffle to the
        # original sequence
        ids_shuffle = np.argsort(noise, axis=1, kind="stable")
        hidden = gather_tokens(Tensor(tokens), ids_shuffle[:, keep:])
        shuffled = np.concatenate([visible.numpy(), hidden.numpy()], axis=1)
        assert_close(gather_tokens(Tensor(shuffled), ids_restore), tokens, 0, 0, name="restore")


def test_random_masking_equals_transformers():
    rng = np.random.default_rng(3)
    for _ in range(12):
        n, length, d = int(rng.integers(1, 4)), int(rng.integers(2, 20)), int(rng.integers(1, 4))
        ratio = float(rng.choice([0.0, 0.25, 0.5, 0.75, 0.9, rng.uniform(0, 1)]))
        tokens, noise = rng.standard_normal((n, length, d)), rng.random((n, length))
        embeddings = ViTMAEEmbeddings(hf_config(mask_ratio=ratio))  # reads config.mask_ratio
        expected = embeddings.random_masking(torch.tensor(tokens), torch.tensor(noise))
        for ours, theirs, name in zip(
            random_masking(Tensor(tokens), ratio, noise),
            expected,
            ("visible", "mask", "ids_restore"),
            strict=True,
        ):
            assert_close(ours, theirs, 0, 0, name=name)
    # the reference rounds down in floating point: 10 * (1 - 0.9) is just below 1
    assert random_masking(Tensor(np.zeros((1, 10, 1))), 0.9, rng.random((1, 10)))[0].shape[1] == 0


def test_random_masking_gradient_reaches_kept_tokens_only():
    tokens = Tensor(np.random.default_rng(4).standard_normal((2, 8, 3)), requires_grad=True)
    visible, mask, _ = random_masking(tokens, 0.75, rng=np.random.default_rng(5))
    visible.sum().backward()
    assert_close(tokens.grad, np.repeat((1 - mask)[..., None], 3, axis=2), 0, 0)


def test_random_masking_draws_from_rng_and_checks_its_input():
    tokens = Tensor(np.zeros((2, 16, 4)))
    first = random_masking(tokens, 0.75, rng=np.random.default_rng(6))[2]
    again = random_masking(tokens, 0.75, rng=np.random.default_rng(6))[2]
    other = random_masking(tokens, 0.75, rng=np.random.default_rng(7))[2]
    assert np.array_equal(first, again) and not np.array_equal(first, other)
    with pytest.raises(ValueError, match=r"mask_ratio must be in \[0, 1\)"):
        random_masking(tokens, 1.0)
    with pytest.raises(ValueError, match="noise must be"):
        random_masking(tokens, 0.5, np.zeros((2, 15)))
    with pytest.raises(ValueError, match=r"\(N, L, D\)"):
        random_masking(Tensor(np.zeros((16, 4))), 0.5)


# ---- positions ----------------------------------------------------------------------------


def test_sincos_positions_are_the_formula_and_transformers_layout():
    grid, dim = 3, 8
    ours = sincos_pos_embed_2d(grid, dim)
    assert ours.shape == (1 + grid * grid, dim) and not ours[0].any()  # class token: zeros
    quarter = dim // 4
    for r in range(grid):
        for c in range(grid):
            for k in range(quarter):
                w = 10000.0 ** (-k / quarter)
                row = ours[1 + r * grid + c]
                expected = [np.sin(c * w), np.cos(c * w), np.sin(r * w), np.cos(r * w)]
                assert_close(row[k::quarter], expected, 1e-15, 0, name=f"r={r} c={c} k={k}")
    # transformers builds [rows | columns] and rotates the halves, to the original MAE layout
    theirs = build_2d_sinusoidal_position_embedding(grid, grid, dim, cls_token=True)
    theirs = torch.cat([theirs[:, dim // 2 :], theirs[:, : dim // 2]], dim=1)
    assert_close(ours, theirs, 1e-7, 0, name="vs transformers")  # it returns float32
    with pytest.raises(ValueError, match="divisible by 4"):
        sincos_pos_embed_2d(grid, 6)


# ---- the loss and the targets -------------------------------------------------------------


def test_loss_reads_hidden_patches_only():
    rng = np.random.default_rng(8)
    for _ in range(10):
        n, length, v = int(rng.integers(1, 4)), int(rng.integers(2, 12)), int(rng.integers(1, 6))
        pred, target = rng.standard_normal((n, length, v)), rng.standard_normal((n, length, v))
        mask = np.zeros((n, length))
        mask.flat[rng.choice(n * length, int(rng.integers(1, n * length)), replace=False)] = 1

        def loss_of(pred, target, mask=mask):
            return masked_patch_loss(Tensor(pred), Tensor(target), mask).item()

        loss = loss_of(pred, target)
        per_patch = ((pred - target) ** 2).mean(axis=-1)
        assert_close(loss, per_patch[mask == 1].mean(), ATOL, RTOL, name="hand formula")
        visible, hidden = np.argwhere(mask == 0)[0], np.argwhere(mask == 1)[0]  # (image, patch)
        for which in (0, 1):  # change the prediction, then the target, of one whole patch
            arrays = [pred.copy(), target.copy()]
            arrays[which][tuple(visible)] += 5.0
            assert loss_of(*arrays) == loss  # a visible patch does not count, to the bit
            arrays = [pred.copy(), target.copy()]
            arrays[which][tuple(hidden)] += 5.0
            assert abs(loss_of(*arrays) - loss) > 1e-3  # a hidden one does
        p = Tensor(pred.copy(), requires_grad=True)
        masked_patch_loss(p, Tensor(target), mask).backward()
        assert not p.grad[mask == 0].any()  # and no gradient reaches a visible prediction
    with pytest.raises(ValueError, match="no patch is hidden"):
        masked_patch_loss(Tensor(pred), Tensor(target), np.zeros((n, length)))


def test_norm_pix_targets_use_each_patchs_mean_and_unbiased_variance():
    patches = np.random.default_rng(9).standard_normal((2, 5, 12)) * 3 + 1
    mean = patches.mean(axis=-1, keepdims=True)
    var = ((patches - mean) ** 2).sum(axis=-1, keepdims=True) / (12 - 1)  # unbiased
    expected = (patches - mean) / np.sqrt(var + 1e-6)
    assert_close(normalize_patches(Tensor(patches)), expected, ATOL, RTOL)
    biased = (patches - mean) / np.sqrt(patches.var(axis=-1, keepdims=True) + 1e-6)
    with pytest.raises(AssertionError, match="values differ"):  # 11 / 12 apart: it can fail
        assert_close(normalize_patches(Tensor(patches)), biased, ATOL, RTOL)
    flat = np.ones((1, 1, 12))  # a flat patch is finite thanks to eps
    assert_close(normalize_patches(Tensor(flat)), np.zeros_like(flat), 0, 0)
    round_trip = denormalize_patches(normalize_patches(Tensor(patches)), Tensor(patches))
    assert_close(round_trip, patches, ATOL, RTOL, name="denormalize inverts normalize")


@pytest.mark.parametrize("norm_pix_loss", [False, True])
def test_reconstruct_in_pixel_space(norm_pix_loss):
    model = MaskedAutoencoder(**SIZES, **DECODER, norm_pix_loss=norm_pix_loss, dtype=np.float64)
    images = np.random.default_rng(10).standard_normal((2, 3, 8, 8))
    truth = patchify(images, 2)
    perfect = normalize_patches(truth) if norm_pix_loss else truth
    assert_close(model.reconstruct(images, perfect), images, ATOL, RTOL, name="perfect")
    # visible patches are pasted from the image; hidden ones are the (de-normalised) predictions
    out = model(images, rng=np.random.default_rng(11))
    pasted = patchify(model.reconstruct(images, out.pred, out.mask), 2).numpy()
    alone = patchify(model.reconstruct(images, out.pred), 2).numpy()
    hidden = out.mask == 1
    assert_close(pasted[~hidden], truth.numpy()[~hidden], 0, 0, name="visible")
    assert_close(pasted[hidden], alone[hidden], 0, 0, name="hidden")
    if norm_pix_loss:  # a prediction of 0 (the mean of a normalised patch) is the patch's mean
        zeros = patchify(model.reconstruct(images, np.zeros(truth.shape)), 2).numpy()
        assert_close(zeros, np.repeat(truth.numpy().mean(-1, keepdims=True), 12, -1), ATOL, RTOL)


# ---- the model ----------------------------------------------------------------------------


def test_names_are_the_original_maes_and_positions_are_fixed_buffers():
    model = MaskedAutoencoder(**(SIZES | dict(depth=1)), **DECODER)
    block = [
        "norm1.weight",
        "norm1.bias",
        "attn.qkv.weight",
        "attn.qkv.bias",
        "attn.proj.weight",
        "attn.proj.bias",
        "norm2.weight",
        "norm2.bias",
        "mlp.fc1.weight",
        "mlp.fc1.bias",
        "mlp.fc2.weight",
        "mlp.fc2.bias",
    ]
    expected = [  # PyTorch's order: the model's own entries first, then each child's
        "cls_token",
        "pos_embed",
        "mask_token",
        "decoder_pos_embed",
        "patch_embed.proj.weight",
        "patch_embed.proj.bias",
        *[f"blocks.0.{name}" for name in block],
        "norm.weight",
        "norm.bias",
        "decoder_embed.weight",
        "decoder_embed.bias",
        *[f"decoder_blocks.0.{name}" for name in block],
        "decoder_norm.weight",
        "decoder_norm.bias",
        "decoder_pred.weight",
        "decoder_pred.bias",
    ]
    assert list(model.state_dict()) == expected
    assert [name for name, _ in model.named_buffers()] == ["pos_embed", "decoder_pos_embed"]
    assert model.decoder_pred.weight.shape == (2 * 2 * 3, 8)
    assert_close(model.pos_embed[0], sincos_pos_embed_2d(4, 16), 1e-7, 0)


def test_the_encoder_never_reads_a_hidden_patch():
    model = MaskedAutoencoder(**SIZES, **DECODER, dtype=np.float64, rng=np.random.default_rng(0))
    images = np.random.default_rng(12).standard_normal((2, 3, 8, 8))
    noise = np.random.default_rng(13).random((2, 16))
    latent, mask, _ = model.forward_encoder(images, noise=noise)
    assert latent.shape == (2, 1 + 4, 16)  # class token + a quarter of 16 patches
    changed = patchify(images, 2).numpy()
    changed[mask == 1] += 10.0  # every hidden patch of every image
    same = model.forward_encoder(unpatchify(changed, 2), noise=noise)[0]
    assert_close(same, latent, 0, 0, name="hidden pixels changed")
    changed[mask == 0] += 10.0  # a visible patch's pixels do reach the encoder
    with pytest.raises(AssertionError, match="values differ"):
        assert_close(model.forward_encoder(unpatchify(changed, 2), noise=noise)[0], latent)


def test_forward_features_is_the_encoder_without_masking():
    model = MaskedAutoencoder(**SIZES, **DECODER, dtype=np.float64, rng=np.random.default_rng(1))
    images = np.random.default_rng(14).standard_normal((3, 3, 8, 8))
    features = model.forward_features(images)
    assert features.shape == (3, 1 + 16, 16)
    latent, mask, ids_restore = model.forward_encoder(images, 0.0, rng=np.random.default_rng(2))
    assert not mask.any()
    assert_close(latent[:, 0], features[:, 0], ATOL, RTOL, name="class token")
    restored = gather_tokens(latent[:, 1:], ids_restore)  # back from shuffled to image order
    assert_close(restored, features[:, 1:], ATOL, RTOL, name="patch tokens")


def test_model_checks_its_configuration():
    with pytest.raises(ValueError, match="mask_ratio"):
        MaskedAutoencoder(**SIZES, **DECODER, mask_ratio=1.0)
    with pytest.raises(ValueError, match="divisible by 4"):
        MaskedAutoencoder(**(SIZES | dict(embed_dim=18, num_heads=3)), **DECODER)
    with pytest.raises(ValueError, match="PatchEmbed"):
        MaskedAutoencoder(**SIZES, **DECODER)(np.zeros((1, 3, 10, 10), dtype=np.float32))


# ---- parity with transformers -------------------------------------------------------------


def hf_config(**overrides) -> ViTMAEConfig:
    """``transformers``' config for the tiny model (our defaults where theirs differ)."""
    config = dict(
        image_size=8,
        patch_size=2,
        num_channels=3,
        hidden_size=16,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        decoder_hidden_size=8,
        decoder_num_hidden_layers=1,
        decoder_num_attention_heads=2,
        decoder_intermediate_size=32,
        layer_norm_eps=1e-6,  # the original MAE's; transformers' default is 1e-12
        attn_implementation="sdpa",  # eager attention takes its softmax in float32
    )
    return ViTMAEConfig(**(config | overrides))


def hf_model(seed: int = 0, **overrides) -> ViTMAEForPreTraining:
    """In float64 with *every* parameter random, the fixed positions included (at its init the
    LayerNorms are (1, 0), the biases 0, and class token, mask token and positions 0, which
    would hide a swapped or unused one)."""
    torch.manual_seed(seed)
    model = ViTMAEForPreTraining(hf_config(**overrides)).double()
    gen = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for name, p in model.named_parameters():
            base = 1.0 if "norm" in name and name.endswith("weight") else 0.0
            p.copy_(base + 0.2 * torch.randn(p.shape, generator=gen, dtype=p.dtype))
    return model


LAYER_NAMES = {  # transformers' ViTMAELayer -> our (timm's) Block
    "attention.o_proj": "attn.proj",
    "layernorm_before": "norm1",
    "layernorm_after": "norm2",
    "mlp.fc1": "mlp.fc1",
    "mlp.fc2": "mlp.fc2",
}
TOP_NAMES = {
    "vit.embeddings.patch_embeddings.projection": "patch_embed.proj",
    "vit.embeddings.cls_token": "cls_token",
    "vit.embeddings.position_embeddings": "pos_embed",
    "vit.layernorm": "norm",
    "decoder.decoder_embed": "decoder_embed",
    "decoder.mask_token": "mask_token",
    "decoder.decoder_pos_embed": "decoder_pos_embed",
    "decoder.decoder_norm": "decoder_norm",
    "decoder.decoder_pred": "decoder_pred",
}


def our_name(theirs: str) -> str:
    """A ``transformers`` parameter name as ours; q, k and v all map to the fused ``qkv``."""
    for prefix, ours in (
        ("vit.layers.", "blocks."),
        ("decoder.decoder_layers.", "decoder_blocks."),
    ):
        if theirs.startswith(prefix):
            index, rest = theirs[len(prefix) :].split(".", 1)
            for old, new in LAYER_NAMES.items():
                if rest.startswith(old + "."):
                    return f"{ours}{index}.{new}{rest[len(old) :]}"
            kind = rest.rsplit(".", 1)[1]  # attention.{q,k,v}_proj.{weight,bias}
            return f"{ours}{index}.attn.qkv.{kind}"
    for old, new in TOP_NAMES.items():
        if theirs == old or theirs.startswith(old + "."):
            return new + theirs[len(old) :]
    raise KeyError(theirs)


def our_state(theirs: ViTMAEForPreTraining, values=None) -> dict[str, np.ndarray]:
    """Their state (or ``values``: name -> tensor, e.g. gradients) under our names; q, k, v
    stacked in that order into qkv, which is how our Attention splits its 3D outputs."""
    values = dict(theirs.named_parameters()) if values is None else values
    out: dict[str, list] = {}
    for name, value in values.items():
        out.setdefault(our_name(name), []).append(value.detach().numpy())
    for name in out:
        if ".qkv." in name:
            assert len(out[name]) == 3
    return {name: np.concatenate(parts) for name, parts in out.items()}


def ours_from(theirs: ViTMAEForPreTraining, **overrides) -> MaskedAutoencoder:
    config = theirs.config
    ours = MaskedAutoencoder(
        **(SIZES | DECODER | {"in_channels": config.num_channels} | overrides),
        mask_ratio=config.mask_ratio,
        norm_pix_loss=config.norm_pix_loss,
        dtype=np.float64,
    )
    ours.load_state_dict(our_state(theirs))  # strict: every name on both sides, once
    return ours


@pytest.mark.parametrize(
    ("norm_pix_loss", "mask_ratio", "channels"),
    [(False, 0.75, 3), (True, 0.75, 3), (True, 0.6, 1)],
)
def test_parity_with_transformers(norm_pix_loss, mask_ratio, channels):
    theirs = hf_model(norm_pix_loss=norm_pix_loss, mask_ratio=mask_ratio, num_channels=channels)
    ours = ours_from(theirs)
    rng = np.random.default_rng(15)
    images, noise = rng.standard_normal((2, channels, 8, 8)), rng.random((2, 16))
    xs, xt = Tensor(images.copy(), requires_grad=True), torch.tensor(images, requires_grad=True)
    out = ours(xs, noise=noise)
    expected = theirs(xt, noise=torch.tensor(noise))
    assert_close(out.loss, expected.loss, ATOL, RTOL, name="loss")
    assert_close(out.pred, expected.logits, ATOL, RTOL, name="pred")
    assert_close(out.mask, expected.mask, 0, 0, name="mask")
    assert_close(out.ids_restore, expected.ids_restore, 0, 0, name="ids_restore")
    with torch.no_grad():
        latent = theirs.vit(torch.tensor(images), noise=torch.tensor(noise)).last_hidden_state
    assert_close(ours.forward_encoder(images, noise=noise)[0], latent, ATOL, RTOL, name="latent")
    # Gradients of the loss plus a random weighting of every prediction, so that visible
    # patches' predictions (which the loss ignores) are checked backwards too.
    w = rng.standard_normal(out.pred.shape)
    (out.loss + (out.pred * w).sum()).backward()
    (expected.loss + (expected.logits * torch.tensor(w)).sum()).backward()
    assert_close(xs.grad, xt.grad, ATOL, RTOL, name="input gradient")
    trained = {n: p.grad for n, p in theirs.named_parameters() if p.requires_grad}
    grads = our_state(theirs, trained)
    assert sorted(grads) == sorted(name for name, _ in ours.named_parameters())
    for name, p in ours.named_parameters():
        assert_close(p.grad, grads[name], ATOL, RTOL, name=f"grad of {name}")


def test_parity_can_fail():
    """The same weights with the decoder positions of two patches swapped predict otherwise."""
    theirs = hf_model()
    ours = ours_from(theirs)
    ours.decoder_pos_embed[0, [1, 2]] = ours.decoder_pos_embed[0, [2, 1]]
    rng = np.random.default_rng(16)
    images, noise = rng.standard_normal((2, 3, 8, 8)), rng.random((2, 16))
    with torch.no_grad():
        expected = theirs(torch.tensor(images), noise=torch.tensor(noise)).logits
    with pytest.raises(AssertionError, match="values differ"):
        assert_close(ours(images, noise=noise).pred, expected, ATOL, RTOL)
