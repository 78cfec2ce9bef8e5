"""What a generated token costs, in time and in carried memory, as the context grows: a GPT
without a cache, the GPT with its KV cache, and Mamba-2 with its recurrent state.

Notes: ``packages/scratchseq/notes/15-state-space-models.md``.

Three models of the language-model ladder's size (``lm_ladder.py``), *untrained*: random
weights, because the cost of a step does not depend on what the weights say. The GPT has the
ladder's shape (4 blocks, 4 heads, C = 128) with ``block_size`` the longest context measured
(2048: its learned positions add 128 parameters each, 1,068,672 in all against the ladder
GPT's 822,912, and cost a lookup per token); the Mamba-2 is the ladder's (6 layers, d = 128, 4
heads of 64, state N = 128, one group, tied embedding; 820,552 parameters, with no positions).
float32, one thread, batch 1; contexts 16 to 2048 (the default run takes well under a minute).

For each context length T (the prefix already holds T tokens, and the model must predict token
T + 1), the time of producing that prediction, the median of ``repeats`` runs:

* **no cache**: one forward pass over all T tokens, the last position's logits (what a decoder
  without a cache does at every token): O(T) projections and MLPs, O(T^2) attention;
* **KV cache**: one forward pass of the newest token against a cache holding the T - 1 before it
  (filled by a prefill that is not timed): O(T) attention, the rest constant;
* **Mamba-2**: one recurrent step (``ssd_step``) from the state the T - 1 before it left: O(1).

And the memory each carries from one token to the next, read from the arrays actually held
after the step (``nbytes``), not from a formula: the KV cache's keys and values, checked to
equal ``2 n_layer T C itemsize``; Mamba-2's conv states (K - 1 inputs of I + 2 G N channels)
and SSM states (H x P x N) per layer, the same at every T; for the uncached GPT, the T token
ids it re-reads. Besides, ``tracemalloc``'s peak during one (untimed) step: the working memory
(for the uncached GPT it includes the (T, T) attention scores).

Each step is also checked against the uncached forward of the same prefix (the largest
difference of the next-token logits): cached decoding and a recurrent step compute the same
function as the full pass, only in a different order.

    uv run python packages/scratchseq/experiments/generation_cost.py [--smoke]

(and ``--seed N``, ``--out DIR`` as every experiment).

Writes ``results/generation_cost.json`` and ``results/generation_cost.png`` (milliseconds per
token against T, log-log; bytes carried against T).
"""

from __future__ import annotations

import os

# One thread, set before NumPy and scratchcore load: BLAS's and the engine's own pool, so every
# mode is timed on one core (a per-token cost, not a measure of how well it spreads).
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("SCRATCHCORE_NUM_THREADS", "1")

import time
import tracemalloc
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from scratchcore import no_grad
from scratchcore.train import (
    experiment_parser,
    progress,
    save_figure,
    seed_everything,
    write_results,
)
from scratchseq.gpt import GPT, GPTConfig, KVCache
from scratchseq.ssm import Mamba2Cache, Mamba2Config, Mamba2ForCausalLM

# How a re-run must match the committed results (``uv run python -m checks.reproduce``).
REPRODUCE = {
    "tolerances": [
        ("*_ms_per_token.*", None, "milliseconds per decoding step: they measure the machine"),
        ("*_peak_bytes.*", None, "tracemalloc peaks: they depend on NumPy's allocations"),
        ("*_at_longest", None, "a ratio of two timings: it measures the machine too"),
        ("*_max_abs_diff.*", None, "float32 rounding: the order of the sums is BLAS's choice"),
        ("*", 0, "seeded sizes and weights: the same parameter counts and state bytes every run"),
    ],
}

MODES = ("uncached", "cached", "mamba2")  # metric prefixes, in the figure's order
LABELS = {
    "uncached": "GPT, no cache (full forward)",
    "cached": "GPT, KV cache (one token)",
    "mamba2": "Mamba-2, recurrent state (one step)",
}


@dataclass
class Config:
    vocab_size: int = 103  # the ladder's character vocabulary
    n_layer: int = 4
    n_head: int = 4
    n_embd: int = 128
    mamba2_n_layer: int = 6
    mamba2_n_embd: int = 128
    mamba2_head_dim: int = 64
    mamba2_state_size: int = 128
    mamba2_n_groups: int = 1
    mamba2_chunk_size: int = 64
    lengths: list[int] = field(default_factory=lambda: [2**k for k in range(4, 12)])  # 16..2048
    repeats: int = 25  # a step takes milliseconds: the median of many is steadier


