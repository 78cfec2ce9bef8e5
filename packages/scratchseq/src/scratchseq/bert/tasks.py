"""Three fine-tuning tasks that run offline, with labels taken from real structure of the
installed standard library, plus the SMS Spam Collection when its file is present.

Notes: ``packages/scratchseq/notes/14-bert.md``.

Every task is split by *module* (``scratchseq.bert.docstrings.module_side``, the split that
pre-training uses too): no module contributes to both training and validation, and no validation
text was seen in pre-training. Every build function is deterministic: the corpus is read in a
fixed order and every sample is drawn from ``np.random.default_rng(seed)``.

**(a) Sequence classification — which package is this docstring from?** The label is the
top-level package of the file the docstring was read from (``email`` for
``email/mime/text.py``). Classes are the packages with at least ``MIN_PACKAGE_MODULES`` modules
and ``MIN_PACKAGE_DOCSTRINGS`` docstrings (so each has modules on both sides of the split); their
docstrings are sampled up to a per-class cap, other packages' are left out. The input is the
docstring, truncated.

**(b) Token classification — the lexical type of each token of a line of Python.** Lines of
standard-library source (code only: lines inside multi-line strings are skipped; ASCII, 20-80
characters, each line tokenized *alone* by :mod:`tokenize`, lines that do not tokenize alone are
skipped). Labels come from ``tokenize``: NAME (split into KEYWORD when ``keyword.iskeyword``),
OP, NUMBER, STRING, COMMENT. Alignment to BPE tokens is *first-subtoken*: a BPE token gets the
label of the first Python token that starts inside it; the other BPE tokens of a Python token
(and pure whitespace) get -100 and are not scored. When two Python tokens start in one BPE token
(``"._"`` in ``self._x``: BPE groups ``_`` with punctuation) the second is not scored either;
``Task.info`` counts them.

**(c) Extractive QA — which of these summaries belongs to this function?** The context is the
one-line summaries (the docstring's first line) of ``k`` functions of one module, in random
order; the question is one of their names (``get_content_type``); the answer is that
function's summary, a span of the context. The summaries come from the same file, so they share
vocabulary and style, and the answer position is uniform over the ``k`` slots, so the
first-sentence baseline scores ``1/k`` exact match in expectation; a reader must match a name to
a description (``get_content_type`` -> "Return the message's content type."). A lexical
baseline — the summary sharing the most words with the name split at ``_`` — shows how much of
that plain word matching explains.

**SMS Spam** (Almeida et al., 2011), when ``SMSSpamCollection`` is present: ``ham``/``spam``,
split by a hash of the message *text* (the collection holds duplicate messages; a text never sits
on both sides).
"""

from __future__ import annotations

import ast
import dataclasses
import hashlib
import io
import keyword
import tokenize
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from scratchseq.bert.docstrings import module_side, stdlib_docstrings, stdlib_modules
from scratchseq.bert.masking import IGNORE_INDEX
from scratchseq.bert.tokenizer import BertTokenizer

__all__ = [
    "MIN_PACKAGE_DOCSTRINGS",
    "MIN_PACKAGE_MODULES",
    "TAGS",
    "Task",
    "TaskSplit",
    "docstring_package_task",
    "docstring_qa_task",
    "python_token_task",
    "read_sms_spam",
    "sms_spam_task",
    "tag_python_line",
]

MIN_PACKAGE_MODULES = 10
MIN_PACKAGE_DOCSTRINGS = 150
TAGS = ("NAME", "KEYWORD", "OP", "NUMBER", "STRING", "COMMENT")


@dataclasses.dataclass
class TaskSplit:
    """One side of a task, encoded: ``input_ids``, ``token_type_ids``, ``attention_mask``
    (N, S); ``labels`` (N,) classes, (N, S) tags with -100 where unscored, or (N, 2) answer
    start and end token positions (inclusive); ``raw`` one record per example for the baselines
    and the metrics (text, tags, or the QA parts); ``groups`` each example's split key (its
    module, or a message's hash), which never occurs on both sides."""

    input_ids: np.ndarray
    token_type_ids: np.ndarray
    attention_mask: np.ndarray
    labels: np.ndarray
    raw: list[Any]
    groups: list[str]

    def __len__(self) -> int:
        return len(self.input_ids)

    def subset(self, index: np.ndarray) -> TaskSplit:
        return TaskSplit(
            self.input_ids[index],
            self.token_type_ids[index],
            self.attention_mask[index],
            self.labels[index],
            [self.raw[i] for i in index],
            [self.groups[i] for i in index],
        )


