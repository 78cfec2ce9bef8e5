"""The shape of a BERT: a frozen dataclass with ``transformers``' ``BertConfig`` field names, read
from and written to a ``config.json``.

Notes: ``packages/scratchseq/notes/14-bert.md``; also ``08-transformer.md`` (the post-norm
encoder BERT is) and ``05-attention.md`` (padding masks).

The defaults are BERT-base's (Devlin et al., 2019, and ``transformers``' defaults): 12 layers of
width 768 with 12 heads, a 3072-wide feed-forward layer, 512 learned positions, two segments
(sentence A and B), WordPiece vocabulary 30522, exact (erf) GELU, LayerNorm epsilon 1e-12.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

__all__ = ["BERT_ACTIVATIONS", "BertConfig"]

# hidden_act -> the ``approximate`` argument of scratchcore's F.gelu. transformers' "gelu" is
# the exact erf form (BERT's original); "gelu_new" (GPT-2's name) and "gelu_pytorch_tanh" are the
# same tanh approximation, computed two ways.
BERT_ACTIVATIONS = {"gelu": "none", "gelu_new": "tanh", "gelu_pytorch_tanh": "tanh"}
PROBLEM_TYPES = ("regression", "single_label_classification", "multi_label_classification")


@dataclasses.dataclass(frozen=True)
class BertConfig:
    """A BERT's sizes and settings, named as ``transformers``' ``BertConfig``.

    ``num_labels`` sizes the classification heads (``id2label``, when given, must have exactly
    that many entries, keyed 0..num_labels-1; ``from_dict`` takes ``num_labels`` from it).
    ``classifier_dropout`` ``None`` means ``hidden_dropout_prob``. ``problem_type`` ``None``
    lets ``BertForSequenceClassification`` choose from the labels, as ``transformers`` does.
    ``tie_word_embeddings`` makes the masked-LM decoder read the word embeddings. Checked on
    construction; a bad value raises a ``ValueError`` starting ``"BertConfig: "``.
    """

    vocab_size: int = 30522
    hidden_size: int = 768
    num_hidden_layers: int = 12
    num_attention_heads: int = 12
    intermediate_size: int = 3072
    hidden_act: str = "gelu"
    hidden_dropout_prob: float = 0.1
    attention_probs_dropout_prob: float = 0.1
    max_position_embeddings: int = 512
    type_vocab_size: int = 2
    initializer_range: float = 0.02
    layer_norm_eps: float = 1e-12
    pad_token_id: int | None = 0
    num_labels: int = 2
    id2label: dict[int, str] | None = None
    classifier_dropout: float | None = None
    problem_type: str | None = None
    tie_word_embeddings: bool = True

    def __post_init__(self) -> None:
        op = "BertConfig"
        for name in (
            "vocab_size",
            "hidden_size",
            "num_hidden_layers",
            "num_attention_heads",
            "intermediate_size",
            "max_position_embeddings",
            "type_vocab_size",
            "num_labels",
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
                raise ValueError(f"{op}: {name} must be a positive integer; got {value!r}")
        if self.hidden_size % self.num_attention_heads:
            raise ValueError(
                f"{op}: hidden_size {self.hidden_size} is not divisible by num_attention_heads "
                f"{self.num_attention_heads}"
            )
        if self.hidden_act not in BERT_ACTIVATIONS:
            raise ValueError(
                f"{op}: hidden_act must be one of {sorted(BERT_ACTIVATIONS)}; got "
                f"{self.hidden_act!r}"
            )
        for name in ("hidden_dropout_prob", "attention_probs_dropout_prob", "classifier_dropout"):
            value = getattr(self, name)
            if value is None and name == "classifier_dropout":
                continue
            if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
                raise ValueError(f"{op}: {name} must be a probability in [0, 1]; got {value!r}")
        for name in ("initializer_range", "layer_norm_eps"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
                raise ValueError(f"{op}: {name} must be a positive number; got {value!r}")
        pad = self.pad_token_id
        if pad is not None and (
            isinstance(pad, bool) or not isinstance(pad, int | np.integer) or not 0 <= pad
        ):
            raise ValueError(f"{op}: pad_token_id must be None or a token id; got {pad!r}")
        if pad is not None and pad >= self.vocab_size:
            raise ValueError(f"{op}: pad_token_id {pad} is not below vocab_size {self.vocab_size}")
        if self.id2label is not None:
            if not isinstance(self.id2label, dict) or sorted(self.id2label) != list(
                range(self.num_labels)
            ):
                raise ValueError(
                    f"{op}: id2label must map 0..{self.num_labels - 1} (num_labels) to names; "
                    f"got {self.id2label!r}"
                )
        if self.problem_type is not None and self.problem_type not in PROBLEM_TYPES:
            raise ValueError(
                f"{op}: problem_type must be None or one of {PROBLEM_TYPES}; got "
                f"{self.problem_type!r}"
            )

    @property
    def head_dim(self) -> int:
        """The width of one attention head: ``hidden_size // num_attention_heads``."""
        return self.hidden_size // self.num_attention_heads

    @property
    def resolved_classifier_dropout(self) -> float:
        """``classifier_dropout``, or ``hidden_dropout_prob`` when it is ``None``."""
        if self.classifier_dropout is None:
            return self.hidden_dropout_prob
        return self.classifier_dropout

    @classmethod
    def from_dict(cls, config: dict[str, Any]) -> BertConfig:
        """Read a ``transformers`` ``config.json`` (as a dict). Unknown keys are ignored, but
        ``model_type`` must be ``"bert"`` and ``architectures``, when present, must name BERT
        models; a decoder BERT (``is_decoder``, ``add_cross_attention``) or a relative
        ``position_embedding_type`` (transformers 4 only) is refused rather than read wrongly.

        ``id2label`` keys are strings in JSON; they are read back as integers, and
        ``num_labels`` is their count, as ``transformers`` derives it.
        """
        op = "BertConfig"
        if not isinstance(config, dict):
            raise ValueError(f"{op}: from_dict needs a dict; got {type(config).__name__}")
        model_type = config.get("model_type")
        if model_type != "bert":
            raise ValueError(f"{op}: model_type must be 'bert'; got {model_type!r}")
        architectures = config.get("architectures") or []
        wrong = [a for a in architectures if not str(a).startswith("Bert")]
        if wrong:
            raise ValueError(f"{op}: architectures must be BERT models; got {architectures!r}")
        for flag in ("is_decoder", "add_cross_attention"):
            if config.get(flag):
                raise ValueError(f"{op}: {flag} is set; only the BERT encoder is built here")
        position = config.get("position_embedding_type", "absolute")
        if position != "absolute":
            raise ValueError(
                f"{op}: position_embedding_type must be 'absolute' (learned); got {position!r}"
            )
        fields = {f.name for f in dataclasses.fields(cls)}
        kwargs = {k: v for k, v in config.items() if k in fields}
        if kwargs.get("id2label") is not None:
            try:
                kwargs["id2label"] = {int(k): v for k, v in kwargs["id2label"].items()}
            except (AttributeError, TypeError, ValueError):
                raise ValueError(
                    f"{op}: id2label must map integer ids to names; got {kwargs['id2label']!r}"
                ) from None
            kwargs["num_labels"] = len(kwargs["id2label"])
        return cls(**kwargs)

    def to_dict(self, architecture: str, dtype: Any = np.float32) -> dict[str, Any]:
        """This config as a ``transformers`` ``config.json`` dict for ``architecture``
        (``"BertModel"``, ``"BertForMaskedLM"``, ...). ``id2label`` and ``label2id`` are always
        written (``LABEL_i`` names by default), as ``transformers`` writes them, so the head's
        size survives the round trip."""
        out = dataclasses.asdict(self)
        del out["num_labels"]  # transformers derives it from id2label (and rejects a mismatch)
        names = self.id2label or {i: f"LABEL_{i}" for i in range(self.num_labels)}
        out["id2label"] = {str(i): name for i, name in names.items()}
        out["label2id"] = {name: i for i, name in names.items()}
        out.update(
            architectures=[architecture],
            model_type="bert",
            position_embedding_type="absolute",  # transformers 4 reads it; 5 ignores it
            is_decoder=False,
            add_cross_attention=False,
            dtype=np.dtype(dtype).name,  # transformers 5's key
            torch_dtype=np.dtype(dtype).name,  # transformers 4's key for the same thing
        )
        return out
