"""Smoke runs of experiments/wordle_entropy.py: the default word list (first 200 words), and
``--official`` on tiny lists in the official files' format."""

import json
from pathlib import Path

from scratchclassic.wordle import EntropySolver
from scratchcore.testing import load_experiment

SCRIPT = Path(__file__).resolve().parents[1] / "experiments" / "wordle_entropy.py"


def test_wordle_entropy_smoke(tmp_path):
    metrics = load_experiment(SCRIPT).main(["--smoke", "--out", str(tmp_path)])
    record = json.loads((tmp_path / "wordle_entropy.json").read_text())
    assert record["experiment"] == "wordle_entropy" and record["config"]["smoke"] is True
    assert (tmp_path / record["figures"][0]).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    histogram = {int(k): v for k, v in record["metrics"]["guesses_histogram"].items()}
    assert sum(histogram.values()) == metrics["n_answers"] == 200
    mean = sum(k * v for k, v in histogram.items()) / 200
    assert abs(mean - metrics["mean_guesses"]) < 1e-12
    assert metrics["failures_over_6"] == sum(v for k, v in histogram.items() if k > 6)
    # log2(200) = 7.6 bits to find; the first guess alone must reveal a good share of them.
    assert 3.0 < metrics["first_guess_entropy_bits"] <= metrics["log2_n_answers_bits"]
    for answer, game in metrics["example_games"].items():
        assert game[-1] == answer


def test_wordle_entropy_official_smoke(tmp_path, monkeypatch):
    answers = ["cigar", "rebut", "sissy", "humph", "awake", "blush", "focal", "evade", "naval"]
    extra = ["aahed", "aalii", "aargh", "abaca", "zymic", "soare", "tares"]
    folder = tmp_path / "data" / "wordle"
    folder.mkdir(parents=True)
    (folder / "wordle-answers-alphabetical.txt").write_text("\n".join(sorted(answers)))
    (folder / "wordle-allowed-guesses.txt").write_text("\n".join(extra) + "\n")
    monkeypatch.setenv("SCRATCHMIND_DATA", str(tmp_path / "data"))
    out = tmp_path / "out"
    metrics = load_experiment(SCRIPT).main(["--smoke", "--official", "--out", str(out)])
    assert json.loads((out / "wordle_entropy_official.json").read_text())["config"]["official"]
    assert metrics["n_answers"] == 9 and metrics["n_allowed_guesses"] == 16
    expected = EntropySolver(answers + extra, answers).solve_all()
    assert metrics["mean_guesses"] == expected.mean()