@dataclasses.dataclass
class Task:
    """``kind`` is ``"sequence"``, ``"token"`` or ``"qa"``; ``label_names`` the classes or tags
    (``("start", "end")`` for QA); ``info`` sizes and counts worth reporting."""

    name: str
    kind: str
    label_names: tuple[str, ...]
    train: TaskSplit
    validation: TaskSplit
    info: dict[str, Any]

    @property
    def num_labels(self) -> int:
        return len(self.label_names)


def _encode_rows(rows, tokenizer: BertTokenizer, max_length: int):
    enc = tokenizer.pad(rows, max_length)
    return enc.input_ids, enc.token_type_ids, enc.attention_mask


def _cap(n: int, limit: int | None, rng: np.random.Generator) -> np.ndarray:
    """``limit`` of ``range(n)`` drawn without replacement and sorted (all when ``None``)."""
    if limit is None or limit >= n:
        return np.arange(n)
    return np.sort(rng.choice(n, size=limit, replace=False))


# -- (a) docstring -> package ------------------------------------------------------------------


def _classification_split(texts, labels, groups, tokenizer, max_length) -> TaskSplit:
    rows = [tokenizer.encode_ids(tokenizer.tokenize(t), None, max_length) for t in texts]
    ids, types, mask = _encode_rows(rows, tokenizer, max_length)
    labels = np.asarray(labels, dtype=np.int64)
    return TaskSplit(ids, types, mask, labels, list(texts), list(groups))


def docstring_package_task(
    tokenizer: BertTokenizer,
    max_length: int = 64,
    per_class_train: int | None = 150,
    per_class_validation: int | None = 50,
    seed: int = 0,
) -> Task:
    """(a): docstring -> its top-level package (classes chosen by the rule in the module
    docstring). Each class keeps at most ``per_class_train`` / ``per_class_validation``
    docstrings per side (a seeded sample): one big file (``tkinter/__init__.py`` holds hundreds
    of docstrings) would otherwise decide the class balance of whichever side it hashed to."""
    docs = stdlib_docstrings()
    modules, counts = defaultdict(set), Counter()
    for d in docs:
        modules[d.package].add(d.module)
        counts[d.package] += 1
    classes = tuple(
        sorted(
            p
            for p in counts
            if len(modules[p]) >= MIN_PACKAGE_MODULES and counts[p] >= MIN_PACKAGE_DOCSTRINGS
        )
    )
    rng = np.random.default_rng(seed)
    sides = {}
    for side, limit in (("train", per_class_train), ("validation", per_class_validation)):
        texts, labels, groups = [], [], []
        for label, package in enumerate(classes):
            picked = [d for d in docs if d.package == package and module_side(d.module) == side]
            keep = _cap(len(picked), limit, rng)
            texts += [picked[i].text for i in keep]
            groups += [picked[i].module for i in keep]
            labels += [label] * len(keep)
        sides[side] = _classification_split(texts, labels, groups, tokenizer, max_length)
    info = {
        "classes": list(classes),
        "train_examples": len(sides["train"]),
        "validation_examples": len(sides["validation"]),
        "train_class_counts": np.bincount(sides["train"].labels, minlength=len(classes)).tolist(),
        "validation_class_counts": np.bincount(
            sides["validation"].labels, minlength=len(classes)
        ).tolist(),
    }
    return Task("docstring_package", "sequence", classes, sides["train"], sides["validation"], info)


# -- SMS Spam ----------------------------------------------------------------------------------


def read_sms_spam(path: str | Path) -> tuple[list[str], np.ndarray]:
    """Messages and (n,) int64 labels (1 = spam) of an ``SMSSpamCollection`` file: one
    ``label<TAB>text`` per line, label ``ham`` or ``spam``, UTF-8 (bad bytes -> U+FFFD). A line
    in another format raises a ``ValueError`` naming the file and line."""
    text = Path(path).read_bytes().decode("utf-8", errors="replace")
    messages, labels = [], []
    for number, line in enumerate(text.splitlines(), 1):
        label, tab, message = line.partition("\t")
        if not tab or label not in ("ham", "spam"):
            raise ValueError(
                f"read_sms_spam: {path} line {number}: expected 'ham' or 'spam', a TAB, then "
                f"the text; got {line[:60]!r}"
            )
        messages.append(message)
        labels.append(label == "spam")
    if not messages:
        raise ValueError(f"read_sms_spam: {path} holds no messages")
    return messages, np.array(labels, dtype=np.int64)