SMOKE = Config(
    n_layer=2,
    n_head=2,
    n_embd=16,
    mamba2_n_layer=2,
    mamba2_n_embd=16,
    mamba2_head_dim=8,
    mamba2_state_size=8,
    mamba2_chunk_size=8,
    lengths=[4, 8, 16, 32],
    repeats=2,
)


def build_models(
    config: Config, rng: np.random.Generator, dtype: type = np.float32
) -> tuple[GPT, Mamba2ForCausalLM]:
    """The GPT (``block_size`` the longest context) and the Mamba-2, random weights, eval mode."""
    gpt = GPT(
        GPTConfig(
            vocab_size=config.vocab_size,
            block_size=max(config.lengths),
            n_layer=config.n_layer,
            n_head=config.n_head,
            n_embd=config.n_embd,
            gelu="tanh",
        ),
        dtype,
        rng,
    )
    width = config.mamba2_n_embd
    mamba2 = Mamba2ForCausalLM(
        Mamba2Config(
            vocab_size=config.vocab_size,
            hidden_size=width,
            num_hidden_layers=config.mamba2_n_layer,
            num_heads=2 * width // config.mamba2_head_dim,
            head_dim=config.mamba2_head_dim,
            state_size=config.mamba2_state_size,
            n_groups=config.mamba2_n_groups,
            chunk_size=config.mamba2_chunk_size,
            tie_word_embeddings=True,
        ),
        dtype,
        rng,
    )
    return gpt.eval(), mamba2.eval()


def kv_cache_bytes(cache: KVCache) -> int:
    """Bytes of the keys and values a ``KVCache`` holds."""
    return sum(t.data.nbytes for t in cache.keys + cache.values if t is not None)


def mamba2_state_bytes(cache: Mamba2Cache) -> tuple[int, int]:
    """Bytes of the (conv, SSM) states a ``Mamba2Cache`` holds, summed over the layers."""
    conv = sum(a.nbytes for a in cache.conv_states if a is not None)
    ssm = sum(a.nbytes for a in cache.ssm_states if a is not None)
    return conv, ssm


def timed(step: Callable[[], np.ndarray], reset: Callable[[], None], repeats: int):
    """``(median seconds, peak bytes, logits)`` of ``step()``, ``reset()`` before each run (not
    timed); the peak comes from one more run under ``tracemalloc``, apart from the timings."""
    seconds = []
    reset()
    step()  # one untimed run first: the first call of a shape pays for allocations
    for _ in range(repeats):
        reset()
        begin = time.perf_counter()
        logits = step()
        seconds.append(time.perf_counter() - begin)
    reset()
    tracemalloc.start()
    step()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return float(np.median(seconds)), int(peak), logits


@no_grad()
def measure(gpt: GPT, mamba2: Mamba2ForCausalLM, ids: np.ndarray, repeats: int) -> dict:
    """Every number of one context length ``T = ids.shape[1]``: the next-token step of each
    mode (time, peak, state bytes after it) and its logits against the uncached forward's."""
    t = ids.shape[1]
    record = {}

    # No cache: the whole prefix again. Its logits for the last position are the reference.
    seconds, peak, full = timed(lambda: gpt(ids)[0].data[:, -1], lambda: None, repeats)
    record["uncached"] = dict(seconds=seconds, peak=peak, state=ids.nbytes)

    # KV cache: the first T - 1 positions prefilled, then the newest token alone.
    cache = KVCache(gpt.config.n_layer)
    gpt(ids[:, :-1], cache=cache)
    keys, values = list(cache.keys), list(cache.values)

    def reset_kv() -> None:  # back to T - 1 cached (``update`` builds new arrays)
        cache.keys, cache.values = list(keys), list(values)

    seconds, peak, logits = timed(
        lambda: gpt(ids[:, -1:], cache=cache)[0].data[:, -1], reset_kv, repeats
    )
    if cache.length != t:
        raise RuntimeError(f"the KV cache holds {cache.length} positions, not {t}")
    record["cached"] = dict(
        seconds=seconds,
        peak=peak,
        state=kv_cache_bytes(cache),
        max_abs_diff=float(np.abs(logits - full).max()),
    )

    # Mamba-2: the first T - 1 tokens through the chunked form, then one recurrent step;
    # checked against its own full forward over the T tokens.
    reference = mamba2(ids).data[:, -1]
    state = mamba2.new_cache()
    mamba2(ids[:, :-1], state)
    conv, ssm, length = list(state.conv_states), list(state.ssm_states), state.length

    def reset_mamba2() -> None:  # back to the state after T - 1 tokens
        state.conv_states, state.ssm_states, state.length = list(conv), list(ssm), length

    seconds, peak, logits = timed(
        lambda: mamba2(ids[:, -1:], state).data[:, -1], reset_mamba2, repeats
    )
    conv_bytes, ssm_bytes = mamba2_state_bytes(state)
    record["mamba2"] = dict(
        seconds=seconds,
        peak=peak,
        state=conv_bytes + ssm_bytes,
        conv_state=conv_bytes,
        ssm_state=ssm_bytes,
        max_abs_diff=float(np.abs(logits - reference).max()),
    )
    return record


