"""What every BERT model class shares: its config, BERT's weight initialisation, and checkpoint
I/O in ``transformers``' format (``config.json`` + ``model.safetensors``, names 1:1).

Notes: ``packages/scratchseq/notes/14-bert.md``; also ``08-transformer.md`` (the post-norm
encoder BERT is) and ``05-attention.md`` (padding masks).

**Names on disk.** ``transformers`` writes a bare ``BertModel`` without a prefix
(``embeddings.word_embeddings.weight``, ``pooler.dense.weight``) and every head with the trunk
under ``bert.`` (``bert.embeddings...``, then ``cls.predictions...``, ``classifier...`` or
``qa_outputs...``). Our classes nest the same way, so a checkpoint's names are our attribute
paths. Transformers 5 writes no buffers; checkpoints from older versions carry
``embeddings.position_ids`` (the table ``0 .. max_position_embeddings - 1``), which is dropped
on load: positions here are computed, not stored.

**Tied weights.** ``BertForMaskedLM``'s decoder reads the word embeddings
(``cls.predictions.decoder.weight`` *is* ``bert.embeddings.word_embeddings.weight``) and its bias
*is* ``cls.predictions.bias``: one Parameter under two names each. ``state_dict`` lists both names,
as PyTorch's does; ``save_pretrained`` stores each once, as ``transformers`` does, and loading
re-ties them (an old checkpoint that stores the copies too is accepted if they are equal).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from scratchcore import nn
from scratchcore.nn import init
from scratchcore.nn.module import check_float_dtype
from scratchseq.bert.config import BertConfig
from scratchseq.checkpoints import load_checked_state, read_safetensors

__all__ = ["BertPreTrainedModel", "load_bert_state_dict"]

# Buffers older transformers versions saved; ours are computed from the config.
_BUFFERS = ("embeddings.position_ids", "embeddings.token_type_ids")


class BertPreTrainedModel(nn.Module):
    """Base of ``BertModel`` and the heads: holds ``config`` and ``dtype``, initialises weights as
    BERT does, and reads and writes ``transformers`` checkpoints.

    A subclass sets ``architecture`` (its ``transformers`` class name, written into
    ``config.json``) and, if it shares parameters, overrides ``tied_weights``.
    """

    architecture = "BertPreTrainedModel"

    def __init__(self, config: BertConfig, dtype: Any = np.float32) -> None:
        super().__init__()
        name = type(self).__name__
        if not isinstance(config, BertConfig):
            raise ValueError(f"{name}: config must be a BertConfig; got {type(config).__name__}")
        self.config = config
        self.dtype = check_float_dtype(dtype, name)

    def tied_weights(self) -> dict[str, str]:
        """``{alias: source}``: state-dict names that are the same Parameter as another name
        (stored once on disk, under ``source``). None by default."""
        return {}

    def init_weights(self, rng: np.random.Generator, skip: tuple[nn.Module, ...] = ()) -> None:
        """BERT's initialisation (``transformers``' ``_init_weights``, from the original
        TensorFlow code): every Linear weight and embedding table N(0, initializer_range^2),
        biases 0, the padding row of an embedding 0, LayerNorm scale 1 and shift 0 — not
        PyTorch's fan-in uniform, which is tuned for ReLU networks without norms. A Parameter
        shared by two modules (a tied decoder) is initialised once, by the module seen first.
        The parameters of the ``skip`` modules are left as they are (a head skips its trunk,
        which initialised itself)."""
        std = self.config.initializer_range
        seen = {id(p) for module in skip for p in module.parameters()}

        def fresh(p: Any) -> bool:
            if p is None or id(p) in seen:
                return False
            seen.add(id(p))
            return True

        for module in self.modules():
            if isinstance(module, nn.Linear | nn.Embedding):
                if fresh(module.weight):
                    init.normal_(module.weight, 0.0, std, rng=rng)
                    if isinstance(module, nn.Embedding) and module.padding_idx is not None:
                        module.weight.data[module.padding_idx] = 0
                        module.weight._version += 1  # an in-place write into .data counts
                if isinstance(module, nn.Linear) and fresh(module.bias):
                    init.zeros_(module.bias)
            elif isinstance(module, nn.LayerNorm):
                if fresh(module.weight):
                    init.ones_(module.weight)
                if fresh(module.bias):
                    init.zeros_(module.bias)

    @classmethod
    def from_pretrained(
        cls, directory: str | Path, dtype: Any = np.float32, **kwargs: Any
    ) -> BertPreTrainedModel:
        """Build from a ``save_pretrained`` directory (``transformers``' or ours):
        ``config.json`` and ``model.safetensors`` (or a sharded ``model.safetensors.index.json``).
        The config is read by ``BertConfig.from_dict``, which rejects another architecture's
        ``config.json``; every tensor is then checked by ``load_bert_state_dict``. ``kwargs`` go to
        the constructor (``add_pooling_layer=False`` for a ``BertModel``)."""
        op = f"{cls.__name__}.from_pretrained"
        directory = Path(directory)
        path = directory / "config.json"
        if not path.exists():
            raise ValueError(f"{op}: no config.json in {directory}")
        with open(path, encoding="utf-8") as f:
            config = BertConfig.from_dict(json.load(f))
        model = cls(config, dtype, rng=np.random.default_rng(0), **kwargs)
        arrays = read_safetensors(directory, op)
        load_bert_state_dict(model, model.checkpoint_view(arrays))
        return model

    def checkpoint_view(self, arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """The checkpoint's tensors as this class names them (the identity here; a bare
        ``BertModel`` overrides it to read a head's checkpoint)."""
        return arrays

    def save_pretrained(self, directory: str | Path) -> None:
        """Write ``config.json`` and ``model.safetensors`` into ``directory`` (created if needed)
        as ``transformers``' ``save_pretrained`` does, so that both ``from_pretrained`` (ours and
        ``transformers``') read it back. Tied aliases are left out (stored once, under their
        source name); weights are written in the model's dtype."""
        from safetensors.numpy import save_file

        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        with open(directory / "config.json", "w", encoding="utf-8") as f:
            json.dump(
                self.config.to_dict(self.architecture, self.dtype), f, indent=2, sort_keys=True
            )
            f.write("\n")
        state = self.state_dict()
        for alias in self.tied_weights():
            del state[alias]
        # safetensors writes raw buffers: it needs C-contiguous arrays (a transposed view is not)
        arrays = {name: np.ascontiguousarray(value) for name, value in state.items()}
        save_file(arrays, str(directory / "model.safetensors"), metadata={"format": "pt"})

    def extra_repr(self) -> str:
        return f"{self.config}"


def load_bert_state_dict(model: BertPreTrainedModel, state: dict[str, Any]) -> None:
    """Copy a ``transformers`` state dict of the same class (name -> NumPy array, or anything
    ``np.asarray`` takes: convert torch tensors with ``.numpy()``) into ``model``, in place.

    Every tensor is checked before any is written: a missing tensor, an unexpected one, a shape
    mismatch or a non-numeric dtype raises a ``ValueError`` that names it. Old buffers
    (``embeddings.position_ids``) are dropped; a tied alias may be absent (it is re-tied) or
    present and equal to its source. Values are cast to the model's dtype.
    """
    op = "load_bert_state_dict"
    if not isinstance(model, BertPreTrainedModel):
        raise ValueError(f"{op}: model must be a BERT model; got {type(model).__name__}")
    arrays = {k: np.asarray(v) for k, v in state.items() if not k.endswith(_BUFFERS)}
    for alias, source in model.tied_weights().items():
        if source in arrays:
            if alias in arrays and not np.array_equal(arrays[alias], arrays[source]):
                raise ValueError(f"{op}: {alias} is tied to {source} but the checkpoint's differ")
            arrays[alias] = arrays[source]
    load_checked_state(model, arrays, op)