def sms_spam_task(
    tokenizer: BertTokenizer,
    path: str | Path,
    max_length: int = 64,
    max_train: int | None = None,
    max_validation: int | None = None,
    seed: int = 0,
) -> Task:
    """SMS Spam as sequence classification, split 80/20 by a SHA-256 of the message text."""
    messages, labels = read_sms_spam(path)
    keys = [hashlib.sha256(m.encode()).hexdigest() for m in messages]
    rng = np.random.default_rng(seed)
    sides = {}
    for side, limit in (("train", max_train), ("validation", max_validation)):
        # the first hash byte below 0.2 * 256: validation (a duplicate text has the same hash)
        keep = [i for i, k in enumerate(keys) if (int(k[:2], 16) < 51) == (side == "validation")]
        keep = [keep[i] for i in _cap(len(keep), limit, rng)]
        texts, groups = [messages[i] for i in keep], [keys[i] for i in keep]
        sides[side] = _classification_split(texts, labels[keep], groups, tokenizer, max_length)
    info = {"train_examples": len(sides["train"]), "validation_examples": len(sides["validation"])}
    return Task("sms_spam", "sequence", ("ham", "spam"), sides["train"], sides["validation"], info)


# -- (b) Python token types --------------------------------------------------------------------


def tag_python_line(line: str) -> list[tuple[int, int, str]] | None:
    """``(start, end, tag)`` character spans of the tagged tokens of one line of Python (tags
    in ``TAGS``), or ``None`` if the line does not tokenize on its own."""
    spans = []
    try:
        for tok in tokenize.generate_tokens(io.StringIO(line + "\n").readline):
            if tok.type == tokenize.ERRORTOKEN:
                return None
            name = tokenize.tok_name[tok.type]
            if name == "NAME" and keyword.iskeyword(tok.string):
                name = "KEYWORD"
            if name in TAGS:
                if tok.start[0] != 1 or tok.end[0] != 1:
                    return None
                spans.append((tok.start[1], tok.end[1], name))
    except (tokenize.TokenError, IndentationError, SyntaxError):
        return None
    return spans


def _code_lines(source: str) -> list[str]:
    """Lines of ``source`` outside multi-line string constants, stripped, ASCII, 20-80 chars."""
    inside = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Constant) and isinstance(node.value, str | bytes):
            if node.end_lineno and node.end_lineno > node.lineno:
                inside.update(range(node.lineno, node.end_lineno + 1))
    out = []
    for number, line in enumerate(source.splitlines(), 1):
        line = line.strip()
        if number not in inside and 20 <= len(line) <= 80 and line.isascii():
            out.append(line)
    return out


def align_first_subtoken(
    ids: np.ndarray, spans: list[tuple[int, int, str]], tokenizer: BertTokenizer
) -> tuple[np.ndarray, int]:
    """(T,) tag ids (``TAGS`` index, -100 = unscored) for BPE ``ids`` of an ASCII line, by the
    first-subtoken rule; also the number of Python tokens left unscored because another started
    in the same BPE token."""
    lengths = np.array([len(tokenizer.bpe.vocab[i]) for i in ids], dtype=np.int64)
    ends = np.cumsum(lengths)  # ASCII: bytes are characters
    tags = np.full(ids.size, IGNORE_INDEX, dtype=np.int64)
    shadowed = 0
    for start, _, tag in spans:
        k = int(np.searchsorted(ends, start, side="right"))  # the BPE token holding `start`
        if tags[k] == IGNORE_INDEX:
            tags[k] = TAGS.index(tag)
        else:
            shadowed += 1
    return tags, shadowed


