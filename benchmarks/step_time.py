"""Training-step time and memory of scratchcore against PyTorch's best CPU path, model by model.

The engine's step time against PyTorch (see ``benchmarks/README.md``). Every entry of the
registry ``BENCHMARKS`` builds one network in scratchcore and as a PyTorch twin
(``torch_twins.py``: fused ``scaled_dot_product_attention``, ``nn.LSTM``, ``nn.Conv2d``'s default
path; or the reference library's model: ``transformers``' BERT and Mamba-2, ``timm``'s ViT and
Swin v2), copies the scratchcore weights into the twin, and takes the same float32 batch. A training
step is forward, backward and an AdamW step (same hyperparameters both). Before any step, both
engines' losses on the batch must agree (dropout off for that one forward pass).

Each model is timed at two thread counts, switched inside the process: the machine's full count
(the cores this process may use, or ``--threads N``) and one. Three pools follow the count: BLAS
(through ``threadpoolctl``), torch's (``torch.set_num_threads``) and scratchcore's own
(``scratchcore.set_num_threads``); the counts actually in effect are recorded. At each count, after
``warmup`` untimed steps, ``--repeats`` steps are timed one by one, in ``rounds`` turns that
alternate between the engines (so a spell of load from outside falls on both); the medians
are reported:

* the ratio scratchcore / PyTorch (wall time; the CPU-time ratio too);
* each engine's peak memory *allocated during one step* above what was live before it, measured
  once, at the full thread count: ``tracemalloc`` for scratchcore (NumPy reports its array
  buffers to it), and for PyTorch the running sum of the CPU allocator's allocation/free events
  recorded by ``torch.profiler``;
* the matmul FLOPs of a step, counted analytically (a forward matmul ``(m, k) @ (k, n)`` costs
  ``2 m k n``; backward ≈ twice the forward), divided by the step time, against the float32
  matmul peak of ``(n, n) @ (n, n)`` through NumPy and torch at the same thread count;
* the targets of each model and whether they are met.

    uv run python benchmarks/step_time.py [--smoke] [--repeats N] [--threads N] [--out DIR]
    uv run python benchmarks/step_time.py --models gpt lstm --repeats 2 --out /tmp/st
    uv run python benchmarks/step_time.py --profile lstm   # cProfile of 5 scratchcore steps

A development tool, run from the workspace: it imports scratchcore, scratchvision, scratchseq,
torch and threadpoolctl, and inside the builders that need them torchvision, transformers and
timm (all in the dev environment). Writes ``results/step_time.json``.
"""

from __future__ import annotations

import contextlib
import cProfile
import itertools
import os
import pstats
import statistics
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch_twins
from threadpoolctl import threadpool_info, threadpool_limits
from torch.profiler import ProfilerActivity, profile

import scratchcore
import scratchcore.nn as nn
import scratchcore.nn.functional as F
from scratchcore import Tensor, optim
from scratchcore.train import experiment_parser, seed_everything, write_results
from scratchseq.corpus import python_docs_chars
from scratchseq.data import random_windows
from scratchseq.gpt import GPT, GPTConfig
from scratchseq.recurrent import RecurrentLanguageModel
from scratchvision.models.cnn import CNN, VARIANTS

Sizes = dict[str, Any]


@dataclass
class Case:
    """One model in both engines: ``loss_*(model, x, y)`` is the scalar training loss."""

    ours: nn.Module
    theirs: torch.nn.Module
    x: np.ndarray
    y: np.ndarray
    loss_ours: Callable[[Any, np.ndarray, np.ndarray], Tensor]
    loss_theirs: Callable[[Any, torch.Tensor, torch.Tensor], torch.Tensor]
    forward_matmul_flops: int  # analytical count of one forward pass
    # copies our weights into the twin; ``None``: ``torch_twins.load_from`` (the same names)
    load_twin: Callable[[torch.nn.Module, Any], Any] | None = None


@dataclass(frozen=True)
class Benchmark:
    """One registry entry: ``build(sizes, rng) -> Case`` at ``sizes`` (``smoke`` for the tests),
    described in one line, with its targets (scratchcore / PyTorch, at most)."""

    build: Callable[[Sizes, np.random.Generator], Case]
    sizes: Sizes
    smoke: Sizes
    description: str
    target_full: float = 1.5  # step time at the full thread count
    target_one: float = 1.2  # step time at one thread
    target_memory: float = 1.5  # peak step memory


# ---------------------------------------------------------------------------------------------
# Builders: one per model family, each usable at any size.


def _classifier_loss(model, x, y):
    return F.cross_entropy(model(Tensor(x)), Tensor(y))


def _torch_classifier_loss(model, x, y):
    return torch.nn.functional.cross_entropy(model(x), y)


def _sequence_loss(model, x, y):
    return model(x, y)[1]


def _torch_sequence_loss(model, x, y):
    return model(x, y)


def build_mlp(sizes: Sizes, rng: np.random.Generator) -> Case:
    """``Linear -> ReLU -> ... -> Linear`` through ``sizes["layers"]``; x (batch, layers[0])
    Gaussian noise, y (batch,) random classes. Forward FLOPs ``sum 2 batch n_in n_out``."""
    layers, b = tuple(sizes["layers"]), sizes["batch"]
    modules: list[nn.Module] = []
    for i, (n_in, n_out) in enumerate(itertools.pairwise(layers)):
        modules += [nn.Linear(n_in, n_out)] + ([nn.ReLU()] if i < len(layers) - 2 else [])
    x = rng.standard_normal((b, layers[0])).astype(np.float32)
    y = rng.integers(0, layers[-1], b)
    flops = sum(2 * b * n_in * n_out for n_in, n_out in itertools.pairwise(layers))
    ours, theirs = nn.Sequential(*modules), torch_twins.mlp(layers)
    return Case(ours, theirs, x, y, _classifier_loss, _torch_classifier_loss, flops)


def build_cnn(sizes: Sizes, rng: np.random.Generator) -> Case:
    """scratchvision's ``CNN.variant(sizes["variant"])``; x (batch, 3, S, S) Gaussian noise, y
    (batch,) random classes out of 10. Each 3x3 convolution counted as its im2col matmul."""
    b, side = sizes["batch"], sizes["image_size"]
    shape = {"image_size": side, "channels": tuple(sizes["channels"]), "hidden": sizes["hidden"]}
    ours = CNN.variant(sizes["variant"], **shape)
    theirs = torch_twins.CNN(3, 10, **VARIANTS[sizes["variant"]], **shape)
    x = rng.standard_normal((b, 3, side, side)).astype(np.float32)
    y = rng.integers(0, 10, b)
    flops, previous = 0, 3
    for c in shape["channels"]:  # every output pixel is a dot product of length 9 C_in
        flops += 2 * b * side * side * c * 9 * previous
        previous, side = c, side // 2
    flops += 2 * b * (previous * side * side * sizes["hidden"] + sizes["hidden"] * 10)
    return Case(ours, theirs, x, y, _classifier_loss, _torch_classifier_loss, flops)


