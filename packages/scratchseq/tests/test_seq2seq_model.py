"""The encoder-decoder model: sinusoids, tying, the loss, and the cached decoder against a full
recomputation."""

import numpy as np
import pytest

import scratchcore.nn.functional as F
from scratchcore import no_grad
from scratchseq.seq2seq.data import BOS, EOS, PAD, pad_batch
from scratchseq.seq2seq.decoding import beam_search, greedy_decode
from scratchseq.seq2seq.model import (
    CachedDecoder,
    Seq2SeqConfig,
    Seq2SeqTransformer,
    sinusoidal_positions,
)


def tiny(norm_first=False, share=False, seed=0, dtype=np.float64):
    config = Seq2SeqConfig(
        11,
        11 if share else 13,
        d_model=16,
        nhead=2,
        num_encoder_layers=2,
        num_decoder_layers=2,
        dim_feedforward=32,
        dropout=0.0,
        norm_first=norm_first,
        share_embeddings=share,
        max_len=32,
    )
    return Seq2SeqTransformer(config, dtype=dtype, rng=np.random.default_rng(seed))


def test_sinusoids_are_rotations_so_offsets_are_linear():
    table = sinusoidal_positions(50, 8)
    np.testing.assert_allclose(table[0, 0::2], 0.0)
    np.testing.assert_allclose(table[0, 1::2], 1.0)
    assert table[3, 2] == pytest.approx(np.sin(3 / 10000 ** (2 / 8)))
    # PE[p + k] = R(k) PE[p]: each (sin, cos) pair turns by the angle k * frequency, whatever p.
    k = 7
    frequencies = 10000.0 ** (-np.arange(0, 8, 2) / 8)
    for p in (0, 5, 20):
        for i, w in enumerate(frequencies):
            c, s = np.cos(k * w), np.sin(k * w)
            sin_p, cos_p = table[p, 2 * i], table[p, 2 * i + 1]
            assert table[p + k, 2 * i] == pytest.approx(sin_p * c + cos_p * s, abs=1e-12)
            assert table[p + k, 2 * i + 1] == pytest.approx(cos_p * c - sin_p * s, abs=1e-12)


def test_output_projection_is_tied_to_the_target_embedding():
    model = tiny()
    assert model.generator.weight is model.tgt_embed.weight
    assert model.src_embed.weight is not model.tgt_embed.weight
    shared = tiny(share=True)
    assert shared.src_embed.weight is shared.tgt_embed.weight is shared.generator.weight
    # Counted once: the shared model has one (V, d) matrix fewer.
    assert model.num_parameters() - shared.num_parameters() == 13 * 16


@pytest.mark.parametrize("norm_first", [False, True])
def test_cached_decoding_equals_full_recomputation(norm_first):
    model = tiny(norm_first)
    model.eval()
    rng = np.random.default_rng(1)
    src = rng.integers(4, 11, (3, 6))
    src[0, 4:] = PAD
    src[2, 5:] = PAD
    tgt = np.concatenate([np.full((3, 1), BOS), rng.integers(3, 13, (3, 7))], axis=1)
    with no_grad():
        full = F.log_softmax(model(src, tgt), axis=-1).data  # (3, 8, V), every prefix at once
    decoder = CachedDecoder(model, forbid=())
    state = decoder.start(src)
    for t in range(tgt.shape[1]):
        log_probs, state = decoder.step(state, tgt[:, t])
        np.testing.assert_allclose(log_probs, full[:, t], atol=1e-12)
    # Reordering rows of the cache is reordering the hypotheses.
    swapped = decoder.reorder(state, np.array([2, 0, 0]))
    assert swapped.self_k[0].shape[0] == 3 and swapped.length == tgt.shape[1]
    np.testing.assert_array_equal(swapped.self_k[1][1], state.self_k[1][0])


def test_padding_in_the_source_changes_nothing():
    """A source with extra padding gives the same outputs: padded keys are hidden."""
    model = tiny()
    model.eval()
    src = np.array([[5, 6, 7]])
    padded = np.array([[5, 6, 7, PAD, PAD]])
    tgt = np.array([[BOS, 4, 5]])
    with no_grad():
        np.testing.assert_allclose(model(src, tgt).data, model(padded, tgt).data, atol=1e-12)


def test_forbidden_tokens_are_never_emitted():
    model = tiny()
    decoder = CachedDecoder(model)
    outputs = greedy_decode(decoder, np.array([[5, 6, 7], [8, 9, PAD]]), BOS, EOS, 6)
    assert all(PAD not in o and BOS not in o for o in outputs)
    for hypotheses in beam_search(decoder, np.array([[5, 6]]), BOS, EOS, 5, 4, n_best=4):
        assert all(PAD not in h.tokens and BOS not in h.tokens for h in hypotheses)


def test_loss_ignores_padding():
    """The batch loss is the token-weighted mean of each example's own loss."""
    model = tiny()
    model.eval()
    sources = [[5, 6, 7], [8, 9]]
    targets = [[4, 5, 6, 7], [9]]
    src = pad_batch(sources)
    tgt = pad_batch(targets, bos=True, eos=True)
    with no_grad():
        batch = float(model.loss(src, tgt).data)
        alone = [
            float(model.loss(pad_batch([s]), pad_batch([t], bos=True, eos=True)).data)
            for s, t in zip(sources, targets, strict=True)
        ]
    counts = [len(t) + 1 for t in targets]  # labels: the target and EOS
    assert batch == pytest.approx(np.dot(alone, counts) / sum(counts), rel=1e-12)


def test_a_tiny_model_learns_to_copy():
    from scratchcore.optim import Adam

    model = tiny(share=True, dtype=np.float32)
    optimizer = Adam(model.parameters(), lr=3e-3)
    rng = np.random.default_rng(0)
    losses = []
    for _ in range(150):
        seqs = [list(rng.integers(4, 11, rng.integers(2, 6))) for _ in range(16)]
        loss = model.loss(pad_batch(seqs), pad_batch(seqs, bos=True, eos=True))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(float(loss.data))
    assert np.mean(losses[-10:]) < 0.6 * np.mean(losses[:5])


def test_bad_configurations_and_inputs_are_refused():
    with pytest.raises(ValueError, match="share_embeddings needs one vocabulary"):
        Seq2SeqConfig(10, 12, share_embeddings=True)
    with pytest.raises(ValueError, match="d_model must be even"):
        Seq2SeqConfig(10, 12, d_model=15, nhead=3)
    model = tiny()
    with pytest.raises(ValueError, match=r"src must be integer ids \(B, L\)"):
        model(np.ones((2, 3)), np.ones((2, 2), dtype=int))
    with pytest.raises(ValueError, match="beyond max_len 32"):
        model(np.ones((1, 40), dtype=int), np.ones((1, 2), dtype=int))
