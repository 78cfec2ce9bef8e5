"""Pre-training and fine-tuning pieces: the masked-positions-only loss equals the full head's,
the baselines and SQuAD metrics on cases worked by hand, label subsets, and that fine-tuning
learns a task it can learn."""

import numpy as np
import pytest

from scratchseq.bert import BertConfig, BertForMaskedLM, BertForSequenceClassification
from scratchseq.bert.baselines import (
    BagOfWordsLogisticRegression,
    exact_match,
    lexical_overlap_sentence,
    majority_class,
    most_frequent_tag,
    token_f1,
)
from scratchseq.bert.finetune import (
    FinetuneConfig,
    ambiguous_positions,
    evaluate,
    finetune,
    label_subset,
)
from scratchseq.bert.masking import IGNORE_INDEX
from scratchseq.bert.pretraining import masked_batch, mlm_loss, mlm_rows
from scratchseq.bert.tasks import Task, TaskSplit
from scratchseq.bert.tokenizer import BertTokenizer

TEXT = "the cat sat on the mat. a dog ate the bone. " * 30


@pytest.fixture(scope="module")
def tokenizer():
    return BertTokenizer.train(TEXT, 290)


def test_masked_positions_loss_equals_the_full_head_loss(tokenizer):
    config = BertConfig(
        vocab_size=tokenizer.vocab_size,
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=32,
        pad_token_id=tokenizer.pad_id,
    )
    model = BertForMaskedLM(config, np.float64, rng=np.random.default_rng(0))
    model.eval()
    rows = mlm_rows(tokenizer, [TEXT[:120], TEXT[:40], "dog"], max_length=16, min_tokens=1)
    assert (rows.input_ids[:, 0] == tokenizer.cls_id).all()
    ids, mask, labels = masked_batch(
        tokenizer, rows, np.arange(len(rows.input_ids)), np.random.default_rng(1), 0.5
    )
    ours, predicted = mlm_loss(model, ids, mask, labels)
    full = model(ids, mask, labels=labels)
    assert np.isclose(ours.item(), full.loss.item(), rtol=1e-12)
    chosen = labels != IGNORE_INDEX
    assert np.array_equal(predicted, full.logits.data[chosen].argmax(axis=-1))
    # rows are cut into pieces of at most max_length - 2 tokens, none lost
    n = tokenizer.tokenize(TEXT[:120]).size
    assert rows.attention_mask[: -(-n // 14)].sum() == n + 2 * -(-n // 14)


def test_baselines_on_hand_cases():
    assert majority_class(np.array([2, 0, 2, 1]), 3) == 2
    table = most_frequent_tag(
        np.array([[5, 6, 5, 7]]), np.array([[1, 0, 1, IGNORE_INDEX]]), vocab_size=9
    )
    assert table[5] == 1 and table[6] == 0 and table[7] == 1 and table[0] == 1
    texts = ["red apple fruit", "green apple fruit", "blue sky cloud", "grey sky cloud"] * 5
    labels = np.array([0, 0, 1, 1] * 5)
    model = BagOfWordsLogisticRegression().fit(texts, labels)
    assert model.predict(["apple pie fruit", "cloud in the sky"]).tolist() == [0, 1]
    assert lexical_overlap_sentence("get_content_type", ["Set it.", "Get the content type."]) == 1
    assert lexical_overlap_sentence("zzz", ["A.", "B."]) == 0  # ties go first


def test_ambiguous_positions_are_ids_with_several_or_no_training_tags():
    def split(ids, labels):
        ids, labels = np.array(ids), np.array(labels)
        return TaskSplit(ids, ids * 0, ids * 0 + 1, labels, [None] * len(ids), ["m"] * len(ids))

    train = split([[5, 6, 5, 7]], [[0, 1, 1, 2]])  # id 5: two tags; 6 and 7: one each
    val = split([[5, 6, 7, 8, 5]], [[0, 1, 2, 0, IGNORE_INDEX]])  # 8: never seen in training
    task = Task("toy", "token", ("a", "b", "c"), train, val, {})
    assert ambiguous_positions(task, 10).tolist() == [[True, False, False, True, False]]


def test_squad_metrics():
    assert exact_match("The cat sat.", "cat sat") == 1.0
    assert exact_match("cat", "cat sat") == 0.0
    # precision 1/1, recall 1/2 -> F1 2/3
    assert np.isclose(token_f1("cat", "the cat sat"), 2 / 3)
    assert token_f1("dog", "cat") == 0.0 and token_f1("", "") == 1.0


def test_label_subset():
    rng = np.random.default_rng(0)
    assert label_subset(1000, 0.01, rng).size == 10
    assert label_subset(100, 0.01, rng).size == 4  # the minimum
    index = label_subset(50, 1.0, rng)
    assert np.array_equal(index, np.arange(50))
    with pytest.raises(ValueError, match="fraction"):
        label_subset(10, 0.0, rng)


def test_finetuning_learns_a_learnable_task(tokenizer):
    """Is the first word "cat" or "dog"? A tiny BERT must get it right after a few steps."""
    rng = np.random.default_rng(0)
    words = rng.integers(0, 2, size=64)
    texts = [("cat " if w == 0 else "dog ") + "sat on the mat" for w in words]
    enc = tokenizer(texts, max_length=12)
    split = TaskSplit(enc.input_ids, enc.token_type_ids, enc.attention_mask, words, texts, texts)
    task = Task("toy", "sequence", ("cat", "dog"), split, split, {})
    config = BertConfig(
        vocab_size=tokenizer.vocab_size,
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=16,
        pad_token_id=tokenizer.pad_id,
        hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0,
        num_labels=2,
    )
    model = BertForSequenceClassification(config, rng=np.random.default_rng(1))
    losses = finetune(
        model,
        split,
        "sequence",
        FinetuneConfig(steps=150, batch_size=16, learning_rate=5e-3, warmup_steps=10),
        np.random.default_rng(2),
    )
    assert np.mean(losses[-10:]) < 0.1 * np.mean(losses[:5])
    assert evaluate(model, task, tokenizer)["accuracy"] == 1.0
