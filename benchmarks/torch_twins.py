"""PyTorch twins of the benchmarked scratchcore models, for ``step_time.py``.

Each twin is a plain ``torch.nn.Module`` whose ``state_dict`` names and layouts are exactly those
of the scratchcore model, so ``load_from(twin, ours)`` starts both from the same weights (the
parity tests in ``packages/scratchvision/tests/test_models.py`` and
``packages/scratchseq/tests/test_gpt.py`` / ``test_recurrent_lm.py`` check the same
equivalences in float64; here the point is speed, so everything is float32). The BERT, Mamba-2,
ViT and Swin v2 entries need no twin here: their twins are the reference libraries' own models
(``transformers``, ``timm``), whose state dicts ours reproduce name for name.

Each twin computes the same function as its model by PyTorch's fastest CPU path, as a PyTorch
user would write it: attention through the fused ``scaled_dot_product_attention``, the recurrence
through ``nn.LSTM``, convolutions through ``nn.Conv2d`` as it comes (its default backend), the
CIFAR ResNet's blocks from torchvision's ``BasicBlock``.

This is a development tool: it imports torch, which no ScratchMind package depends on.
"""

from __future__ import annotations

import itertools

import numpy as np
import torch
import torch.nn.functional as TF
from torch import nn


def load_from(twin: nn.Module, ours) -> nn.Module:
    """Copy every parameter and buffer of the scratchcore module ``ours`` into ``twin`` (strict:
    a missing or extra name is an error, so a twin that drifts from its model cannot run)."""
    state = {name: torch.from_numpy(np.array(value)) for name, value in ours.state_dict().items()}
    twin.load_state_dict(state, strict=True)
    return twin


MAE_TOP_NAMES = {  # our MaskedAutoencoder's names (the original MAE code's) -> transformers'
    "patch_embed.proj": "vit.embeddings.patch_embeddings.projection",
    "cls_token": "vit.embeddings.cls_token",
    "pos_embed": "vit.embeddings.position_embeddings",
    "norm": "vit.layernorm",
    "decoder_embed": "decoder.decoder_embed",
    "mask_token": "decoder.mask_token",
    "decoder_pos_embed": "decoder.decoder_pos_embed",
    "decoder_norm": "decoder.decoder_norm",
    "decoder_pred": "decoder.decoder_pred",
}
MAE_BLOCK_NAMES = {  # our (timm's) Block -> transformers' ViTMAELayer
    "attn.proj": "attention.o_proj",
    "norm1": "layernorm_before",
    "norm2": "layernorm_after",
    "mlp.fc1": "mlp.fc1",
    "mlp.fc2": "mlp.fc2",
}


def load_mae(twin: nn.Module, ours) -> nn.Module:
    """Copy scratchvision's ``MaskedAutoencoder`` into ``transformers.ViTMAEForPreTraining``:
    the names mapped, and each fused ``qkv`` split into transformers' q, k and v (stacked in
    that order). Strict, as ``load_from``."""
    state = {}
    for name, value in ours.state_dict().items():
        value = torch.from_numpy(np.array(value))
        stack, rest = name.split(".", 1) if "." in name else (name, "")
        prefix = {"blocks": "vit.layers.", "decoder_blocks": "decoder.decoder_layers."}.get(stack)
        if prefix is None:
            top = next(k for k in MAE_TOP_NAMES if name == k or name.startswith(k + "."))
            state[MAE_TOP_NAMES[top] + name[len(top) :]] = value
            continue
        index, rest = rest.split(".", 1)
        if rest.startswith("attn.qkv."):
            kind = rest.rsplit(".", 1)[1]  # weight or bias
            for part, chunk in zip("qkv", value.chunk(3), strict=True):
                state[f"{prefix}{index}.attention.{part}_proj.{kind}"] = chunk.clone()
            continue
        block = next(k for k in MAE_BLOCK_NAMES if rest.startswith(k + "."))
        state[f"{prefix}{index}.{MAE_BLOCK_NAMES[block]}{rest[len(block) :]}"] = value
    twin.load_state_dict(state, strict=True)
    return twin


