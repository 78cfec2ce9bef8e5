"""How fast SmolLM2-135M-Instruct runs on our engine, against transformers' LlamaForCausalLM on the
same float32 weights: prompt tokens per second (prefill), generated tokens per second (decode
with the KV cache), and peak memory.

Notes: ``packages/scratchseq/notes/13-a-pretrained-model.md`` (the model),
``07-sampling.md`` (prefill and decode, the KV cache).

**Same work on both sides.** Both engines get the weights our GGUF reader expands from the
Q4_1 file, in float32: the parent process writes them once with ``save_pretrained``
(safetensors) into a temporary directory, and each engine loads that directory with its own
``from_pretrained``, so the numbers are equal, not merely close. Both run the same loop,
greedy: one forward pass over the prompt into an empty cache (*prefill*; it also gives the
first new token), then one forward pass per token with the cache (*decode*). ``transformers``
runs with ``attn_implementation="sdpa"`` (PyTorch's fused attention) and its ``DynamicCache``;
neither side calls a ``generate`` method, so no logits processors or stopping checks are timed
on one side only. Each prompt is timed once after an untimed warm-up prompt; the medians over
the prompts are reported. The greedy tokens of the two engines are compared too (float32
rounding differs between the libraries' kernels, so a near-tie may flip and the continuations
part ways from there).

**Threads.** At the machine's full thread count (the cores this process may use, or
``--threads N``), and at one thread as a second column: scratchcore's own pool
(``scratchcore.set_num_threads``, which keeps BLAS at one thread per call) and torch's
(``torch.set_num_threads``).

**Memory, and what it measures.** Each engine runs in a child process of its own, so that its
memory is its own and the other library's idle threads do not spin on its cores. The child
reports the peak resident set size (``VmHWM`` in ``/proc/self/status``) *during generation*:
the high-water mark is reset (``echo 5 > /proc/self/clear_refs``) after the model is loaded
and the memory loading freed is handed back to the system (glibc's ``malloc_trim``), so
loading does not count. That peak includes everything resident: the interpreter and imported
libraries (for PyTorch alone a few hundred MB), the weights (~540 MB in float32 for 135M
parameters), activations and the cache. ``rss_after_imports_mb`` is the resident size once the
engine's libraries are imported (before the model), ``rss_before_generation_mb`` the size at
the reset, and ``generation_extra_rss_mb`` the difference: what generation added (for
``transformers``, whose ``from_pretrained`` maps the safetensors file, this includes the weight
pages read for the first time). Where
``clear_refs`` cannot be written (not Linux), the peak is ``ru_maxrss`` over the whole child's
life, loading included, and the record says so.

    uv run python packages/scratchseq/experiments/smollm2_speed.py [--smoke] [--threads N]

The measurements are at the full thread count (keys under ``full_threads``) and at one thread
(``one_thread``). ``--smoke`` uses a tiny random Llama (no GGUF file needed). Writes
``results/smollm2_speed.json`` and ``results/smollm2_speed.png``. On a shared or small machine
the timings are noisy (and threads that wait for busy cores lose most): read the ratios, and
run it when the machine is otherwise idle.
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from scratchcore.train import experiment_parser, progress, save_figure, write_results

# How a re-run must match the committed results (``uv run python -m checks.reproduce``).
REPRODUCE = {
    "tolerances": [
        ("*_tokens_per_s", None, "tokens per second: they measure the machine and its load"),
        ("*_speed_ratio", None, "a ratio of two timings: it measures the machine too"),
        ("*_s", None, "wall-clock seconds: they measure the machine and its load"),
        ("*_mb", None, "resident memory: it depends on the libraries' versions and allocators"),
        ("*_rss_ratio", None, "a ratio of two memory measurements, as above"),
        ("greedy_*", None, "float32 rounding differs between the two libraries' kernels"),
        ("*", 0, "the same model, prompts and sizes every run"),
    ],
}

ENGINES = ("scratchseq", "pytorch")


@dataclass
class Config:
    prompts: int = 3
    prompt_tokens: int = 64
    new_tokens: int = 64  # the first comes from the prefill, the other new_tokens - 1 from decode
    settle_s: float = 3.0  # pause between the two children (see benchmarks/step_time.py: settle)
    model: str = "SmolLM2-135M-Instruct (Q4_1 GGUF, float32)"


SMOKE = Config(prompts=2, prompt_tokens=8, new_tokens=4, settle_s=0.0, model="tiny random Llama")

# The smoke run's model: small, random, with a context limit like a real one.
TINY = {
    "vocab_size": 97,
    "hidden_size": 32,
    "intermediate_size": 64,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "tie_word_embeddings": True,
    "max_position_embeddings": 128,
}


# ---------------------------------------------------------------------------------------------
# The child process: one engine.


def _rss_mb(key: str) -> float | None:
    """``VmRSS`` / ``VmHWM`` of this process in MB, or ``None`` where /proc is absent."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith(key + ":"):
                    return int(line.split()[1]) / 1024  # the line reads "VmRSS:  123456 kB"
    except OSError:
        pass
    return None