def _text_batch(sizes: Sizes, rng: np.random.Generator) -> tuple[int, np.ndarray, np.ndarray]:
    """The vocabulary size and ``batch`` random windows (batch, block) of the Python docs corpus,
    inputs and next-character targets, as ``lm_ladder`` reads them."""
    corpus = python_docs_chars()
    x, y = random_windows(corpus.train, sizes["block"], sizes["batch"], rng)
    return corpus.vocab_size, x, y


def build_gpt(sizes: Sizes, rng: np.random.Generator) -> Case:
    """scratchseq's ``GPT`` over (batch, block) characters. Per layer and position: qkv, proj and
    the MLP cost ``2 * 12 C^2``, scores and weights @ v ``2 * 2 T C`` (the full T x T)."""
    vocab, x, y = _text_batch(sizes, rng)
    b, t, c, n_layer = sizes["batch"], sizes["block"], sizes["n_embd"], sizes["n_layer"]
    config = GPTConfig(
        vocab_size=vocab,
        block_size=t,
        n_layer=n_layer,
        n_head=sizes["n_head"],
        n_embd=c,
        gelu=sizes["gelu"],
    )
    ours, theirs = GPT(config, rng=rng), torch_twins.GPT(config)
    per_layer = 2 * b * t * 12 * c * c + 2 * 2 * b * t * t * c
    flops = n_layer * per_layer + 2 * b * t * c * vocab
    return Case(ours, theirs, x, y, _sequence_loss, _torch_sequence_loss, flops)


def build_lstm(sizes: Sizes, rng: np.random.Generator) -> Case:
    """scratchseq's ``RecurrentLanguageModel("lstm")`` over (batch, block) characters. Per
    position: each layer's input (E or H -> 4H) and recurrent (H -> 4H) projections, the
    read-out (H -> V)."""
    vocab, x, y = _text_batch(sizes, rng)
    b, t, e, h, layers = (sizes[k] for k in ("batch", "block", "embedding", "hidden", "layers"))
    ours = RecurrentLanguageModel(vocab, "lstm", e, h, num_layers=layers, rng=rng)
    theirs = torch_twins.RecurrentLM(vocab, e, h, num_layers=layers)
    inputs = [e] + [h] * (layers - 1)
    flops = 2 * b * t * (sum(n * 4 * h + h * 4 * h for n in inputs) + h * vocab)
    return Case(ours, theirs, x, y, _sequence_loss, _torch_sequence_loss, flops)


def _seq2seq_loss(model, x, y):
    return model.loss(x, y)


def build_seq2seq(sizes: Sizes, rng: np.random.Generator) -> Case:
    """scratchseq's encoder-decoder ``Seq2SeqTransformer`` (dropout off, one shared vocabulary)
    on (batch, source) random ids and framed (batch, target + 2) targets, every sequence of full
    length. Per position: each encoder layer's qkv, output and feed-forward products ``2 (4 d^2
    + 2 d f)``; each decoder layer's twice the attention projections plus the feed-forward; the
    attention scores and weighted sums (``2 * 2 L L' d`` per attention); the read-out."""
    # Imported here, not at the top: an engine from before the encoder-decoder existed can still
    # be measured on the other models (the before/after comparison).
    from scratchseq.seq2seq.model import Seq2SeqConfig, Seq2SeqTransformer

    b, s_len, t_len = sizes["batch"], sizes["source"], sizes["target"] + 1  # decoder positions
    d, f, layers, vocab = sizes["d_model"], sizes["ffn"], sizes["layers"], sizes["vocab"]
    config = Seq2SeqConfig(
        vocab,
        vocab,
        d_model=d,
        nhead=sizes["nhead"],
        num_encoder_layers=layers,
        num_decoder_layers=layers,
        dim_feedforward=f,
        dropout=0.0,
        share_embeddings=True,
        max_len=max(s_len, t_len) + 1,
    )
    ours = Seq2SeqTransformer(config, rng=rng)
    theirs = torch_twins.Seq2Seq(config, ours.positions)
    x = rng.integers(4, vocab, (b, s_len))
    y = np.concatenate(
        [np.full((b, 1), 1), rng.integers(4, vocab, (b, t_len - 1)), np.full((b, 1), 2)], axis=1
    )
    encoder = s_len * 2 * (4 * d * d + 2 * d * f) + 2 * 2 * s_len * s_len * d
    decoder = t_len * 2 * (8 * d * d + 2 * d * f) + 2 * 2 * (t_len * t_len + t_len * s_len) * d
    flops = b * (layers * (encoder + decoder) + 2 * t_len * d * vocab)
    return Case(ours, theirs, x, y, _seq2seq_loss, _torch_sequence_loss, flops)


def _llama_loss(model, x, y):
    logits = model(x)  # (B, T, vocab)
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), Tensor(y.reshape(-1)))


def build_llama(sizes: Sizes, rng: np.random.Generator) -> Case:
    """scratchseq's ``LlamaForCausalLM`` (RMSNorm, RoPE, grouped-query attention, SwiGLU, no
    biases, untied head) over (batch, block) characters. Per layer and position: the q and o
    projections ``2 * 2 C H D``, k and v ``2 * 2 C Hkv D``, the three SwiGLU matrices
    ``2 * 3 C F``; scores and weights @ v ``2 * 2 T H D`` (the full T x T); the read-out."""
    # Imported here, not at the top: an engine from before the Llama existed can still be
    # measured on the other models (the before/after comparison).
    from scratchseq.llama import LlamaConfig, LlamaForCausalLM

    vocab, x, y = _text_batch(sizes, rng)
    b, t, c, n_layer = sizes["batch"], sizes["block"], sizes["hidden"], sizes["n_layer"]
    heads, kv_heads, ffn = sizes["n_head"], sizes["n_kv_head"], sizes["ffn"]
    config = LlamaConfig(
        vocab_size=vocab,
        hidden_size=c,
        intermediate_size=ffn,
        num_hidden_layers=n_layer,
        num_attention_heads=heads,
        num_key_value_heads=kv_heads,
    )
    ours = LlamaForCausalLM(config, rng=rng)
    theirs = torch_twins.Llama(config)
    d = config.resolved_head_dim
    per_layer = 2 * b * t * (2 * c * heads * d + 2 * c * kv_heads * d + 3 * c * ffn)
    per_layer += 2 * 2 * b * t * t * heads * d
    flops = n_layer * per_layer + 2 * b * t * c * vocab
    return Case(ours, theirs, x, y, _llama_loss, _torch_sequence_loss, flops)


