"""Smoke run of experiments/bert_pretraining.py: the masked-LM loss falls over a few steps on a
tiny corpus, and the saved checkpoint reads back to the very model that was scored."""

import json
import math
from pathlib import Path

import numpy as np

from scratchcore.testing import load_experiment
from scratchseq.bert import BertForMaskedLM
from scratchseq.bert.pretraining import masked_batch, mlm_rows
from scratchseq.bert.tokenizer import BertTokenizer

SCRIPT = Path(__file__).resolve().parents[1] / "experiments" / "bert_pretraining.py"


def test_bert_pretraining_smoke(tmp_path):
    experiment = load_experiment(SCRIPT)
    metrics = experiment.main(["--smoke", "--out", str(tmp_path)])
    record = json.loads((tmp_path / "bert_pretraining.json").read_text())
    assert record["experiment"] == "bert_pretraining" and record["config"]["smoke"] is True
    assert (tmp_path / "bert_pretraining.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    curve = metrics["curve"]
    assert curve["step"] == [20, 40]
    # learning: validation loss below its value at initialisation, training loss falling
    assert metrics["val_mlm_loss_nats"] < metrics["val_mlm_loss_nats_initial"] - 0.5
    assert curve["train_mlm_loss_nats"][-1] < curve["train_mlm_loss_nats"][0]
    # an untrained model is near uniform over the vocabulary: ln(300) nats
    assert abs(metrics["val_mlm_loss_nats_initial"] - math.log(300)) < 0.3

    # The checkpoint reads back to the scored model: its validation loss, recomputed from the
    # files on the same fixed corruption, is the recorded one.
    checkpoint = tmp_path / "checkpoints" / "bert_pretraining"
    model = BertForMaskedLM.from_pretrained(checkpoint)
    tokenizer = BertTokenizer.load(checkpoint / "tokenizer.json")
    config = experiment.SMOKE
    _, val_texts = experiment.corpus_texts(config)
    rows = mlm_rows(tokenizer, val_texts, config.max_length)
    n = metrics["validation_rows_scored"]
    batch = masked_batch(
        tokenizer, rows, np.arange(n), np.random.default_rng(experiment.VALIDATION_MASK_SEED)
    )
    loss, accuracy = experiment.mlm_validation(model, batch)
    assert math.isclose(loss, metrics["val_mlm_loss_nats"], rel_tol=1e-6)
    assert accuracy == metrics["val_masked_token_accuracy"]
