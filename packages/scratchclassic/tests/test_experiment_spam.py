"""Smoke run of experiments/spam.py on tiny files written in the SMS Spam Collection and Spambase
formats, and its clear error when the data is absent."""

import json
from pathlib import Path

import numpy as np
import pytest

from scratchcore.data.datasets import DatasetNotFoundError
from scratchcore.testing import load_experiment

SCRIPT = Path(__file__).resolve().parents[1] / "experiments" / "spam.py"
SPAM_WORDS = "free win prize call now claim cash txt urgent offer".split()
HAM_WORDS = "ok see you later home lunch love sorry going tomorrow".split()


def write_tiny_data(home: Path) -> None:
    rng = np.random.default_rng(0)
    lines = []
    for k in range(90):
        spam = k % 3 == 0
        vocabulary = SPAM_WORDS if spam else HAM_WORDS
        words = rng.choice(vocabulary + HAM_WORDS[:2], size=rng.integers(4, 9))
        lines.append(("spam" if spam else "ham") + "\t" + " ".join(words).capitalize())
    (home / "sms-spam").mkdir(parents=True)
    (home / "sms-spam" / "SMSSpamCollection").write_text("\n".join(lines) + "\n")
    y = (np.arange(120) % 3 == 0).astype(int)
    X = rng.exponential(0.3, size=(120, 57)) + 0.8 * y[:, None] * (np.arange(57) < 10)
    rows = [",".join(f"{v:.3f}" for v in x) + f",{label}" for x, label in zip(X, y, strict=True)]
    (home / "spambase").mkdir()
    (home / "spambase" / "spambase.data").write_bytes(("\r\n".join(rows) + "\r\n").encode())


def test_spam_smoke(tmp_path, monkeypatch):
    write_tiny_data(tmp_path / "data")
    monkeypatch.setenv("SCRATCHMIND_DATA", str(tmp_path / "data"))
    metrics = load_experiment(SCRIPT).main(["--smoke", "--out", str(tmp_path / "out")])
    record = json.loads((tmp_path / "out" / "spam.json").read_text())
    assert record["experiment"] == "spam" and record["config"]["smoke"] is True
    assert (tmp_path / "out" / record["figures"][0]).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    sms, base = metrics["datasets"]["sms"], metrics["datasets"]["spambase"]
    assert set(sms["models"]) == {"naive_bayes", "logistic_regression", "decision_tree"}
    assert set(base["models"]) == set(sms["models"]) | {"random_forest", "adaboost"}
    assert sms["n_train"] + sms["n_test"] == 90 and base["n_train"] + base["n_test"] == 120
    # Stratified: the test split keeps the 1-in-3 spam fraction.
    assert sms["spam_fraction_test"] == pytest.approx(1 / 3, abs=0.02)
    # The tiny SMS classes use disjoint words: naive Bayes on counts separates them exactly.
    assert sms["models"]["naive_bayes"]["test_accuracy_ours"] == 1.0
    for row in [*sms["models"].values(), *base["models"].values()]:
        assert 0.5 < row["test_accuracy_ours"] <= 1.0


def test_spam_without_data_names_the_paths(tmp_path, monkeypatch):
    monkeypatch.setenv("SCRATCHMIND_DATA", str(tmp_path))
    import scratchclassic.datasets as datasets

    # No network in tests: make the download fail at once, as it does offline.
    def offline(url, destination):
        raise OSError("offline")

    monkeypatch.setattr(datasets, "download_url", offline)
    with pytest.raises(DatasetNotFoundError, match=r"sms-spam/SMSSpamCollection"):
        load_experiment(SCRIPT).main(["--smoke", "--out", str(tmp_path / "out")])