def _transformers():
    """``transformers``, imported with this script's folder off ``sys.path``: transformers imports
    the installed ``kernels`` package (Hugging Face's hub kernels) as it loads a model, and this
    folder's ``kernels.py`` (``sys.path[0]`` when the script runs) would shadow it. The models
    this script uses are looked up inside, while the folder is off the path (transformers loads
    them lazily, on first access)."""
    here = Path(__file__).resolve().parent
    saved = sys.path[:]
    sys.path[:] = [p for p in saved if Path(p or ".").resolve() != here]
    try:
        import transformers

        for name in ("BertConfig", "BertForMaskedLM", "Mamba2Config", "Mamba2ForCausalLM"):
            getattr(transformers, name)
        return transformers
    finally:
        sys.path[:] = saved


def _bert_loss(model, x, y):
    return model(x[:, 0], x[:, 1], labels=y).loss


def _hf_masked_lm_loss(model, x, y):
    return model(input_ids=x[:, 0], attention_mask=x[:, 1], labels=y).loss


def build_bert(sizes: Sizes, rng: np.random.Generator) -> Case:
    """scratchseq's ``BertForMaskedLM`` against ``transformers.BertForMaskedLM`` with
    ``attn_implementation="sdpa"`` (the same parameter names: the state dict copies 1:1). x packs
    (batch, 2, block): random token ids from the vocabulary, rows padded (id 0) to random lengths
    from block / 2 up, and their 0/1 attention mask; 15% of the real tokens are replaced by a
    mask id and are the only labels (-100 elsewhere). Hidden dropout 0.1 (off for the loss check),
    attention dropout 0 (scratchseq draws it inside attention, not through an ``nn.Dropout`` the
    check could switch off). Per layer and position: q, k, v and the output ``2 * 4 H^2``, the
    feed-forward ``2 * 2 H F``; scores and weights @ v ``2 * 2 S H`` (every key, padding too);
    the masked-LM transform ``2 H^2`` and decoder ``2 H V`` at every position."""
    # Imported here, not at the top: an engine from before BERT existed can still be measured on
    # the other models (the before/after comparison).
    from scratchseq.bert import BertConfig, BertForMaskedLM

    b, s, h, n_layer = sizes["batch"], sizes["block"], sizes["hidden"], sizes["n_layer"]
    f, vocab = sizes["ffn"], sizes["vocab"]
    config = BertConfig(
        vocab_size=vocab,
        hidden_size=h,
        num_hidden_layers=n_layer,
        num_attention_heads=sizes["n_head"],
        intermediate_size=f,
        max_position_embeddings=s,
        attention_probs_dropout_prob=0.0,
    )
    ours = BertForMaskedLM(config, rng=rng)
    transformers = _transformers()
    hf_fields = {k: v for k, v in asdict(config).items() if k != "id2label"}
    theirs = transformers.BertForMaskedLM(
        transformers.BertConfig(**hf_fields, attn_implementation="sdpa")
    )
    pad, mask_id = 0, 1
    lengths = rng.integers(s // 2, s + 1, b)
    lengths[0] = s  # one full row, so the batch is the block long
    attention = (np.arange(s)[None, :] < lengths[:, None]).astype(np.int64)
    ids = np.where(attention == 1, rng.integers(2, vocab, (b, s)), pad)
    masked = (rng.random((b, s)) < 0.15) & (attention == 1)
    masked[0, 0] = True  # at least one label
    labels = np.where(masked, ids, -100)
    ids = np.where(masked, mask_id, ids)
    x = np.stack([ids, attention], axis=1)
    per_layer = 2 * b * s * (4 * h * h + 2 * h * f) + 2 * 2 * b * s * s * h
    flops = n_layer * per_layer + 2 * b * s * (h * h + h * vocab)
    return Case(ours, theirs, x, labels, _bert_loss, _hf_masked_lm_loss, flops)


def _hf_causal_lm_loss(model, x, y):
    logits = model(input_ids=x, use_cache=False).logits
    return torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))


