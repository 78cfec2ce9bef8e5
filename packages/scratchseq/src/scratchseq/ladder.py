"""The trained rungs of the language-model ladder: build one model, train it, score it, sample it.

Notes: ``packages/scratchseq/notes/05-attention.md`` (the evidence: the ladder), ``03`` and
``04``.

Each rung is trained by :func:`train_rung` from plain settings (a dict) and a seed, and it loads
the corpus itself, so rungs are independent and can run in separate processes — on a small
shared CPU the ladder trains two rungs at a time. A rung's numbers do not depend on which
process trains it: everything random comes from its own ``default_rng(seed)``.
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np

import scratchcore.nn.functional as F
from scratchcore import Tensor, nn, no_grad
from scratchcore.nn import init
from scratchseq.corpus import python_docs_chars
from scratchseq.data import context_windows, random_windows
from scratchseq.evaluation import LN2, first_scored, fixed_context_examples
from scratchseq.gpt import GPT, GPTConfig, generate, sample_next
from scratchseq.ngram import MLPLanguageModel
from scratchseq.recurrent import RecurrentLanguageModel
from scratchseq.ssm import LinearAttentionGPT, Mamba2Config, Mamba2ForCausalLM
from scratchseq.training import TrainConfig, fit, sequence_model_bits

SEQUENCE_MODELS = ("rnn", "lstm", "gru", "gpt", "linear", "mamba2")


class Mamba2Rung(nn.Module):
    """A ``Mamba2ForCausalLM`` (``self.lm``) behind the interface the ladder's training and
    scoring use: ``forward(idx (B, T), targets=None) -> (logits, loss)`` as the GPT's, and
    ``sample(prompt, length, rng)`` as the recurrent models' (the state carried from token to
    token, so the context is everything so far).

    The embedding and the output projections are initialised as the authors' ``mamba_ssm`` does
    for a language model: embedding (tied to the head) N(0, 0.02^2), each ``out_proj``
    PyTorch's default divided by ``sqrt(n_layer)`` (it writes into the residual stream once per
    layer). The rest is as ``Mamba2ForCausalLM`` builds it (PyTorch's defaults for ``in_proj``
    and the convolution; ``transformers``' ``dt_bias``, ``A_log`` and ``D``).
    """

    def __init__(self, config: Mamba2Config, rng: np.random.Generator) -> None:
        super().__init__()
        self.config = config
        self.lm = Mamba2ForCausalLM(config, rng=rng)
        init.normal_(self.lm.backbone.embeddings.weight, 0.0, 0.02, rng=rng)
        bound = 1 / math.sqrt(config.intermediate_size * config.num_hidden_layers)
        for layer in self.lm.backbone.layers:
            init.uniform_(layer.mixer.out_proj.weight, -bound, bound, rng=rng)

    def forward(self, idx: Any, targets: Any = None) -> tuple[Tensor, Tensor | None]:
        logits = self.lm(idx)
        if targets is None:
            return logits, None
        loss = F.cross_entropy(
            logits.reshape(-1, self.config.vocab_size), np.asarray(targets).reshape(-1)
        )
        return logits, loss

    @no_grad()
    def sample(
        self, prompt: Any, length: int, rng: np.random.Generator, temperature: float = 1.0
    ) -> np.ndarray:
        """Continue ``prompt`` (1-D ids) by ``length`` ids drawn from the softmax: the prompt
        runs once through the chunked form, then each id is one recurrent step."""
        was_training = self.training
        self.eval()
        cache, inputs, out = self.lm.new_cache(), np.asarray(prompt, np.int64).reshape(1, -1), []
        for _ in range(length):
            logits = self.lm(inputs, cache).data[:, -1]  # (1, V): the next-id prediction
            token = sample_next(logits, temperature, rng=rng)
            out.append(int(token[0]))
            inputs = token[:, None]
        self.train(was_training)
        return np.array(out, dtype=np.int64)


def build_sequence_model(name: str, vocab: int, settings: dict, rng: np.random.Generator):
    """The RNN / LSTM / GRU language model, the GPT, the linear-attention GPT or the Mamba-2
    that ``settings`` describe."""
    if name in ("gpt", "linear"):  # the same shape; only the attention differs
        gpt_config = GPTConfig(
            vocab_size=vocab,
            block_size=settings["block_size"],
            n_layer=settings["gpt_n_layer"],
            n_head=settings["gpt_n_head"],
            n_embd=settings["gpt_n_embd"],
            dropout=settings["gpt_dropout"],
            gelu=settings["gpt_gelu"],
        )
        return (GPT if name == "gpt" else LinearAttentionGPT)(gpt_config, rng=rng)
    if name == "mamba2":
        width = settings["mamba2_n_embd"]
        mamba2_config = Mamba2Config(
            vocab_size=vocab,
            hidden_size=width,
            num_hidden_layers=settings["mamba2_n_layer"],
            num_heads=settings["mamba2_expand"] * width // settings["mamba2_head_dim"],
            head_dim=settings["mamba2_head_dim"],
            state_size=settings["mamba2_state_size"],
            expand=settings["mamba2_expand"],
            n_groups=settings["mamba2_n_groups"],
            chunk_size=settings["mamba2_chunk_size"],
            tie_word_embeddings=True,
        )
        return Mamba2Rung(mamba2_config, rng)
    if name not in SEQUENCE_MODELS:
        raise ValueError(f"build_sequence_model: unknown model {name!r}; use {SEQUENCE_MODELS}")
    return RecurrentLanguageModel(
        vocab, name, settings["rnn_embedding_dim"], settings["rnn_hidden_size"], rng=rng
    )


@no_grad()
def mlp_bits(model: MLPLanguageModel, X: np.ndarray, y: np.ndarray, chunk=8192) -> float:
    """Total cross-entropy of ``y`` given contexts ``X``, in bits, in chunks to bound memory."""
    total = 0.0
    for start in range(0, len(X), chunk):
        logits = model(X[start : start + chunk])
        total += F.cross_entropy(logits, Tensor(y[start : start + chunk]), reduction="sum").item()
    return total / LN2


def train_rung(name: str, settings: dict, seed: int) -> dict[str, Any]:
    """Train rung ``name`` (``"mlp"`` or one of ``SEQUENCE_MODELS``) and return its record:
    validation bits per character, parameters, steps, training time (wall and CPU), the
    history, and a seeded sample of ``sample_length`` characters continuing the first
    ``mlp_context_size`` characters of the training text."""
    corpus = python_docs_chars()
    train, val = corpus.train, corpus.validation[: settings["validation_characters"]]
    vocab, block = corpus.vocab_size, settings["block_size"]
    prompt = train[: settings["mlp_context_size"]]
    scored = len(val) - first_scored(block)
    rng = np.random.default_rng(seed)
    sample_rng = np.random.default_rng(seed)

    if name == "mlp":  # Bengio et al. (2003): random (8 characters, next) pairs
        X_train, y_train = context_windows(train, settings["mlp_context_size"])
        X_val, y_val = fixed_context_examples(val, settings["mlp_context_size"], block)
        model = MLPLanguageModel(
            vocab,
            settings["mlp_context_size"],
            settings["mlp_embedding_dim"],
            settings["mlp_hidden_size"],
            rng=rng,
        )

        def batch_loss() -> Tensor:
            rows = rng.integers(0, len(X_train), settings["mlp_batch_size"])
            return F.cross_entropy(model(X_train[rows]), Tensor(y_train[rows]))

        def evaluate() -> float:
            return mlp_bits(model, X_val, y_val) / len(y_val)

        recipe = TrainConfig(
            steps=settings["mlp_steps"],
            learning_rate=settings["mlp_learning_rate"],
            warmup_steps=min(100, settings["mlp_steps"] - 1),
            grad_clip=settings["grad_clip"],
            eval_every=settings["mlp_eval_every"],
        )
    else:  # a sequence model: random windows of block_size characters
        model = build_sequence_model(name, vocab, settings, rng)

        def batch_loss() -> Tensor:
            x, y = random_windows(train, block, settings["batch_size"], rng)
            return model(x, y)[1]

        def evaluate() -> float:
            bits, count = sequence_model_bits(model, val, block)
            if count != scored:  # the same characters as every other rung, or a bug
                raise RuntimeError(f"{name} scored {count} characters, the others {scored}")
            return bits / count

        # The rungs added on top have their own steps (the same CPU budget as the GPT's).
        steps = settings[f"{name}_steps"] if name in ("linear", "mamba2") else settings["steps"]
        own_rate = name in ("gpt", "linear", "mamba2")
        learning_rate = settings[f"{name}_learning_rate" if own_rate else "rnn_learning_rate"]
        recipe = TrainConfig(
            steps=steps,
            learning_rate=learning_rate,
            warmup_steps=settings["warmup_steps"],
            grad_clip=settings["grad_clip"],
            eval_every=settings["eval_every"],
        )

    history = fit(model, batch_loss, evaluate, recipe, desc=name)
    begin = time.perf_counter()
    length = settings["sample_length"]
    if name in ("gpt", "linear"):  # the linear one recomputes its window (no KV cache)
        ids = generate(model, prompt[None, :], length, rng=sample_rng, use_cache=name == "gpt")
        ids = ids[0, len(prompt) :]
    else:  # the MLP, the recurrent models and Mamba-2 have their own samplers
        ids = model.sample(prompt, length, sample_rng)
    steps = recipe.steps
    return {
        "val_bits_per_char": history.last("val_bits"),
        "validation_characters_scored": scored,
        "parameters": int(sum(p.data.size for p in model.parameters())),
        "steps": steps,
        "train_time_s": history.last("train_time_s"),
        "train_cpu_s": history.last("train_cpu_s"),
        "cpu_ms_per_step": 1e3 * history.last("train_cpu_s") / steps,
        "history": history.to_dict(),
        "sample": corpus.decode(ids),
        "sample_time_s": time.perf_counter() - begin,
    }