def _reset_peak_rss() -> bool:
    """Start the peak-RSS count afresh (Linux >= 4.0); ``False`` if this system cannot."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def _release_freed_memory() -> None:
    """Hand memory that loading freed back to the system, so the resident size counts what is
    live: glibc keeps freed blocks in its heap (glibc only; elsewhere nothing happens)."""
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def _scratchseq_engine(spec: dict[str, Any]) -> tuple[Any, Any, float | None]:
    """(prefill, step, resident MB after the imports) for our engine: ``prefill(ids (1, T))``
    -> (logits (V,), cache), ``step(token, cache)`` -> logits (V,)."""
    import scratchcore
    from scratchcore import no_grad
    from scratchseq.llama import LlamaForCausalLM

    libraries = _rss_mb("VmRSS")
    scratchcore.set_num_threads(spec["threads"])
    model = LlamaForCausalLM.from_pretrained(spec["checkpoint"], np.float32)

    def prefill(ids: np.ndarray) -> tuple[np.ndarray, Any]:
        cache = model.new_cache()
        with no_grad():
            return model(ids, cache).data[0, -1], cache

    def step(token: int, cache: Any) -> np.ndarray:
        with no_grad():
            return model(np.array([[token]]), cache).data[0, -1]

    return prefill, step, libraries


def _pytorch_engine(spec: dict[str, Any]) -> tuple[Any, Any, float | None]:
    """The same for transformers' LlamaForCausalLM (fused sdpa attention, DynamicCache)."""
    import torch
    import transformers

    libraries = _rss_mb("VmRSS")
    torch.set_num_threads(spec["threads"])
    model = transformers.LlamaForCausalLM.from_pretrained(
        spec["checkpoint"], dtype=torch.float32, attn_implementation="sdpa"
    ).eval()

    def prefill(ids: np.ndarray) -> tuple[np.ndarray, Any]:
        with torch.inference_mode():
            out = model(input_ids=torch.from_numpy(ids), use_cache=True)
        return out.logits[0, -1].numpy(), out.past_key_values

    def step(token: int, cache: Any) -> np.ndarray:
        with torch.inference_mode():
            out = model(input_ids=torch.tensor([[token]]), past_key_values=cache, use_cache=True)
        return out.logits[0, -1].numpy()

    return prefill, step, libraries


def _generate(prefill: Any, step: Any, prompt: np.ndarray, new_tokens: int):
    """Greedy: (prefill seconds, decode seconds, the new_tokens tokens)."""
    start = time.perf_counter()
    logits, cache = prefill(prompt[None])
    prefill_s = time.perf_counter() - start
    tokens = [int(np.argmax(logits))]
    start = time.perf_counter()
    for _ in range(new_tokens - 1):
        tokens.append(int(np.argmax(step(tokens[-1], cache))))
    return prefill_s, time.perf_counter() - start, tokens


def run_worker(spec: dict[str, Any]) -> dict[str, Any]:
    """Build one engine, time every prompt, and measure memory (in this process)."""
    start = time.perf_counter()
    build = _scratchseq_engine if spec["engine"] == "scratchseq" else _pytorch_engine
    prefill, step, rss_libraries = build(spec)
    load_s = time.perf_counter() - start
    gc.collect()
    _release_freed_memory()
    rss_before = _rss_mb("VmRSS")
    reset = _reset_peak_rss()
    prompts = [np.array(p, dtype=np.int64) for p in spec["prompts"]]
    _generate(prefill, step, prompts[0], min(spec["new_tokens"], 4))  # warm-up, untimed
    prefill_s, decode_s, tokens = [], [], []
    for prompt in prompts:
        p, d, t = _generate(prefill, step, prompt, spec["new_tokens"])
        prefill_s.append(p)
        decode_s.append(d)
        tokens.append(t)
    if reset and (peak := _rss_mb("VmHWM")) is not None:
        measured = "VmHWM during generation (reset after loading)"
    else:  # ru_maxrss is in kB on Linux, bytes on macOS
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        peak = peak / 1024 if sys.platform == "darwin" else peak
        measured = "ru_maxrss over the whole process, loading included"
    return {
        "load_s": load_s,
        "prefill_s": prefill_s,
        "decode_s": decode_s,
        "tokens": tokens,
        "rss_after_imports_mb": rss_libraries,
        "rss_before_generation_mb": rss_before,
        "peak_rss_mb": peak,
        "peak_rss_measures": measured,
        "threads": spec["threads"],
    }