def python_token_task(
    tokenizer: BertTokenizer,
    max_length: int = 48,
    max_train: int | None = 2000,
    max_validation: int | None = 400,
    seed: int = 0,
) -> Task:
    """(b): tag the tokens of lines of standard-library code with their ``tokenize`` type."""
    lines = {"train": [], "validation": []}
    seen = set()
    for module, _, _, source in stdlib_modules():
        side = module_side(module)
        for line in _code_lines(source):
            if line not in seen:  # a line repeated in two modules counts once, where seen first
                seen.add(line)
                lines[side].append((line, module))
    rng = np.random.default_rng(seed)
    sides, info = {}, {"tags": list(TAGS)}
    for side, limit in (("train", max_train), ("validation", max_validation)):
        rows, raw, labels, groups, shadowed = [], [], [], [], 0
        for i in rng.permutation(len(lines[side])):
            if limit is not None and len(rows) >= limit:
                break
            line, module = lines[side][i]
            spans = tag_python_line(line)
            ids = tokenizer.tokenize(line)
            if not spans or ids.size > max_length - 2:
                continue
            tags, lost = align_first_subtoken(ids, spans, tokenizer)
            shadowed += lost
            rows.append(tokenizer.encode_ids(ids, None, max_length))
            row = np.full(max_length, IGNORE_INDEX, dtype=np.int64)
            row[1 : 1 + ids.size] = tags
            labels.append(row)
            raw.append(line)
            groups.append(module)
        ids, types, mask = _encode_rows(rows, tokenizer, max_length)
        sides[side] = TaskSplit(ids, types, mask, np.stack(labels), raw, groups)
        info[f"{side}_lines"] = len(rows)
        info[f"{side}_unscored_python_tokens"] = shadowed
        info[f"{side}_scored_tokens"] = int((sides[side].labels != IGNORE_INDEX).sum())
    return Task("python_tokens", "token", TAGS, sides["train"], sides["validation"], info)


# -- (c) name -> summary QA --------------------------------------------------------------------


def _summary(text: str) -> str | None:
    """A docstring's one-line first paragraph ending in '.', 4-20 words, or ``None``."""
    first = text.strip().split("\n\n", 1)[0].strip()
    if "\n" in first or not first.endswith(".") or not 4 <= len(first.split()) <= 20:
        return None
    return first if first.isascii() else None


def docstring_qa_task(
    tokenizer: BertTokenizer,
    k: int = 3,
    max_length: int = 96,
    max_train: int = 1500,
    max_validation: int = 300,
    seed: int = 0,
) -> Task:
    """(c): context = ``k`` function summaries of one module in random order; question = one
    function's name; answer = its summary's token span. ``raw`` records hold ``question``,
    ``sentences``, ``answer`` (index), ``context_start`` (token position of the context) and
    ``sentence_spans`` ((k, 2) inclusive token spans)."""
    by_module: dict[str, dict[str, str]] = defaultdict(dict)
    for d in stdlib_docstrings():
        summary = _summary(d.text)
        if d.kind == "function" and summary and not d.name.startswith("__"):
            if summary not in by_module[d.module].values():  # distinct answers in a context
                by_module[d.module].setdefault(d.name, summary)
    rng = np.random.default_rng(seed)
    sides = {}
    for side, n in (("train", max_train), ("validation", max_validation)):
        modules = sorted(m for m, f in by_module.items() if len(f) >= k and module_side(m) == side)
        if not modules:
            raise ValueError(f"docstring_qa_task: no {side} module has {k} usable summaries")
        weights = np.array([len(by_module[m]) for m in modules], dtype=np.float64)
        rows, raw, labels = [], [], []
        tries = 0
        while len(rows) < n and tries < 20 * n:
            tries += 1
            module = modules[rng.choice(len(modules), p=weights / weights.sum())]
            names = sorted(by_module[module])
            picked = [names[i] for i in rng.choice(len(names), size=k, replace=False)]
            answer = int(rng.integers(k))
            sentences = [by_module[module][name] for name in picked]
            pieces = [tokenizer.tokenize(s if j == 0 else " " + s) for j, s in enumerate(sentences)]
            question = tokenizer.tokenize(picked[answer])
            context = np.concatenate(pieces)
            if question.size + context.size + 3 > max_length:
                continue
            row = tokenizer.encode_ids(question, context, max_length)
            start0 = row[2]
            bounds = np.cumsum([0] + [p.size for p in pieces])
            spans = np.stack([start0 + bounds[:-1], start0 + bounds[1:] - 1], axis=1)
            rows.append(row)
            labels.append(spans[answer])
            raw.append(
                {
                    "module": module,
                    "question": picked[answer],
                    "sentences": sentences,
                    "answer": answer,
                    "context_start": int(start0),
                    "context_end": int(start0 + context.size - 1),
                    "sentence_spans": spans,
                }
            )
        ids, types, mask = _encode_rows(rows, tokenizer, max_length)
        groups = [r["module"] for r in raw]
        sides[side] = TaskSplit(ids, types, mask, np.stack(labels).astype(np.int64), raw, groups)
    info = {
        "k": k,
        "train_examples": len(sides["train"]),
        "validation_examples": len(sides["validation"]),
        "train_modules": len({r["module"] for r in sides["train"].raw}),
        "validation_modules": len({r["module"] for r in sides["validation"].raw}),
    }
    return Task("docstring_qa", "qa", ("start", "end"), sides["train"], sides["validation"], info)