def mlp(sizes: tuple[int, ...]) -> nn.Sequential:
    """``Linear -> ReLU -> ... -> Linear`` through ``sizes``, as ``scratchcore.nn.Sequential``."""
    layers: list[nn.Module] = []
    for i, (n_in, n_out) in enumerate(itertools.pairwise(sizes)):
        layers.append(nn.Linear(n_in, n_out))
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


class CNN(nn.Module):
    """scratchvision's ``CNN`` (``models/cnn.py``): three ``conv3x3 -> [BN] -> ReLU -> pool``
    stages, then ``Flatten -> Linear -> ReLU -> [Dropout] -> Linear``, the same module tree."""

    def __init__(
        self,
        in_channels: int,
        num_classes: int,
        image_size: int,
        batch_norm: bool,
        dropout: float,
        channels: tuple[int, int, int],
        hidden: int,
    ) -> None:
        super().__init__()
        stages, previous = [], in_channels
        for c in channels:
            layers = [nn.Conv2d(previous, c, 3, padding=1, bias=not batch_norm)]
            layers += [nn.BatchNorm2d(c)] if batch_norm else []
            stages.append(nn.Sequential(*layers, nn.ReLU(), nn.MaxPool2d(2)))
            previous = c
        self.features = nn.Sequential(*stages)
        head = [nn.Flatten(), nn.Linear(channels[-1] * (image_size // 8) ** 2, hidden), nn.ReLU()]
        head += [nn.Dropout(dropout)] if dropout else []
        self.classifier = nn.Sequential(*head, nn.Linear(hidden, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


class _Attention(nn.Module):
    def __init__(self, c: int) -> None:
        super().__init__()
        self.c_attn, self.c_proj = nn.Linear(c, 3 * c), nn.Linear(c, c)


class _MLP(nn.Module):
    def __init__(self, c: int) -> None:
        super().__init__()
        self.c_fc, self.c_proj = nn.Linear(c, 4 * c), nn.Linear(4 * c, c)


class _Block(nn.Module):
    def __init__(self, c: int) -> None:
        super().__init__()
        self.ln_1, self.attn = nn.LayerNorm(c), _Attention(c)
        self.ln_2, self.mlp = nn.LayerNorm(c), _MLP(c)


class GPT(nn.Module):
    """scratchseq's ``GPT`` (biases on, no dropout); attention is PyTorch's fused kernel,
    ``scaled_dot_product_attention(q, k, v, is_causal=True)`` on (B, heads, T, C / heads).

    ``forward(idx (B, T), targets (B, T)) -> mean cross-entropy``.
    """

    def __init__(self, config) -> None:
        super().__init__()
        c = config.n_embd
        self.n_head, self.gelu, self.vocab_size = config.n_head, config.gelu, config.vocab_size
        self.wte = nn.Embedding(config.vocab_size, c)
        self.wpe = nn.Embedding(config.block_size, c)
        self.h = nn.ModuleList([_Block(c) for _ in range(config.n_layer)])
        self.ln_f = nn.LayerNorm(c)
        self.lm_head = nn.Linear(c, config.vocab_size, bias=False)
        self.lm_head.weight = self.wte.weight  # tied, as ours

    def forward(self, idx: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        b, t = idx.shape
        h = self.n_head
        x = self.wte(idx) + self.wpe(torch.arange(t))
        for block in self.h:
            q, k, v = block.attn.c_attn(block.ln_1(x)).chunk(3, dim=-1)
            q, k, v = (z.view(b, t, h, -1).transpose(1, 2) for z in (q, k, v))
            y = TF.scaled_dot_product_attention(q, k, v, is_causal=True)  # (B, heads, T, C / heads)
            x = x + block.attn.c_proj(y.transpose(1, 2).reshape(b, t, -1))
            m = TF.gelu(block.mlp.c_fc(block.ln_2(x)), approximate=self.gelu)
            x = x + block.mlp.c_proj(m)
        logits = self.lm_head(self.ln_f(x))
        return TF.cross_entropy(logits.reshape(-1, self.vocab_size), targets.reshape(-1))


class Seq2Seq(nn.Module):
    """scratchseq's ``Seq2SeqTransformer`` (dropout off) around ``torch.nn.Transformer``, whose
    attention takes PyTorch's fused path: embeddings times sqrt(d) plus the same sinusoid table,
    the tied output projection.

    ``forward(src (B, S), tgt (B, T + 2)) -> mean cross-entropy`` of teacher forcing, padding
    (id 0) ignored, as ``Seq2SeqTransformer.loss``.
    """

    def __init__(self, config, positions: np.ndarray) -> None:
        super().__init__()
        d = config.d_model
        self.d_model, self.vocab_size = d, config.tgt_vocab_size
        self.src_embed = nn.Embedding(config.src_vocab_size, d)
        # One shared module is one state-dict entry in scratchcore (a module is walked once),
        # so the shared case keeps no second attribute for it.
        self.shared = config.share_embeddings
        if not self.shared:
            self.tgt_embed = nn.Embedding(config.tgt_vocab_size, d)
        self.transformer = nn.Transformer(
            d,
            config.nhead,
            config.num_encoder_layers,
            config.num_decoder_layers,
            config.dim_feedforward,
            dropout=0.0,
            batch_first=True,
            norm_first=config.norm_first,
        )
        self.generator = nn.Linear(d, config.tgt_vocab_size, bias=False)
        self.generator.weight = self.target_embedding().weight  # tied, as ours
        self.positions = torch.from_numpy(np.asarray(positions, dtype=np.float32))

    def target_embedding(self) -> nn.Embedding:
        return self.src_embed if self.shared else self.tgt_embed

    def forward(self, src: torch.Tensor, tgt: torch.Tensor) -> torch.Tensor:
        tgt_in, labels = tgt[:, :-1], tgt[:, 1:]
        scale = self.d_model**0.5
        x = self.src_embed(src) * scale + self.positions[: src.shape[1]]
        y = self.target_embedding()(tgt_in) * scale + self.positions[: tgt_in.shape[1]]
        causal = nn.Transformer.generate_square_subsequent_mask(tgt_in.shape[1])
        padding = src == 0
        out = self.transformer(
            x,
            y,
            tgt_mask=causal,
            tgt_is_causal=True,
            src_key_padding_mask=padding,
            memory_key_padding_mask=padding,
        )
        logits = self.generator(out)
        return TF.cross_entropy(
            logits.reshape(-1, self.vocab_size), labels.reshape(-1), ignore_index=0
        )


class RecurrentLM(nn.Module):
    """scratchseq's ``RecurrentLanguageModel("lstm")`` with ``torch.nn.LSTM`` (``num_layers``
    stacked, batch first).

    ``forward(idx (B, T), targets (B, T)) -> mean cross-entropy``.
    """

    def __init__(
        self, vocab_size: int, embedding_dim: int, hidden_size: int, num_layers: int = 1
    ) -> None:
        super().__init__()
        self.vocab_size = vocab_size
        self.embedding = nn.Embedding(vocab_size, embedding_dim)
        self.rnn = nn.LSTM(embedding_dim, hidden_size, num_layers, batch_first=True)
        self.head = nn.Linear(hidden_size, vocab_size)

    def forward(self, idx: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        hidden, _ = self.rnn(self.embedding(idx))
        logits = self.head(hidden)
        return TF.cross_entropy(logits.reshape(-1, self.vocab_size), targets.reshape(-1))


class _LlamaAttention(nn.Module):
    def __init__(self, d: int, heads: int, kv_heads: int, head_dim: int) -> None:
        super().__init__()
        self.heads, self.kv_heads, self.head_dim = heads, kv_heads, head_dim
        self.q_proj = nn.Linear(d, heads * head_dim, bias=False)
        self.k_proj = nn.Linear(d, kv_heads * head_dim, bias=False)
        self.v_proj = nn.Linear(d, kv_heads * head_dim, bias=False)
        self.o_proj = nn.Linear(heads * head_dim, d, bias=False)

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        b, t, _ = x.shape
        q = self.q_proj(x).view(b, t, self.heads, self.head_dim).transpose(1, 2)
        k = self.k_proj(x).view(b, t, self.kv_heads, self.head_dim).transpose(1, 2)
        v = self.v_proj(x).view(b, t, self.kv_heads, self.head_dim).transpose(1, 2)
        q, k = _rope_half(q, cos, sin), _rope_half(k, cos, sin)
        y = TF.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=True)
        return self.o_proj(y.transpose(1, 2).reshape(b, t, -1))


class _LlamaMLP(nn.Module):
    def __init__(self, d: int, hidden: int) -> None:
        super().__init__()
        self.gate_proj = nn.Linear(d, hidden, bias=False)
        self.up_proj = nn.Linear(d, hidden, bias=False)
        self.down_proj = nn.Linear(hidden, d, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.down_proj(TF.silu(self.gate_proj(x)) * self.up_proj(x))


class _LlamaLayer(nn.Module):
    def __init__(self, config) -> None:
        super().__init__()
        d, eps = config.hidden_size, config.rms_norm_eps
        self.input_layernorm = nn.RMSNorm(d, eps=eps)
        self.self_attn = _LlamaAttention(
            d, config.num_attention_heads, config.num_key_value_heads, config.resolved_head_dim
        )
        self.post_attention_layernorm = nn.RMSNorm(d, eps=eps)
        self.mlp = _LlamaMLP(d, config.intermediate_size)


def _rope_half(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """RoPE in the half layout (``transformers``'): feature ``i`` turns with ``i + D/2``."""
    a, b = x.chunk(2, dim=-1)
    return torch.cat((a * cos - b * sin, b * cos + a * sin), dim=-1)


class Llama(nn.Module):
    """scratchseq's ``LlamaForCausalLM`` (no biases, untied head, no rope scaling), as plain
    PyTorch: ``nn.RMSNorm``, RoPE in the half layout, grouped-query attention through the fused
    ``scaled_dot_product_attention(..., is_causal=True, enable_gqa=True)`` (no copies of the
    key/value heads), the SwiGLU feed-forward network. Parameter names are ``transformers``'.

    ``forward(idx (B, T), targets (B, T)) -> mean cross-entropy``.
    """

    def __init__(self, config) -> None:
        super().__init__()
        if config.rope_scaling is not None or config.tie_word_embeddings:
            raise ValueError("torch_twins.Llama: no rope_scaling and an untied head only")
        self.vocab_size, self.theta = config.vocab_size, config.rope_theta
        self.head_dim = config.resolved_head_dim
        self.model = nn.Module()
        self.model.embed_tokens = nn.Embedding(config.vocab_size, config.hidden_size)
        self.model.layers = nn.ModuleList(
            [_LlamaLayer(config) for _ in range(config.num_hidden_layers)]
        )
        self.model.norm = nn.RMSNorm(config.hidden_size, eps=config.rms_norm_eps)
        self.lm_head = nn.Linear(config.hidden_size, config.vocab_size, bias=False)

    def _cos_sin(self, t: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(T, D/2) tables of the angles ``position * theta^(-2i/D)``."""
        inv_freq = self.theta ** -(
            torch.arange(0, self.head_dim, 2, dtype=torch.float64) / self.head_dim
        )
        angles = torch.arange(t, dtype=torch.float64)[:, None] * inv_freq[None, :]
        return angles.cos().float(), angles.sin().float()

    def forward(self, idx: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        cos, sin = self._cos_sin(idx.shape[1])
        x = self.model.embed_tokens(idx)
        for layer in self.model.layers:
            x = x + layer.self_attn(layer.input_layernorm(x), cos, sin)
            x = x + layer.mlp(layer.post_attention_layernorm(x))
        logits = self.lm_head(self.model.norm(x))
        return TF.cross_entropy(logits.reshape(-1, self.vocab_size), targets.reshape(-1))


class _ShortcutA(nn.Module):
    """Option A of He et al. (2016): every second pixel, then zero channels appended (no
    parameters), as scratchvision's ``ShortcutA``."""

    def __init__(self, extra: int) -> None:
        super().__init__()
        self.extra = extra

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return TF.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, 0, self.extra))


class CifarResNet(nn.Module):
    """scratchvision's ``CifarResNet`` (ResNet-(6n+2) for 32x32 images) from torchvision's own
    ``BasicBlock``, with option-A shortcuts (``_ShortcutA``) where the shape changes, as the
    parity test in ``packages/scratchvision/tests/test_models_resnet.py`` builds it.

    ``forward(x (N, 3, H, W)) -> logits (N, num_classes)``.
    """

    def __init__(
        self, depth: int, widths: tuple[int, int, int] = (16, 32, 64), num_classes: int = 10
    ) -> None:
        # Imported here: only this twin needs torchvision.
        from torchvision.models.resnet import BasicBlock

        super().__init__()
        n = (depth - 2) // 6
        self.conv1 = nn.Conv2d(3, widths[0], 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(widths[0])
        stages, width = [], widths[0]
        for i, channels in enumerate(widths):
            stride = 1 if i == 0 else 2
            down = _ShortcutA(channels - width) if stride != 1 or width != channels else None
            blocks = [BasicBlock(width, channels, stride, down)]
            blocks += [BasicBlock(channels, channels) for _ in range(n - 1)]
            stages.append(nn.Sequential(*blocks))
            width = channels
        self.layer1, self.layer2, self.layer3 = stages
        self.fc = nn.Linear(width, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        return self.fc(x.mean(dim=(2, 3)))


def _conv_bn(c_in: int, c_out: int) -> nn.Sequential:
    """conv3x3 (no bias), BatchNorm, ReLU, under the names ``conv`` and ``bn``."""
    block = nn.Sequential()
    block.add_module("conv", nn.Conv2d(c_in, c_out, 3, 1, 1, bias=False))
    block.add_module("bn", nn.BatchNorm2d(c_out))
    block.add_module("relu", nn.ReLU())
    return block


class _Residual9(nn.Module):
    def __init__(self, c: int) -> None:
        super().__init__()
        self.res1, self.res2 = _conv_bn(c, c), _conv_bn(c, c)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.res2(self.res1(x))


class _Stage9(nn.Module):
    def __init__(self, c_in: int, c_out: int, residual: bool) -> None:
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, 3, 1, 1, bias=False)
        self.bn = nn.BatchNorm2d(c_out)
        self.residual = _Residual9(c_out) if residual else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = TF.max_pool2d(torch.relu(self.bn(self.conv(x))), 2)
        return x if self.residual is None else self.residual(x)


class ResNet9(nn.Module):
    """scratchvision's ``ResNet9`` (Page, 2018) in torch, the same names:
    ``forward(x (N, 3, H, W)) -> logits (N, num_classes)``."""

    def __init__(self, width: int, num_classes: int = 10) -> None:
        super().__init__()
        self.prep = _conv_bn(3, width)
        self.layer1 = _Stage9(width, 2 * width, True)
        self.layer2 = _Stage9(2 * width, 4 * width, False)
        self.layer3 = _Stage9(4 * width, 8 * width, True)
        self.linear = nn.Linear(8 * width, num_classes, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.layer3(self.layer2(self.layer1(self.prep(x))))
        return self.linear(x.amax(dim=(2, 3))) * 0.125