# ---------------------------------------------------------------------------------------------
# The parent: prompts, one child per engine, the record.


def full_thread_count() -> int:
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def write_checkpoint(directory: Path, smoke: bool) -> int:
    """Write the model both engines load (``save_pretrained``: config.json, model.safetensors)
    into ``directory``: SmolLM2's float32 weights from the GGUF file, or in smoke mode the tiny
    random Llama. Returns its parameter count."""
    from scratchseq.llama import LlamaConfig, LlamaForCausalLM
    from scratchseq.pretrained import load_gguf_llama, smollm2_gguf_path

    if smoke:
        model = LlamaForCausalLM(LlamaConfig(**TINY), np.float32, rng=np.random.default_rng(0))
    else:
        model = load_gguf_llama(smollm2_gguf_path(), np.float32)
    model.save_pretrained(directory)
    return sum(p.data.size for p in model.parameters())  # the tied matrix once


def make_prompts(config: Config, smoke: bool, seed: int) -> list[list[int]]:
    """``config.prompts`` prompts of exactly ``config.prompt_tokens`` ids (in smoke mode,
    random ids for the tiny model)."""
    if smoke:
        rng = np.random.default_rng(seed)
        ids = rng.integers(0, TINY["vocab_size"], (config.prompts, config.prompt_tokens))
        return ids.tolist()
    from scratchcore.data.datasets import python_docs_corpus
    from scratchseq.pretrained import GGUFTokenizer, smollm2_gguf_path

    tokenizer = GGUFTokenizer.from_gguf(smollm2_gguf_path())
    text = python_docs_corpus().validation
    # Prompts from evenly spaced places in held-out English prose, cut to the exact length.
    span = 8 * config.prompt_tokens  # characters: English runs ~4 a token, so twice enough
    starts = np.linspace(0, len(text) - span, config.prompts).astype(int)
    prompts = []
    for start in starts:
        ids = tokenizer.encode(text[start : start + span])
        prompts.append(ids[: config.prompt_tokens].tolist())
    assert all(len(p) == config.prompt_tokens for p in prompts)
    return prompts


