"""Fine-tuning a BERT head on a task of ``scratchseq.bert.tasks``, on a fraction of its training
labels, and scoring it beside the baselines.

Notes: ``packages/scratchseq/notes/14-bert.md``.

One recipe for every task, head and starting point (pre-trained encoder or random), so that
the comparison is about the starting point: ``steps`` AdamW updates on random minibatches of the
labelled subset, the learning rate warmed up linearly then cosine-decayed to 0, gradients
clipped. The number of steps does not depend on the label fraction — a run with 1% of the labels
sees each of its examples many times, as a practitioner with few labels would train to
convergence rather than for one epoch. Each batch is cut to its longest real sequence (padding
columns that no example uses cost compute and change nothing).

The metric per task: ``accuracy`` (sequence), ``token_accuracy`` over the scored positions
(token; also ``ambiguous_token_accuracy``, over the positions whose token id carries more than
one tag in the training set, or none — where a per-token lookup cannot simply be right),
``exact_match`` and ``token_f1`` of the decoded span (QA; the span is the best allowed
``start + end`` score inside the context, ``best_span``).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

import scratchcore.optim as optim
from scratchcore import no_grad
from scratchseq.bert.baselines import (
    BagOfWordsLogisticRegression,
    exact_match,
    lexical_overlap_sentence,
    majority_class,
    most_frequent_tag,
    token_f1,
)
from scratchseq.bert.heads import (
    BertForQuestionAnswering,
    BertForSequenceClassification,
    BertForTokenClassification,
)
from scratchseq.bert.masking import IGNORE_INDEX
from scratchseq.bert.span import best_span
from scratchseq.bert.tasks import Task, TaskSplit
from scratchseq.bert.tokenizer import BertTokenizer

__all__ = [
    "HEAD_FOR_KIND",
    "FinetuneConfig",
    "ambiguous_positions",
    "baseline_metrics",
    "evaluate",
    "finetune",
    "label_subset",
    "predict",
]

HEAD_FOR_KIND = {
    "sequence": BertForSequenceClassification,
    "token": BertForTokenClassification,
    "qa": BertForQuestionAnswering,
}


@dataclasses.dataclass
class FinetuneConfig:
    steps: int = 150
    batch_size: int = 16
    learning_rate: float = 5e-4
    warmup_steps: int = 15
    weight_decay: float = 0.01
    grad_clip: float = 1.0
    max_answer_length: int = 32


def label_subset(n: int, fraction: float, rng: np.random.Generator, minimum: int = 4) -> np.ndarray:
    """Sorted indices of ``max(minimum, round(fraction * n))`` training examples (at most ``n``),
    drawn without replacement: the labels a run may use."""
    if not 0 < fraction <= 1:
        raise ValueError(f"label_subset: fraction must lie in (0, 1]; got {fraction}")
    size = min(n, max(minimum, round(fraction * n)))
    return np.sort(rng.choice(n, size=size, replace=False))


def _trimmed(split: TaskSplit, index: np.ndarray, kind: str) -> tuple[Any, ...]:
    """Rows ``index`` cut to their longest real sequence: (ids, types, mask, labels)."""
    width = int(split.attention_mask[index].sum(axis=1).max())
    labels = split.labels[index]
    if kind == "token":
        labels = labels[:, :width]
    return (
        split.input_ids[index, :width],
        split.token_type_ids[index, :width],
        split.attention_mask[index, :width],
        labels,
    )


def _loss(model: Any, batch: tuple[Any, ...], kind: str):
    ids, types, mask, labels = batch
    if kind == "qa":
        return model(
            ids, mask, types, start_positions=labels[:, 0], end_positions=labels[:, 1]
        ).loss
    return model(ids, mask, types, labels=labels).loss


def finetune(
    model: Any, split: TaskSplit, kind: str, config: FinetuneConfig, rng: np.random.Generator
) -> list[float]:
    """Train ``model`` in place on ``split`` (already the labelled subset); returns the losses."""
    optimizer = optim.AdamW(
        model.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay
    )
    schedule = optim.lr_scheduler.WarmupCosineLR(
        optimizer, warmup_steps=config.warmup_steps, total_steps=config.steps
    )
    model.train()
    losses = []
    for _ in range(config.steps):
        index = rng.choice(len(split), size=min(config.batch_size, len(split)), replace=False)
        loss = _loss(model, _trimmed(split, np.sort(index), kind), kind)
        optimizer.zero_grad()
        loss.backward()
        optim.clip_grad_norm_(model.parameters(), config.grad_clip)
        optimizer.step()
        schedule.step()
        losses.append(loss.item())
    model.eval()
    return losses


def predict(
    model: Any, split: TaskSplit, kind: str, batch_size: int = 64, max_answer_length: int = 32
) -> Any:
    """Predictions in eval mode: classes (N,), tags (N, S) (-100 beyond each batch's width) or
    inclusive spans (N, 2)."""
    model.eval()
    out = []
    with no_grad():
        for begin in range(0, len(split), batch_size):
            index = np.arange(begin, min(begin + batch_size, len(split)))
            ids, types, mask, _ = _trimmed(split, index, kind)
            if kind == "qa":
                o = model(ids, mask, types)
                context = np.zeros(ids.shape, dtype=bool)
                for row, i in enumerate(index):
                    raw = split.raw[i]
                    context[row, raw["context_start"] : raw["context_end"] + 1] = True
                starts, ends, _ = best_span(
                    o.start_logits, o.end_logits, max_answer_length, context
                )
                out.append(np.stack([starts, ends], axis=1))
            else:
                pred = model(ids, mask, types).logits.data.argmax(axis=-1)
                if kind == "token":
                    full = np.full((len(index), split.labels.shape[1]), IGNORE_INDEX)
                    full[:, : pred.shape[1]] = pred
                    pred = full
                out.append(pred)
    return np.concatenate(out)


def _qa_scores(predicted: list[str], split: TaskSplit) -> dict[str, float]:
    answers = [r["sentences"][r["answer"]] for r in split.raw]
    return {
        "exact_match": float(
            np.mean([exact_match(p, a) for p, a in zip(predicted, answers, strict=True)])
        ),
        "token_f1": float(
            np.mean([token_f1(p, a) for p, a in zip(predicted, answers, strict=True)])
        ),
    }


def ambiguous_positions(task: Task, vocab_size: int) -> np.ndarray:
    """(N, S) bools over the token task's validation set: scored positions whose token id had
    more than one tag in the (whole) training set, or none. Elsewhere the most frequent tag is
    right by construction as often as the tag of a token id never varies; here the context has
    to decide."""
    train, val = task.train, task.validation
    scored = train.labels != IGNORE_INDEX
    seen = np.zeros((vocab_size, task.num_labels), dtype=bool)
    seen[train.input_ids[scored], train.labels[scored]] = True
    tags_per_id = seen.sum(axis=1)
    return (val.labels != IGNORE_INDEX) & (tags_per_id[val.input_ids] != 1)


def _token_scores(pred: np.ndarray, task: Task, vocab_size: int) -> dict[str, float]:
    labels = task.validation.labels
    scored = labels != IGNORE_INDEX
    hard = ambiguous_positions(task, vocab_size)
    scores = {"token_accuracy": float((pred[scored] == labels[scored]).mean())}
    if hard.any():  # the same positions for every run of a task: the keys never differ
        scores["ambiguous_token_accuracy"] = float((pred[hard] == labels[hard]).mean())
    return scores


def evaluate(model: Any, task: Task, tokenizer: BertTokenizer, max_answer_length: int = 32):
    """The task's validation metrics for ``model`` (see the module docstring)."""
    split = task.validation
    pred = predict(model, split, task.kind, max_answer_length=max_answer_length)
    if task.kind == "sequence":
        return {"accuracy": float((pred == split.labels).mean())}
    if task.kind == "token":
        return _token_scores(pred, task, tokenizer.vocab_size)
    texts = [tokenizer.decode(split.input_ids[i, s : e + 1]) for i, (s, e) in enumerate(pred)]
    return _qa_scores(texts, split)


def baseline_metrics(task: Task, tokenizer: BertTokenizer, index: np.ndarray | None = None):
    """``{baseline name: metrics}`` for ``task``, fitted on the training examples ``index``
    (all when ``None``): the same labels the fine-tuned model may use."""
    train = task.train if index is None else task.train.subset(index)
    val = task.validation
    if task.kind == "sequence":
        majority = majority_class(train.labels, task.num_labels)
        bow = BagOfWordsLogisticRegression().fit(train.raw, train.labels)
        return {
            "majority_class": {"accuracy": float((val.labels == majority).mean())},
            "bag_of_words_logistic_regression": {
                "accuracy": float((bow.predict(val.raw) == val.labels).mean())
            },
        }
    if task.kind == "token":
        table = most_frequent_tag(train.input_ids, train.labels, tokenizer.vocab_size)
        pred = np.where(val.labels != IGNORE_INDEX, table[val.input_ids], IGNORE_INDEX)
        return {"most_frequent_tag": _token_scores(pred, task, tokenizer.vocab_size)}
    first = [r["sentences"][0] for r in val.raw]
    overlap = [
        r["sentences"][lexical_overlap_sentence(r["question"], r["sentences"])] for r in val.raw
    ]
    return {"first_sentence": _qa_scores(first, val), "lexical_overlap": _qa_scores(overlap, val)}