def cost_figure(metrics: dict, path: Path) -> Path:
    """Left: milliseconds per token against T (log-log). Right: bytes carried between tokens
    (solid) and the step's tracemalloc peak (dashed) against T (log-log)."""
    fig = Figure(figsize=(10.0, 4.0), layout="constrained")
    left, right = fig.subplots(1, 2)
    lengths = metrics["context_lengths"]
    for mode, color in zip(MODES, ("tab:red", "tab:blue", "tab:green"), strict=True):
        left.plot(lengths, metrics[f"{mode}_ms_per_token"], "o-", color=color, label=LABELS[mode])
        right.plot(lengths, metrics[f"{mode}_state_bytes"], "o-", color=color, label=LABELS[mode])
        right.plot(lengths, metrics[f"{mode}_peak_bytes"], "--", color=color, alpha=0.6)
    for ax in (left, right):
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("context length T (tokens)")
        ax.grid(True, which="both", alpha=0.3)
    left.set_ylabel("ms to produce the next token (median)")
    left.set_title("time per token")
    left.legend(fontsize=8)
    right.set_ylabel("bytes")
    right.set_title("carried between tokens (solid); step's peak (dashed)")
    return save_figure(fig, path)


def main(argv: list[str] | None = None) -> dict:
    parser = experiment_parser(__doc__, default_out=Path(__file__).parent / "results")
    args = parser.parse_args(argv)
    config = SMOKE if args.smoke else Config()
    start = time.perf_counter()
    rng = seed_everything(args.seed)
    gpt, mamba2 = build_models(config, rng)
    ids = rng.integers(0, config.vocab_size, (1, max(config.lengths)))

    records = [
        measure(gpt, mamba2, ids[:, :length], config.repeats)
        for length in progress(config.lengths, desc="generation cost")
    ]
    itemsize = gpt.wte.weight.data.itemsize  # float32: 4 bytes
    c, m = gpt.config, mamba2.config
    metrics = {
        "gpt_parameters": gpt.num_parameters(),
        "mamba2_parameters": int(sum(p.data.size for p in mamba2.parameters())),
        "context_lengths": list(config.lengths),
        **{
            f"{mode}_{key}": [r[mode][name] * scale for r in records]
            for mode in MODES
            for key, name, scale in (
                ("ms_per_token", "seconds", 1e3),
                ("state_bytes", "state", 1),
                ("peak_bytes", "peak", 1),
            )
        },
        "cached_max_abs_diff": [r["cached"]["max_abs_diff"] for r in records],
        "mamba2_max_abs_diff": [r["mamba2"]["max_abs_diff"] for r in records],
        "mamba2_conv_state_bytes": [r["mamba2"]["conv_state"] for r in records],
        "mamba2_ssm_state_bytes": [r["mamba2"]["ssm_state"] for r in records],
        # The closed forms the measured bytes are checked against (in the test).
        "kv_cache_formula_bytes": [2 * c.n_layer * t * c.n_embd * itemsize for t in config.lengths],
        "mamba2_formula_bytes": m.num_hidden_layers
        * ((m.conv_kernel - 1) * m.conv_dim + m.num_heads * m.head_dim * m.state_size)
        * itemsize,
        "itemsize_bytes": itemsize,
    }
    ms = {mode: metrics[f"{mode}_ms_per_token"][-1] for mode in MODES}  # at the longest T
    metrics["uncached_over_cached_at_longest"] = ms["uncached"] / ms["cached"]
    metrics["cached_over_mamba2_at_longest"] = ms["cached"] / ms["mamba2"]
    wall_time = time.perf_counter() - start

    out = Path(args.out)
    figure = cost_figure(metrics, out / "generation_cost.png")
    write_results(
        out,
        experiment="generation_cost",
        package="scratchseq",
        seed=args.seed,
        config=asdict(config)
        | {"smoke": args.smoke, "openblas_threads": os.environ.get("OPENBLAS_NUM_THREADS")},
        metrics=metrics,
        wall_time_s=wall_time,
        figures=[figure.name],
    )
    print({k: v for k, v in metrics.items() if not isinstance(v, list)})
    return metrics


if __name__ == "__main__":
    main()