def run_child(spec: dict[str, Any]) -> dict[str, Any]:
    """Run ``run_worker(spec)`` in a fresh Python process; its record comes back as JSON."""
    command = [sys.executable, str(Path(__file__).resolve()), "--worker", json.dumps(spec)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(
            f"smollm2_speed: the {spec['engine']} child failed ({done.returncode}):\n"
            f"{done.stderr[-3000:]}"
        )
    return json.loads(done.stdout.strip().splitlines()[-1])


def summarise(config: Config, runs: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Per-engine medians, ratios and the greedy-token comparison."""
    metrics: dict[str, Any] = {}
    for engine, run in runs.items():
        prefill = [config.prompt_tokens / s for s in run["prefill_s"]]
        decode = [(config.new_tokens - 1) / s for s in run["decode_s"]]
        metrics |= {
            f"{engine}_prefill_tokens_per_s": statistics.median(prefill),
            f"{engine}_decode_tokens_per_s": statistics.median(decode),
            f"{engine}_decode_ms_per_token": 1e3 / statistics.median(decode),
            f"{engine}_load_s": run["load_s"],
            f"{engine}_peak_rss_mb": run["peak_rss_mb"],
            f"{engine}_rss_after_imports_mb": run["rss_after_imports_mb"],
            f"{engine}_rss_before_generation_mb": run["rss_before_generation_mb"],
        }
        if run["rss_before_generation_mb"] is not None:
            extra = run["peak_rss_mb"] - run["rss_before_generation_mb"]
            metrics[f"{engine}_generation_extra_rss_mb"] = extra
        metrics[f"{engine}_peak_rss_measures"] = run["peak_rss_measures"]
    ours, theirs = runs["scratchseq"], runs["pytorch"]
    metrics["prefill_speed_ratio"] = (
        metrics["pytorch_prefill_tokens_per_s"] / metrics["scratchseq_prefill_tokens_per_s"]
    )
    metrics["decode_speed_ratio"] = (
        metrics["pytorch_decode_tokens_per_s"] / metrics["scratchseq_decode_tokens_per_s"]
    )
    metrics["peak_rss_ratio"] = ours["peak_rss_mb"] / theirs["peak_rss_mb"]
    agree = []
    for a, b in zip(ours["tokens"], theirs["tokens"], strict=True):
        differ = [i for i, (x, y) in enumerate(zip(a, b, strict=True)) if x != y]
        agree.append(differ[0] if differ else len(a))
    metrics["greedy_tokens_agreeing_per_prompt"] = agree  # leading tokens the engines share
    metrics["greedy_tokens_identical"] = all(n == config.new_tokens for n in agree)
    return metrics


def plot_speeds(metrics: dict[str, Any], labels: list[str], path: Path) -> Path:
    """Bars: tokens per second of each engine, prefill and decode, at each thread count."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7.0, 4.0))
    axes = fig.subplots(1, 2)
    width = 0.38
    for ax, phase in zip(axes, ("prefill", "decode"), strict=True):
        x = np.arange(len(labels))
        for k, engine in enumerate(ENGINES):
            speeds = [metrics[label][f"{engine}_{phase}_tokens_per_s"] for label in labels]
            ax.bar(x + (k - 0.5) * width, speeds, width, label=engine)
        counts = [metrics["threads"] if label == "full_threads" else 1 for label in labels]
        ax.set_xticks(x, [f"{n} thread{'s' * (n > 1)}" for n in counts])
        ax.set_title(f"{phase} (tokens/s)")
        ax.grid(axis="y", alpha=0.3)
    fig.legend(*axes[0].get_legend_handles_labels(), loc="lower center", ncols=len(ENGINES))
    fig.suptitle("SmolLM2-135M, float32, greedy: scratchseq vs transformers")
    fig.tight_layout(rect=(0, 0.07, 1, 1))  # leave the bottom strip to the legend
    return save_figure(fig, path)


def main(argv: list[str] | None = None) -> dict:
    parser = experiment_parser(__doc__, default_out=Path(__file__).parent / "results")
    parser.add_argument(
        "--threads", type=int, default=None, help="the full thread count (default: every core)"
    )
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)  # the child's spec
    args = parser.parse_args(argv)
    if args.worker is not None:
        print(json.dumps(run_worker(json.loads(args.worker))))
        return {}
    if args.threads is not None and args.threads < 1:
        parser.error(f"--threads must be >= 1; got {args.threads}")
    config = SMOKE if args.smoke else Config()
    threads = args.threads or full_thread_count()
    counts = {"full_threads": threads, "one_thread": 1} if threads > 1 else {"one_thread": 1}
    start = time.perf_counter()
    prompts = make_prompts(config, args.smoke, args.seed)
    metrics: dict[str, Any] = {"prompts": len(prompts), "threads": threads}
    with tempfile.TemporaryDirectory(prefix="smollm2_speed_") as checkpoint:
        metrics["parameters"] = write_checkpoint(Path(checkpoint), args.smoke)
        jobs = [(label, n, engine) for label, n in counts.items() for engine in ENGINES]
        runs: dict[str, dict[str, Any]] = {label: {} for label in counts}
        for label, n, engine in progress(jobs, desc="engines"):
            time.sleep(config.settle_s)  # let the previous child's threads and memory go
            spec = {
                "engine": engine,
                "checkpoint": checkpoint,
                "prompts": prompts,
                "new_tokens": config.new_tokens,
                "threads": n,
            }
            runs[label][engine] = run_child(spec)
    for label in counts:
        metrics[label] = summarise(config, runs[label])
    figure = plot_speeds(metrics, list(counts), Path(args.out) / "smollm2_speed.png")
    write_results(
        args.out,
        experiment="smollm2_speed",
        package="scratchseq",
        seed=args.seed,
        config=asdict(config) | {"smoke": args.smoke, "threads": threads},
        metrics=metrics,
        wall_time_s=time.perf_counter() - start,
        figures=[figure.name],
    )
    print(json.dumps({k: v for k, v in metrics.items() if not isinstance(v, str)}, indent=1))
    return metrics


if __name__ == "__main__":
    main()
