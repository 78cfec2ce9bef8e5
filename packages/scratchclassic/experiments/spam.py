"""Spam filtering with classical models, each matched against its scikit-learn twin.

Notes: ``packages/scratchclassic/notes/08-information-and-wordle.md`` (the spam section).

Two real datasets, loaded from ``$SCRATCHMIND_DATA`` by ``scratchclassic.datasets`` (this
experiment has no offline default: without the files it stops with an error naming the exact
paths to place them at):

- UCI SMS Spam Collection (5,574 text messages): bag-of-words counts (``CountVectorizer``, the
  vocabulary from the training messages only, tokens in at least ``sms_min_df`` of them);
  multinomial naive Bayes, L2 logistic regression, a decision tree.
- UCI Spambase (4,601 e-mails x 57 numeric features): Gaussian naive Bayes, L2 logistic
  regression (on standardised features, the scaling fitted on the training rows), a decision
  tree, a random forest, AdaBoost (SAMME, stumps).

Forest and AdaBoost run on Spambase only, and the tree depths are capped, to keep the full run
within its few-minute budget on a shared CPU (the from-scratch trees scan every feature in
NumPy). Every hyperparameter is fixed up front (below), identical for both libraries, and the
test split is stratified (same spam fraction as the whole set) and used once; nothing is tuned.
Reported per model: test accuracy, F1 of the spam class, fit time — ours and scikit-learn's.

    uv run python packages/scratchclassic/experiments/spam.py [--smoke] [--seed N] [--out DIR]

Writes ``results/spam.json`` and ``results/spam_accuracy.png``.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from scratchclassic.datasets import sms_spam, spambase
from scratchclassic.ensemble import AdaBoostClassifier, RandomForestClassifier
from scratchclassic.linear_model import LogisticRegression
from scratchclassic.metrics import accuracy_score
from scratchclassic.naive_bayes import GaussianNB
from scratchclassic.naive_bayes_text import MultinomialNB
from scratchclassic.text import CountVectorizer
from scratchclassic.tree import DecisionTreeClassifier
from scratchcore.train import experiment_parser, save_figure, write_results

# How a re-run must match the committed results (``uv run python -m checks.reproduce``).
REPRODUCE = {
    "tolerances": [
        ("*.fit_time_s_*", None, "wall-clock seconds: they measure the machine and its load"),
        ("*", 0, "seeded split and fixed seeds for both libraries: the same fits every run"),
    ],
    "data": {"spam": ["sms-spam/SMSSpamCollection", "spambase/spambase.data"]},
}


@dataclass
class Config:
    test_fraction: float = 0.25
    sms_min_df: int = 20  # about 440 tokens: keeps Newton's (d x d) Hessian small
    logistic_C: float = 1.0
    tree_max_depth: int = 10
    forest_n_estimators: int = 50
    adaboost_n_estimators: int = 100


SMOKE = Config(sms_min_df=2, forest_n_estimators=5, adaboost_n_estimators=5, tree_max_depth=3)


def stratified_split(y: np.ndarray, test_fraction: float, rng: np.random.Generator):
    """Train and test row indices with each class split in the same proportion."""
    test = []
    for label in np.unique(y):  # a loop over the two classes, on purpose
        rows = rng.permutation(np.flatnonzero(y == label))
        test.append(rows[: round(test_fraction * len(rows))])
    test = np.sort(np.concatenate(test))
    return np.setdiff1d(np.arange(len(y)), test), test


def f1_spam(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """F1 of the positive (spam = 1) class: the harmonic mean of precision and recall."""
    true_pos = np.sum((y_pred == 1) & (y_true == 1))
    predicted, actual = np.sum(y_pred == 1), np.sum(y_true == 1)
    return float(2 * true_pos / (predicted + actual)) if predicted + actual else 0.0


def model_pairs(dataset: str, config: Config, seed: int) -> dict:
    """``{name: (ours, scikit-learn's)}`` with the same configuration on both sides."""
    from sklearn import ensemble, linear_model, naive_bayes, tree

    pairs = {
        "naive_bayes": (MultinomialNB(), naive_bayes.MultinomialNB())
        if dataset == "sms"
        else (GaussianNB(), naive_bayes.GaussianNB()),
        "logistic_regression": (
            LogisticRegression(C=config.logistic_C),
            linear_model.LogisticRegression(C=config.logistic_C, max_iter=10_000),
        ),
        "decision_tree": (
            DecisionTreeClassifier(max_depth=config.tree_max_depth, random_state=seed),
            tree.DecisionTreeClassifier(max_depth=config.tree_max_depth, random_state=seed),
        ),
    }
    if dataset == "spambase":
        pairs["random_forest"] = (
            RandomForestClassifier(n_estimators=config.forest_n_estimators, random_state=seed),
            ensemble.RandomForestClassifier(
                n_estimators=config.forest_n_estimators, random_state=seed
            ),
        )
        pairs["adaboost"] = (
            AdaBoostClassifier(
                n_estimators=config.adaboost_n_estimators, max_depth=1, random_state=seed
            ),
            ensemble.AdaBoostClassifier(
                tree.DecisionTreeClassifier(max_depth=1),
                n_estimators=config.adaboost_n_estimators,
                random_state=seed,
            ),
        )
    return pairs


def load(dataset: str, config: Config, rng: np.random.Generator):
    """Train/test features and labels (1 = spam), features built from the training rows only."""
    if dataset == "sms":
        messages, y = sms_spam()
        train, test = stratified_split(y, config.test_fraction, rng)
        vectorizer = CountVectorizer(min_df=config.sms_min_df)
        X_train = vectorizer.fit_transform([messages[i] for i in train]).astype(np.float64)
        X_test = vectorizer.transform([messages[i] for i in test]).astype(np.float64)
        return X_train, y[train], X_test, y[test], len(vectorizer.vocabulary_)
    X, y = spambase()
    train, test = stratified_split(y, config.test_fraction, rng)
    return X[train], y[train], X[test], y[test], X.shape[1]


def main(argv: list[str] | None = None) -> dict:
    parser = experiment_parser(__doc__, default_out=Path(__file__).parent / "results")
    args = parser.parse_args(argv)
    config = SMOKE if args.smoke else Config()
    start = time.perf_counter()
    rng = np.random.default_rng(args.seed)

    results = {}
    for dataset in ("sms", "spambase"):  # a loop over datasets and models, on purpose
        X_train, y_train, X_test, y_test, n_features = load(dataset, config, rng)
        # Standardised copies for logistic regression on Spambase (raw counts for SMS).
        mean, scale = X_train.mean(axis=0), X_train.std(axis=0)
        scale[scale == 0] = 1.0
        rows = {}
        for name, (ours, theirs) in model_pairs(dataset, config, args.seed).items():
            scaled = name == "logistic_regression" and dataset == "spambase"
            Xtr = (X_train - mean) / scale if scaled else X_train
            Xte = (X_test - mean) / scale if scaled else X_test
            row = {}
            for side, model in (("ours", ours), ("sklearn", theirs)):
                tic = time.perf_counter()
                model.fit(Xtr, y_train)
                row[f"fit_time_s_{side}"] = time.perf_counter() - tic
                predicted = np.asarray(model.predict(Xte))
                row[f"test_accuracy_{side}"] = accuracy_score(y_test, predicted)
                row[f"test_f1_spam_{side}"] = f1_spam(y_test, predicted)
            row["accuracy_difference"] = row["test_accuracy_ours"] - row["test_accuracy_sklearn"]
            rows[name] = row
            print(dataset, name, {k: round(v, 4) for k, v in row.items()}, flush=True)
        results[dataset] = {
            "n_train": len(y_train),
            "n_test": len(y_test),
            "n_features": n_features,
            "spam_fraction_test": float(np.mean(y_test)),
            "models": rows,
        }

    metrics = {
        "datasets": results,
        "max_abs_accuracy_difference": max(
            abs(row["accuracy_difference"])
            for d in results.values()
            for row in d["models"].values()
        ),
    }
    out = Path(args.out)
    fig = Figure(figsize=(8.0, 4.0), layout="constrained")
    for k, (dataset, result) in enumerate(results.items()):
        ax = fig.add_subplot(1, 2, k + 1)
        names = list(result["models"])
        x = np.arange(len(names))
        for shift, side in ((-0.2, "ours"), (0.2, "sklearn")):
            values = [result["models"][n][f"test_accuracy_{side}"] for n in names]
            ax.bar(x + shift, values, width=0.4, label=side)
        ax.set_xticks(x, [n.replace("_", "\n") for n in names], fontsize=7)
        low = min(
            r[f"test_accuracy_{s}"] for r in result["models"].values() for s in ("ours", "sklearn")
        )
        ax.set_ylim(max(0.0, low - 0.05), 1.0)
        ax.set_title(f"{dataset}: test accuracy", fontsize=10)
        ax.grid(True, axis="y", alpha=0.3)
        ax.legend(fontsize=8)
    figure = save_figure(fig, out / "spam_accuracy.png")
    write_results(
        out,
        experiment="spam",
        package="scratchclassic",
        seed=args.seed,
        config=asdict(config) | {"smoke": args.smoke},
        metrics=metrics,
        wall_time_s=time.perf_counter() - start,
        figures=[figure.name],
    )
    return metrics


if __name__ == "__main__":
    main()