def build_mamba2(sizes: Sizes, rng: np.random.Generator) -> Case:
    """scratchseq's ``Mamba2ForCausalLM`` against ``transformers.Mamba2ForCausalLM`` (on the CPU
    its ``torch_forward``: the chunked SSD in plain PyTorch) over (batch, block) characters; one
    group, untied head. Per layer and position: the input projection ``2 d (2 E + 2 G N + H)``
    (E = 2 d = H heads of P), the output projection ``2 E d``; per chunk of L
    positions, the scores C B^T ``2 L^2 N`` per group, their weighted sum of x ``2 L^2 P`` per
    head, the chunk states and their read-out ``2 * 2 L N P`` per head, the passing of states
    between the c chunks ``2 (c + 1)^2 N P`` per head (the convolution and gating are
    elementwise, not counted); the read-out ``2 d V``."""
    # Imported here, not at the top: an engine from before Mamba-2 existed can still be measured
    # on the other models (the before/after comparison).
    from scratchseq.ssm import Mamba2Config, Mamba2ForCausalLM

    vocab, x, y = _text_batch(sizes, rng)
    b, t, d, n_layer = sizes["batch"], sizes["block"], sizes["hidden"], sizes["n_layer"]
    p, n, chunk, groups = sizes["head_dim"], sizes["state"], sizes["chunk"], 1
    e = 2 * d  # expand 2, transformers' default
    heads = e // p
    config = Mamba2Config(
        vocab_size=vocab,
        hidden_size=d,
        num_hidden_layers=n_layer,
        num_heads=heads,
        head_dim=p,
        state_size=n,
        expand=2,
        n_groups=groups,
        chunk_size=chunk,
    )
    ours = Mamba2ForCausalLM(config, rng=rng)
    transformers = _transformers()
    theirs = transformers.Mamba2ForCausalLM(
        transformers.Mamba2Config(
            **asdict(config), pad_token_id=0, bos_token_id=None, eos_token_id=None
        )
    )
    length, chunks = min(chunk, t), -(-t // chunk)
    ssd = chunks * (
        groups * 2 * length * length * n
        + heads * (2 * length * length * p + 2 * 2 * length * n * p)
    )
    ssd += heads * 2 * (chunks + 1) ** 2 * n * p
    per_layer = 2 * t * (d * (2 * e + 2 * groups * n + heads) + e * d) + ssd
    flops = b * (n_layer * per_layer + 2 * t * d * vocab)
    return Case(ours, theirs, x, y, _llama_loss, _hf_causal_lm_loss, flops)


def _image_batch(sizes: Sizes, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """x (batch, 3, S, S) Gaussian noise, y (batch,) random classes out of 10."""
    b, side = sizes["batch"], sizes["image_size"]
    return rng.standard_normal((b, 3, side, side)).astype(np.float32), rng.integers(0, 10, b)


def build_resnet(sizes: Sizes, rng: np.random.Generator) -> Case:
    """scratchvision's ``CifarResNet`` (ResNet-(6n+2), option-A shortcuts) against
    ``torch_twins.CifarResNet`` (torchvision's ``BasicBlock``), training mode (batch
    statistics). Each 3x3 convolution counted as its im2col matmul, plus the classifier."""
    # Imported here, not at the top: an engine from before the ResNets existed can still be
    # measured on the other models (the before/after comparison).
    from scratchvision.models import CifarResNet

    depth, widths = sizes["depth"], tuple(sizes["widths"])
    ours = CifarResNet(depth, widths=widths, rng=rng)
    theirs = torch_twins.CifarResNet(depth, widths)
    x, y = _image_batch(sizes, rng)
    b, side, n = sizes["batch"], sizes["image_size"], (depth - 2) // 6
    flops, previous = 2 * b * side * side * widths[0] * 9 * 3, widths[0]  # the stem
    for i, c in enumerate(widths):
        side = side if i == 0 else (side + 1) // 2
        # 2n convolutions at this width, the first reading ``previous`` channels
        flops += 2 * b * side * side * 9 * c * (previous + (2 * n - 1) * c)
        previous = c
    flops += 2 * b * previous * 10
    return Case(ours, theirs, x, y, _classifier_loss, _torch_classifier_loss, flops)


def build_resnet9(sizes: Sizes, rng: np.random.Generator) -> Case:
    """scratchvision's ``ResNet9`` (Page, 2018) at ``sizes["width"]`` against
    ``torch_twins.ResNet9``, training mode. Each 3x3 convolution counted as its im2col matmul:
    the prep layer at full size, a stage's convolution before its pool, its residual after."""
    from scratchvision.models import ResNet9

    w, b, side = sizes["width"], sizes["batch"], sizes["image_size"]
    ours, theirs = ResNet9(w, rng=rng), torch_twins.ResNet9(w)
    x, y = _image_batch(sizes, rng)
    flops = 2 * b * side * side * 9 * 3 * w  # prep
    for c_in, c_out, residual in ((w, 2 * w, True), (2 * w, 4 * w, False), (4 * w, 8 * w, True)):
        flops += 2 * b * side * side * 9 * c_in * c_out
        side //= 2
        flops += residual * 2 * (2 * b * side * side * 9 * c_out * c_out)
    flops += 2 * b * 8 * w * 10
    return Case(ours, theirs, x, y, _classifier_loss, _torch_classifier_loss, flops)


def build_vit(sizes: Sizes, rng: np.random.Generator) -> Case:
    """scratchvision's ``VisionTransformer`` against timm's (same config; timm's fused attention,
    its default). Per block and token (N = patches + the class token): qkv, proj and the MLP
    ``2 * 12 D^2``, scores and weights @ v ``2 * 2 N D``; the patch embedding ``2 D 3 p^2`` per
    patch; the head."""
    # Imported here, not at the top: an engine from before the ViT existed can still be
    # measured on the other models (the before/after comparison).
    from timm.models.vision_transformer import VisionTransformer as TimmViT

    from scratchvision.models import VisionTransformer

    side, patch, dim, depth = sizes["image_size"], sizes["patch"], sizes["dim"], sizes["depth"]
    shape = dict(img_size=side, patch_size=patch, embed_dim=dim, depth=depth, num_classes=10)
    shape["num_heads"] = sizes["n_head"]
    ours = VisionTransformer(**shape, rng=rng)
    theirs = TimmViT(**shape)
    x, y = _image_batch(sizes, rng)
    b, patches = sizes["batch"], (side // patch) ** 2
    tokens = patches + 1
    per_block = 2 * b * tokens * 12 * dim * dim + 2 * 2 * b * tokens * tokens * dim
    flops = depth * per_block + 2 * b * patches * dim * 3 * patch * patch + 2 * b * dim * 10
    return Case(ours, theirs, x, y, _classifier_loss, _torch_classifier_loss, flops)


def _mae_loss(model, x, noise):
    return model(Tensor(x), noise=noise).loss


def _hf_mae_loss(model, x, noise):
    return model(pixel_values=x, noise=noise).loss


def build_mae(sizes: Sizes, rng: np.random.Generator) -> Case:
    """scratchvision's ``MaskedAutoencoder`` against ``transformers.ViTMAEForPreTraining``
    (``attn_implementation="sdpa"``, LayerNorm eps 1e-6 as the original MAE). The "labels" are
    the masking noise (batch, patches): both models hide the same 75% of every image. FLOPs are
    counted from our forward graph (``scratchcore.train.forward_flops``), which the tests check
    against PyTorch's own counter op by op."""
    # Imported here, not at the top: an engine from before the MAE existed can still be
    # measured on the other models (the before/after comparison).
    from scratchcore.train import forward_flops
    from scratchvision.models import MaskedAutoencoder

    side, patch, b = sizes["image_size"], sizes["patch"], sizes["batch"]
    dim, decoder_dim = sizes["dim"], sizes["decoder_dim"]
    ours = MaskedAutoencoder(
        img_size=side,
        patch_size=patch,
        embed_dim=dim,
        depth=sizes["depth"],
        num_heads=sizes["n_head"],
        decoder_embed_dim=decoder_dim,
        decoder_depth=sizes["decoder_depth"],
        decoder_num_heads=sizes["decoder_n_head"],
        rng=rng,
    )
    transformers = _transformers()
    config = transformers.ViTMAEConfig(
        image_size=side,
        patch_size=patch,
        hidden_size=dim,
        num_hidden_layers=sizes["depth"],
        num_attention_heads=sizes["n_head"],
        intermediate_size=4 * dim,
        decoder_hidden_size=decoder_dim,
        decoder_num_hidden_layers=sizes["decoder_depth"],
        decoder_num_attention_heads=sizes["decoder_n_head"],
        decoder_intermediate_size=4 * decoder_dim,
        layer_norm_eps=1e-6,
        attn_implementation="sdpa",
    )
    theirs = transformers.ViTMAEForPreTraining(config)
    x = rng.random((b, 3, side, side)).astype(np.float32)
    noise = rng.random((b, (side // patch) ** 2)).astype(np.float32)
    flops = forward_flops(lambda: _mae_loss(ours, x, noise))
    return Case(ours, theirs, x, noise, _mae_loss, _hf_mae_loss, flops, torch_twins.load_mae)


def build_swin(sizes: Sizes, rng: np.random.Generator) -> Case:
    """scratchvision's ``SwinTransformerV2`` against timm's (same config, stochastic depth off:
    neither has dropout then). The res-post-norms start at gamma = 0 (every block the identity),
    so they are set to 1 here, for the loss check to see every block. Per block and token (at
    width C, windows of W^2 tokens): qkv, proj and the MLP ``2 * 12 C^2``, scores and weights @
    v ``2 * 2 W^2 C``; each block's continuous position bias MLP (2 -> 512 -> heads on the
    (2W - 1)^2 relative offsets); the patch embedding ``2 D 3 p^2`` per patch, each patch
    merging ``2 * 4 C * 2 C`` per merged token; the head."""
    # Imported here, not at the top: an engine from before the Swin existed can still be
    # measured on the other models (the before/after comparison).
    from timm.models.swin_transformer_v2 import SwinTransformerV2 as TimmSwin

    from scratchvision.models import SwinTransformerV2

    side, patch, window, dim = (sizes[k] for k in ("image_size", "patch", "window", "dim"))
    depths, heads = tuple(sizes["depths"]), tuple(sizes["n_heads"])
    shape = dict(img_size=side, patch_size=patch, window_size=window, embed_dim=dim)
    shape |= dict(depths=depths, num_heads=heads, num_classes=10)
    ours = SwinTransformerV2(**shape, rng=rng)
    for name, parameter in ours.named_parameters():
        if name.endswith(("norm1.weight", "norm2.weight")):
            parameter.data[...] = 1.0
    theirs = TimmSwin(**shape, drop_path_rate=0.0)
    x, y = _image_batch(sizes, rng)
    b, grid = sizes["batch"], side // patch
    flops = 2 * b * grid * grid * dim * 3 * patch * patch
    for i, (depth, n_head) in enumerate(zip(depths, heads, strict=True)):
        c = dim * 2**i
        if i:
            grid = (grid + 1) // 2
            flops += 2 * b * grid * grid * (2 * c) * c  # 4 C_prev = 2 C features -> C
        w = min(window, grid)
        tokens = b * grid * grid
        per_block = 2 * tokens * (12 * c * c + 2 * w * w * c)
        per_block += 2 * (2 * w - 1) ** 2 * (2 * 512 + 512 * n_head)
        flops += depth * per_block
    flops += 2 * b * dim * 2 ** (len(depths) - 1) * 10
    return Case(ours, theirs, x, y, _classifier_loss, _torch_classifier_loss, flops)


# ---------------------------------------------------------------------------------------------
# The registry: adding a model is one entry (a builder, its sizes, smoke sizes, one line).

_SMOKE_SEQ = {"batch": 2, "block": 16}
_SMOKE_GPT = _SMOKE_SEQ | {"n_layer": 1, "n_head": 2, "n_embd": 16, "gelu": "tanh"}
_SMOKE_LSTM = _SMOKE_SEQ | {"embedding": 8, "hidden": 16, "layers": 1}
_SMOKE_LLAMA = _SMOKE_SEQ | {"n_layer": 1, "n_head": 4, "n_kv_head": 2, "hidden": 16, "ffn": 48}
_SMOKE_BERT = _SMOKE_SEQ | {"n_layer": 1, "n_head": 2, "hidden": 16, "ffn": 32, "vocab": 50}
_SMOKE_MAMBA2 = _SMOKE_SEQ | {"n_layer": 1, "hidden": 16, "head_dim": 8, "state": 4, "chunk": 8}

BENCHMARKS: dict[str, Benchmark] = {
    "mlp": Benchmark(
        build_mlp,
        sizes={"layers": (64, 128, 128, 10), "batch": 128},
        smoke={"layers": (64, 16, 10), "batch": 8},
        description="MLP 64 → 128 → 128 → 10 at digits scale, batch 128",
        target_full=1.0,
    ),
    "mlp_wide": Benchmark(
        build_mlp,
        sizes={"layers": (784, 1024, 1024, 10), "batch": 256},
        smoke={"layers": (32, 24, 10), "batch": 8},
        description="MLP 784 → 1024 → 1024 → 10 at MNIST scale, batch 256",
        target_full=1.0,
    ),
    "cnn": Benchmark(
        build_cnn,
        sizes={
            "variant": "bn+dropout",
            "image_size": 32,
            "channels": (32, 64, 128),
            "hidden": 256,
            "batch": 64,
        },
        smoke={
            "variant": "bn+dropout",
            "image_size": 8,
            "channels": (4, 8, 8),
            "hidden": 16,
            "batch": 4,
        },
        description="scratchvision's CNN (BatchNorm + Dropout), the cnn_cifar10 model, 32×32×3, "
        "batch 64",
    ),
    "resnet20": Benchmark(
        build_resnet,
        sizes={"depth": 20, "widths": (16, 32, 64), "image_size": 32, "batch": 128},
        smoke={"depth": 8, "widths": (4, 8, 8), "image_size": 8, "batch": 4},
        description="scratchvision's ResNet-20 for CIFAR (option-A shortcuts), 32×32×3, batch 128",
    ),
    "resnet9": Benchmark(
        build_resnet9,
        sizes={"width": 32, "image_size": 32, "batch": 512},
        smoke={"width": 2, "image_size": 8, "batch": 4},
        description="scratchvision's ResNet-9 (Page 2018) at half width, 32 to 256 channels, "
        "32×32×3, batch 512",
    ),
    "vit": Benchmark(
        build_vit,
        sizes={"image_size": 32, "patch": 4, "dim": 128, "depth": 4, "n_head": 4, "batch": 64},
        smoke={"image_size": 8, "patch": 4, "dim": 16, "depth": 1, "n_head": 2, "batch": 2},
        description="scratchvision's ViT at CIFAR size: 32×32, patches of 4, D = 128, 4 blocks, "
        "4 heads, batch 64",
    ),
    "mae": Benchmark(
        build_mae,
        sizes={
            "image_size": 32,
            "patch": 4,
            "dim": 128,
            "depth": 4,
            "n_head": 4,
            "decoder_dim": 64,
            "decoder_depth": 1,
            "decoder_n_head": 4,
            "batch": 128,
        },
        smoke={
            "image_size": 8,
            "patch": 4,
            "dim": 16,
            "depth": 1,
            "n_head": 2,
            "decoder_dim": 8,
            "decoder_depth": 1,
            "decoder_n_head": 2,
            "batch": 2,
        },
        description="scratchvision's masked autoencoder as mae_transfer.py pre-trains it: 32×32, "
        "patches of 4, 75% hidden, encoder D = 128 × 4 blocks, decoder 64 × 1, batch 128",
    ),
    "swin": Benchmark(
        build_swin,
        sizes={
            "image_size": 32,
            "patch": 2,
            "window": 4,
            "dim": 48,
            "depths": (2, 2, 2),
            "n_heads": (3, 6, 12),
            "batch": 64,
        },
        smoke={
            "image_size": 8,
            "patch": 2,
            "window": 2,
            "dim": 8,
            "depths": (2, 2),
            "n_heads": (1, 2),
            "batch": 2,
        },
        description="scratchvision's Swin v2 at CIFAR size: 32×32, patches of 2, windows of 4, "
        "C = 48, 2 + 2 + 2 blocks, 3/6/12 heads, batch 64",
    ),
    "gpt": Benchmark(
        build_gpt,
        sizes={"batch": 32, "block": 128, "n_layer": 4, "n_head": 4, "n_embd": 128, "gelu": "tanh"},
        smoke=_SMOKE_GPT,
        description="scratchseq's GPT at the lm_ladder size: 4 layers, C = 128, 4 heads, "
        "T = 128, batch 32",
    ),
    "gpt_long": Benchmark(
        build_gpt,
        sizes={"batch": 4, "block": 512, "n_layer": 2, "n_head": 4, "n_embd": 128, "gelu": "tanh"},
        smoke=_SMOKE_GPT | {"block": 32},
        description="scratchseq's GPT on long context: 2 layers, C = 128, 4 heads, T = 512, "
        "batch 4",
    ),
    "llama": Benchmark(
        build_llama,
        # the GPT entry's size; SwiGLU width by the Llama rule, llama_ffn_hidden(128, 32) = 352
        sizes={
            "batch": 32,
            "block": 128,
            "n_layer": 4,
            "n_head": 4,
            "n_kv_head": 2,
            "hidden": 128,
            "ffn": 352,
        },
        smoke=_SMOKE_LLAMA,
        description="scratchseq's Llama at the GPT's size: 4 layers, d = 128, 4 query heads "
        "sharing 2 key/value heads, SwiGLU 352, T = 128, batch 32",
    ),
    "bert": Benchmark(
        build_bert,
        sizes={
            "batch": 32,
            "block": 128,
            "n_layer": 4,
            "n_head": 4,
            "hidden": 128,
            "ffn": 512,
            "vocab": 2048,
        },
        smoke=_SMOKE_BERT,
        description="scratchseq's BERT, masked LM (15% masked, rows padded to 64-128 tokens): "
        "4 layers, H = 128, 4 heads, FFN 512, vocabulary 2,048, S = 128, batch 32",
    ),
    "mamba2": Benchmark(
        build_mamba2,
        sizes={
            "batch": 16,
            "block": 128,
            "n_layer": 4,
            "hidden": 128,
            "head_dim": 32,
            "state": 16,
            "chunk": 64,
        },
        smoke=_SMOKE_MAMBA2,
        description="scratchseq's Mamba-2 language model: 4 layers, d = 128, 8 heads of 32, "
        "state 16, chunks of 64, T = 128, batch 16",
    ),
    "seq2seq": Benchmark(
        build_seq2seq,
        sizes={
            "batch": 128,
            "source": 12,
            "target": 12,
            "vocab": 14,
            "d_model": 64,
            "nhead": 4,
            "layers": 2,
            "ffn": 256,
        },
        smoke={
            "batch": 2,
            "source": 5,
            "target": 4,
            "vocab": 10,
            "d_model": 8,
            "nhead": 2,
            "layers": 1,
            "ffn": 16,
        },
        description="scratchseq's encoder-decoder Transformer at the seq2seq_synthetic size: "
        "d = 64, 4 heads, 2 + 2 layers, 12 + 12 tokens, batch 128",
    ),
    "lstm": Benchmark(
        build_lstm,
        sizes={"batch": 32, "block": 128, "embedding": 64, "hidden": 256, "layers": 1},
        smoke=_SMOKE_LSTM,
        description="scratchseq's LSTM language model at the lm_ladder size: E = 64, H = 256, "
        "T = 128, batch 32",
    ),
    "lstm_2layer": Benchmark(
        build_lstm,
        sizes={"batch": 32, "block": 64, "embedding": 64, "hidden": 256, "layers": 2},
        smoke=_SMOKE_LSTM | {"layers": 2},
        description="scratchseq's LSTM language model, two layers: E = 64, H = 256, T = 64, "
        "batch 32",
    ),
}


@dataclass
class Config:
    repeats: int = 20  # timed steps per engine, model and thread count (the median is reported)
    rounds: int = 4  # the repeats are split into this many turns per engine, alternating
    warmup: int = 3
    learning_rate: float = 1e-3  # AdamW, both engines
    weight_decay: float = 1e-2
    matmul_size: int = 1024  # the peak-GFLOP/s matmul is (n, n) @ (n, n)
    settle_s: float = 0.2  # seconds of rest before each engine is timed (see ``settle``)


SMOKE = Config(repeats=2, rounds=2, warmup=1, matmul_size=128, settle_s=0.01)


# ---------------------------------------------------------------------------------------------
# Threads, and which engine is measured.


def engine_version() -> dict[str, Any]:
    """Where the scratchcore being measured was imported from, and that checkout's commit (the
    engine may come from another checkout than this script, through ``PYTHONPATH``)."""
    folder = Path(scratchcore.__file__).resolve().parent

    def git(*args: str) -> str | None:
        done = subprocess.run(["git", *args], cwd=folder, capture_output=True, text=True)
        return done.stdout.strip() if done.returncode == 0 else None

    status = git("status", "--porcelain", "--untracked-files=no")
    return {
        "scratchcore_path": str(folder),
        "git_commit": git("rev-parse", "HEAD"),
        "git_dirty": None if status is None else bool(status),
    }


def full_thread_count() -> int:
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def threads_in_effect() -> dict[str, Any]:
    """Each pool's thread count as the libraries report it: every BLAS library threadpoolctl
    finds, torch's intra-op pool, scratchcore's block pool (``None`` if this engine has none)."""
    blas = [
        {k: lib.get(k) for k in ("internal_api", "prefix", "version", "num_threads")}
        for lib in threadpool_info()
        if lib["user_api"] == "blas"
    ]
    get_ours = getattr(scratchcore, "get_num_threads", None)
    return {
        "blas": blas,
        "torch": torch.get_num_threads(),
        "scratchcore": get_ours() if get_ours else None,
    }


@contextlib.contextmanager
def thread_count(n: int) -> Iterator[dict[str, Any]]:
    """Run the block with BLAS, torch and scratchcore all at ``n`` threads; yields the counts in
    effect, and restores the previous ones on exit."""
    set_ours = getattr(scratchcore, "set_num_threads", None)
    before_torch = torch.get_num_threads()
    before_ours = scratchcore.get_num_threads() if set_ours else None
    with threadpool_limits(n, user_api="blas"):
        torch.set_num_threads(n)
        if set_ours:
            set_ours(n)
        try:
            yield threads_in_effect()
        finally:
            torch.set_num_threads(before_torch)
            if set_ours:
                set_ours(before_ours)


# ---------------------------------------------------------------------------------------------
# Measuring.


def _without_dropout(modules, dropout_type) -> list[tuple[Any, float]]:
    """Set every dropout probability to 0 and return what to restore."""
    saved = [(m, m.p) for m in modules if isinstance(m, dropout_type)]
    for m, _ in saved:
        m.p = 0.0
    return saved


def initial_losses(case: Case) -> tuple[float, float]:
    """Both engines' training-mode loss on the batch before any step, dropout off (its masks come
    from different generators): the same weights must give the same loss."""
    saved = _without_dropout(case.ours.modules(), nn.Dropout)
    saved += _without_dropout(case.theirs.modules(), torch.nn.Dropout)
    ours = case.loss_ours(case.ours, case.x, case.y).item()
    with torch.no_grad():
        theirs = case.loss_theirs(case.theirs, torch.from_numpy(case.x), torch.from_numpy(case.y))
    for m, p in saved:
        m.p = p
    return float(ours), float(theirs.item())


def step_functions(case: Case, config: Config) -> tuple[Callable[[], float], Callable[[], float]]:
    """One full training step (forward, backward, AdamW) of each engine; each returns the loss."""
    opt = dict(lr=config.learning_rate, weight_decay=config.weight_decay)
    ours_opt = optim.AdamW(case.ours.parameters(), **opt)
    theirs_opt = torch.optim.AdamW(case.theirs.parameters(), **opt)
    tx, ty = torch.from_numpy(case.x), torch.from_numpy(case.y)

    def ours() -> float:
        loss = case.loss_ours(case.ours, case.x, case.y)
        ours_opt.zero_grad()
        loss.backward()
        ours_opt.step()
        return loss.item()

    def theirs() -> float:
        loss = case.loss_theirs(case.theirs, tx, ty)
        theirs_opt.zero_grad()
        loss.backward()
        theirs_opt.step()
        return loss.item()

    return ours, theirs


def time_steps(step: Callable[[], float], warmup: int, repeats: int) -> dict[str, list[float]]:
    """Wall and CPU seconds of each of ``repeats`` steps after ``warmup`` untimed ones (a loop
    over steps, on purpose: each step is timed alone), and the losses."""
    losses = [step() for _ in range(warmup)]
    wall, cpu = [], []
    for _ in range(repeats):
        w, c = time.perf_counter(), time.process_time()
        losses.append(step())
        wall.append(time.perf_counter() - w)
        cpu.append(time.process_time() - c)
    return {"wall": wall, "cpu": cpu, "losses": losses}


def summarise(times: dict[str, list[float]]) -> dict[str, Any]:
    """Medians (and extremes) of the steps ``time_steps`` timed."""
    return {
        "median_step_s": statistics.median(times["wall"]),
        "median_step_cpu_s": statistics.median(times["cpu"]),
        "min_step_s": min(times["wall"]),
        "max_step_s": max(times["wall"]),
        "last_loss": times["losses"][-1],
    }


def numpy_step_peak_bytes(step: Callable[[], float]) -> int:
    """Peak bytes traced during one step above the bytes traced when it starts (NumPy reports
    its array buffers to tracemalloc, from every thread, so this counts the graph, gradients and
    temporaries)."""
    tracemalloc.start()
    try:
        start = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        step()
        return tracemalloc.get_traced_memory()[1] - start
    finally:
        tracemalloc.stop()


def torch_step_peak_bytes(step: Callable[[], float]) -> int:
    """Peak of the running sum of torch's CPU allocations and frees during one step, from the
    profiler's memory events (the same quantity as ``numpy_step_peak_bytes``, for torch)."""
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        step()
    events = [
        (e.start_ns(), e.nbytes())
        for e in prof.profiler.kineto_results.events()
        if e.name() == "[memory]"
    ]
    running = itertools.accumulate(n for _, n in sorted(events))
    return max(0, *running)


def matmul_peak_gflops(n: int, settle_s: float, repeats: int = 5) -> dict[str, float]:
    """Best-of-``repeats`` GFLOP/s of one float32 ``(n, n) @ (n, n)`` through NumPy and torch, at
    the thread count in effect. The NumPy product goes through ``scratchcore.parallel.matmul``
    where the engine has it: scratchcore keeps NumPy's BLAS to one thread per call and splits
    products over its own threads, so that is how the engine multiplies."""
    a = np.random.default_rng(0).standard_normal((n, n)).astype(np.float32)
    ta = torch.from_numpy(a)
    ours = getattr(getattr(scratchcore, "parallel", None), "matmul", np.matmul)
    out = {}
    for name, matmul in (("numpy", lambda: ours(a, a)), ("torch", lambda: ta @ ta)):
        settle(settle_s)
        matmul()  # warm-up
        best = min(_seconds(matmul) for _ in range(repeats))
        out[name] = 2 * n**3 / best / 1e9
    return out


def settle(seconds: float) -> None:
    """Pause so the other library's idle threads stop spinning. OpenBLAS workers busy-wait for a
    while after each product (torch's OpenMP workers too, more briefly); on a machine with few
    cores, an engine timed right after the other would share its cores with them (measured here:
    a torch matmul right after a NumPy one at two threads ran at about half its speed)."""
    time.sleep(seconds)


def _seconds(fn: Callable[[], Any]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def time_both(steps, config: Config, step_flops: float, peaks: dict[str, float]) -> dict:
    """Both engines' step times at the thread count in effect, their ratios and GFLOP/s."""
    # The steps are timed in rounds, the engines taking turns (a pause before each turn), so a
    # spell of load from outside the process falls on both engines, not on one of them alone.
    times = {engine: {"wall": [], "cpu": [], "losses": []} for engine in ("scratchcore", "pytorch")}
    parts = np.array_split(range(config.repeats), config.rounds)
    per_round = [len(part) for part in parts if len(part)]
    for turn, repeats in enumerate(per_round):
        for engine, step in zip(times, steps, strict=True):
            settle(config.settle_s)
            warmup = config.warmup if turn == 0 else 1  # one step wakes the engine's threads
            for key, values in time_steps(step, warmup, repeats).items():
                times[engine][key] += values
    run = {engine: summarise(t) for engine, t in times.items()}
    for engine, peak in (("scratchcore", peaks["numpy"]), ("pytorch", peaks["torch"])):
        run[engine]["matmul_gflops_per_s"] = step_flops / run[engine]["median_step_s"] / 1e9
        run[engine]["fraction_of_matmul_peak"] = run[engine]["matmul_gflops_per_s"] / peak
    run["ratio"] = run["scratchcore"]["median_step_s"] / run["pytorch"]["median_step_s"]
    run["ratio_cpu"] = run["scratchcore"]["median_step_cpu_s"] / run["pytorch"]["median_step_cpu_s"]
    return run


def peak_memory(steps, threads: int) -> dict[str, Any]:
    """Each engine's peak step memory (MB), one step each, and their ratio."""
    ours, theirs = steps
    mb = {"scratchcore_mb": numpy_step_peak_bytes(ours) / 2**20}
    mb["pytorch_mb"] = torch_step_peak_bytes(theirs) / 2**20
    return mb | {"ratio": mb["scratchcore_mb"] / mb["pytorch_mb"], "threads": threads}


def measure(
    name: str, sizes: Sizes, config: Config, seed: int, threads: dict[str, int], peaks: dict
) -> dict[str, Any]:
    """Every number of one model: step-0 losses, then at each thread count (``threads`` maps a
    label, "full" or "one", to a count) the step times, then the memory at the full count."""
    bench = BENCHMARKS[name]
    case = bench.build(sizes, np.random.default_rng(seed))
    (case.load_twin or torch_twins.load_from)(case.theirs, case.ours)
    loss_ours, loss_theirs = initial_losses(case)
    steps = step_functions(case, config)
    step_flops = 3 * case.forward_matmul_flops  # forward + backward (≈ 2x forward)
    record: dict[str, Any] = {
        "description": bench.description,
        "sizes": sizes,
        "parameters": int(sum(p.data.size for p in case.ours.parameters())),
        "matmul_gflop_per_step": step_flops / 1e9,
        "initial_loss_scratchcore": loss_ours,
        "initial_loss_pytorch": loss_theirs,
    }
    for label, n in threads.items():
        with thread_count(n):
            record[label] = time_both(steps, config, step_flops, peaks[label])
    with thread_count(threads["full"]):
        record["memory"] = peak_memory(steps, threads["full"])
    targets = {"full": bench.target_full, "one": bench.target_one, "memory": bench.target_memory}
    record["targets"] = targets
    record["met"] = {
        "full": record["full"]["ratio"] <= targets["full"],
        "one": record["one"]["ratio"] <= targets["one"],
        "memory": record["memory"]["ratio"] <= targets["memory"],
    }
    return record


def print_table(metrics: dict[str, Any]) -> None:
    """One line per model: step times and ratios at both thread counts, memory."""
    threads = metrics["threads"]
    print(f"threads: full = {threads['full']}, one = {threads['one']}")
    print(
        "model        full: ours ms torch ms ratio  one: ours ms torch ms ratio   ours MB torch MB"
    )
    for name in metrics["model_order"]:
        m, cells = metrics["models"][name], []
        for label in ("full", "one"):
            r = m[label]
            cells.append(
                f"{1e3 * r['scratchcore']['median_step_s']:12.1f} "
                f"{1e3 * r['pytorch']['median_step_s']:8.1f} {r['ratio']:5.2f}"
            )
        mem = m["memory"]
        print(
            f"{name:12s}{cells[0]} {cells[1]}  "
            f"{mem['scratchcore_mb']:8.1f} {mem['pytorch_mb']:8.1f}"
        )


def profile_ours(name: str, config: Config, seed: int, steps: int = 5) -> None:
    """cProfile of ``steps`` scratchcore training steps of one model, top 25 by cumulative time."""
    bench = BENCHMARKS[name]
    case = bench.build(bench.sizes, np.random.default_rng(seed))
    ours, _ = step_functions(case, config)
    ours()  # warm-up
    profiler = cProfile.Profile()
    profiler.runcall(lambda: [ours() for _ in range(steps)])
    pstats.Stats(profiler).sort_stats("cumulative").print_stats(25)


# ---------------------------------------------------------------------------------------------
# The command line.


def parse_args(argv: list[str] | None):
    parser = experiment_parser(__doc__, default_out=Path(__file__).parent / "results")
    parser.add_argument("--repeats", type=int, default=None, help="timed steps (default 20)")
    parser.add_argument(
        "--threads", type=int, default=None, help="the full thread count (default: every core)"
    )
    parser.add_argument(
        "--models", nargs="+", choices=list(BENCHMARKS), default=None, help="default: all"
    )
    parser.add_argument("--profile", choices=list(BENCHMARKS), help="profile ours, then exit")
    parser.add_argument(
        "--machine-load",
        default="not stated",
        help="what else was running, recorded in the results (e.g. 'idle otherwise')",
    )
    args = parser.parse_args(argv)
    if args.repeats is not None and args.repeats < 1:
        parser.error(f"--repeats must be >= 1; got {args.repeats}")
    if args.threads is not None and args.threads < 1:
        parser.error(f"--threads must be >= 1; got {args.threads}")
    return args


CAVEATS = {
    "threads": (
        "each model timed at the full thread count and at one, switched in-process: BLAS via "
        "threadpoolctl, torch.set_num_threads, scratchcore.set_num_threads"
    ),
    "pytorch": (
        "fused scaled_dot_product_attention (enable_gqa for the Llama), nn.RMSNorm, nn.LSTM, "
        "nn.Conv2d's default path; transformers' BERT (sdpa) and Mamba-2 (torch_forward, the "
        "CPU path), timm's ViT (fused attention) and Swin v2; eager mode"
    ),
    "memory": (
        "measured once per engine, at the full thread count: bytes allocated during one step "
        "above those live at its start; tracemalloc (NumPy buffers) for scratchcore, "
        "torch.profiler CPU allocator events for PyTorch; neither counts memory held before the "
        "step (weights, optimizer state) nor allocator caching / fragmentation (RSS)"
    ),
    "settle": "settle_s of rest before each engine is timed, so the other's threads idle",
    "flops": "analytical matmul FLOPs only (attention counts the full T x T), backward as 2x",
}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    config = Config() if not args.smoke else SMOKE
    if args.repeats is not None:
        config.repeats = args.repeats
    seed_everything(args.seed)
    torch.manual_seed(args.seed)
    if args.profile:
        profile_ours(args.profile, config, args.seed)
        return {}

    start, engine = time.perf_counter(), engine_version()
    threads = {"full": args.threads or full_thread_count(), "one": 1}
    in_effect, peaks = {}, {}
    for label, n in threads.items():
        with thread_count(n) as counts:
            in_effect[label] = counts
            peaks[label] = matmul_peak_gflops(config.matmul_size, config.settle_s)
    names = args.models or list(BENCHMARKS)
    models = {}
    for name in names:
        sizes = BENCHMARKS[name].smoke if args.smoke else BENCHMARKS[name].sizes
        models[name] = measure(name, sizes, config, args.seed, threads, peaks)
    metrics = {
        "engine": engine,
        "threads": threads,
        "threads_in_effect": in_effect,
        "matmul_peak_gflops": peaks,
        "model_order": names,
        "models": models,
    }
    print_table(metrics)
    run_config = {"smoke": args.smoke, "machine_load": args.machine_load, "caveats": CAVEATS}
    write_results(
        args.out,
        experiment="step_time",
        package="benchmarks",
        seed=args.seed,
        config=asdict(config) | run_config,
        metrics=metrics,
        wall_time_s=time.perf_counter() - start,
    )
    return metrics


if __name__ == "__main__":
    main()
