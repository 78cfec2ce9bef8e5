"""The fine-tuning tasks: labels from real structure, splits that never share a module, spans
that spell the answer, determinism, and the SMS Spam loader on a file in the official format."""

import keyword

import numpy as np
import pytest

from scratchseq.bert.docstrings import module_side, stdlib_docstrings
from scratchseq.bert.masking import IGNORE_INDEX
from scratchseq.bert.tasks import (
    TAGS,
    align_first_subtoken,
    docstring_package_task,
    docstring_qa_task,
    python_token_task,
    read_sms_spam,
    sms_spam_task,
    tag_python_line,
)
from scratchseq.bert.tokenizer import BertTokenizer


@pytest.fixture(scope="module")
def tokenizer():
    texts = [d.text for d in stdlib_docstrings() if module_side(d.module) == "train"][:300]
    return BertTokenizer.train("\n\n".join(texts) + "\nself._x = (1, 'a')", 400)


def disjoint(task):
    train, val = set(task.train.groups), set(task.validation.groups)
    return not (train & val)


def test_package_task_labels_and_split(tokenizer):
    task = docstring_package_task(tokenizer, per_class_train=20, per_class_validation=5, seed=0)
    assert disjoint(task)
    assert all(module_side(m) == "train" for m in task.train.groups)
    assert all(module_side(m) == "validation" for m in task.validation.groups)
    # the label is the package the module belongs to
    for split in (task.train, task.validation):
        for module, label in zip(split.groups, split.labels, strict=True):
            assert module.split(".")[0] == task.label_names[label]
    assert len(task.label_names) >= 5 and max(task.info["train_class_counts"]) == 20
    assert (task.train.input_ids[:, 0] == tokenizer.cls_id).all()
    again = docstring_package_task(tokenizer, per_class_train=20, per_class_validation=5, seed=0)
    assert np.array_equal(again.train.input_ids, task.train.input_ids)


def test_tag_python_line():
    spans = tag_python_line("if x: return foo(1, 'a')  # done")
    line = "if x: return foo(1, 'a')  # done"
    got = [(line[s:e], tag) for s, e, tag in spans]
    assert got == [
        ("if", "KEYWORD"),
        ("x", "NAME"),
        (":", "OP"),
        ("return", "KEYWORD"),
        ("foo", "NAME"),
        ("(", "OP"),
        ("1", "NUMBER"),
        (",", "OP"),
        ("'a'", "STRING"),
        (")", "OP"),
        ("# done", "COMMENT"),
    ]
    assert tag_python_line('"""an unterminated docstring') is None
    assert tag_python_line("x = $y") is None


def test_first_subtoken_alignment(tokenizer):
    line = "self._x = (1, 'a')"
    ids = tokenizer.tokenize(line)
    tags, shadowed = align_first_subtoken(ids, tag_python_line(line), tokenizer)
    pieces = [tokenizer.bpe.vocab[i].decode() for i in ids]
    starts = np.cumsum([0] + [len(p) for p in pieces])[:-1]
    python_starts = {s: tag for s, _, tag in tag_python_line(line)}
    for k, tag in enumerate(tags):
        inside = [s for s in python_starts if starts[k] <= s < starts[k] + len(pieces[k])]
        if tag == IGNORE_INDEX:
            assert not inside  # an unlabelled BPE token starts no Python token
        else:
            assert TAGS[tag] == python_starts[min(inside)]  # the first Python token in it
            shadowed -= len(inside) - 1
    assert shadowed == 0


def test_token_task(tokenizer):
    task = python_token_task(tokenizer, max_train=60, max_validation=20, seed=1)
    assert disjoint(task) and len(task.train) == 60 and len(task.validation) == 20
    labels, mask = task.train.labels, task.train.attention_mask
    assert (labels[mask == 0] == IGNORE_INDEX).all()
    assert (labels[:, 0] == IGNORE_INDEX).all()  # [CLS]
    scored = labels != IGNORE_INDEX
    assert set(np.unique(labels[scored])) <= set(range(len(TAGS)))
    # a KEYWORD tag only ever sits on the first piece of a keyword
    for row, ids in zip(labels, task.train.input_ids, strict=True):
        for tag, i in zip(row, ids, strict=True):
            if tag == TAGS.index("KEYWORD"):
                piece = tokenizer.bpe.vocab[i].decode().strip()
                assert piece and any(k.startswith(piece) for k in keyword.kwlist), piece


def test_qa_task_spans_spell_the_answer(tokenizer):
    task = docstring_qa_task(tokenizer, k=3, max_train=40, max_validation=30, seed=2)
    assert disjoint(task)
    for split in (task.train, task.validation):
        for ids, types, (s, e), raw in zip(
            split.input_ids, split.token_type_ids, split.labels, split.raw, strict=True
        ):
            assert tokenizer.decode(ids[s : e + 1]).strip() == raw["sentences"][raw["answer"]]
            assert raw["context_start"] <= s <= e <= raw["context_end"]
            assert (types[raw["context_start"] : raw["context_end"] + 1] == 1).all()
            assert tokenizer.decode(ids[1 : raw["context_start"] - 1]) == raw["question"]
            assert len(set(raw["sentences"])) == 3
    answers = np.array([r["answer"] for r in task.train.raw + task.validation.raw])
    assert set(answers) == {0, 1, 2}  # the answer is not always first


SMS = "ham\tOk lar... Joking wif u oni...\nspam\tFree entry in 2 a wkly comp\nham\tsee you \xe9\n"


def test_sms_spam_loader_reads_the_official_format(tmp_path):
    path = tmp_path / "SMSSpamCollection"
    path.write_bytes(SMS.encode("utf-8")[:-3] + b"\xff\n")  # one bad byte: replaced, not fatal
    messages, labels = read_sms_spam(path)
    assert messages[:2] == ["Ok lar... Joking wif u oni...", "Free entry in 2 a wkly comp"]
    assert messages[2].endswith("\ufffd") and labels.tolist() == [0, 1, 0]
    path.write_text("ham\tfine\nnot a label line\n", encoding="utf-8")
    with pytest.raises(ValueError, match="line 2"):
        read_sms_spam(path)


def test_sms_spam_task_keeps_duplicates_on_one_side(tmp_path, tokenizer):
    rng = np.random.default_rng(0)
    lines = [f"{'spam' if i % 5 == 0 else 'ham'}\tmessage number {i % 40}" for i in range(200)]
    rng.shuffle(lines)
    path = tmp_path / "SMSSpamCollection"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    task = sms_spam_task(tokenizer, path, seed=0)
    assert disjoint(task) and len(task.train) + len(task.validation) == 200
    assert set(task.train.raw).isdisjoint(task.validation.raw)
    assert task.label_names == ("ham", "spam")
