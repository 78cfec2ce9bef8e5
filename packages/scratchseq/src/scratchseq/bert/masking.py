"""BERT's masked-language-model corruption: the 80/10/10 rule, for a whole batch at once.

Notes: ``packages/scratchseq/notes/14-bert.md``.

Of the positions that hold an ordinary token (not [CLS], [SEP], [PAD], ...), each is *chosen*
independently with probability ``mlm_probability`` (15% in Devlin et al., 2019). A chosen
position becomes

* ``[MASK]`` with probability 0.8,
* a uniformly random ordinary token with probability 0.1 (it may happen to be the same token),
* itself with probability 0.1,

and its label is the original token; every other position's label is -100 (``IGNORE_INDEX``),
which the loss skips. Why not always ``[MASK]``? Fine-tuning inputs never contain ``[MASK]``,
so a model that only ever predicts at ``[MASK]`` need not build a useful representation of the
*other* tokens; the 10% unchanged and 10% random positions make every token a possible target,
so the model must keep a good guess of each token's identity at every position.

Everything is drawn with one ``np.random.Generator`` in three vectorised draws (choose, split
80/10/10, random replacement), so a seed fixes the corruption exactly. This is the rule of
``transformers``' ``DataCollatorForLanguageModeling`` (which draws "replace" among the chosen
with p=0.8 then "random" among the rest with p=0.5: the same 80/10/10).
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["IGNORE_INDEX", "mask_tokens"]

IGNORE_INDEX = -100


def mask_tokens(
    input_ids: Any,
    special_mask: Any,
    mask_token_id: int,
    random_token_ids: Any,
    rng: np.random.Generator,
    mlm_probability: float = 0.15,
) -> tuple[np.ndarray, np.ndarray]:
    """``(corrupted_ids, labels)``, both (B, S) int64, by the 80/10/10 rule.

    ``input_ids`` (B, S) integers. ``special_mask`` (B, S) bools, True where the position may
    never be chosen ([CLS], [SEP], padding). ``random_token_ids`` (K,): the ordinary tokens a
    random replacement is drawn from, uniformly (never a special token). ``labels`` holds the
    original token at every chosen position and ``IGNORE_INDEX`` elsewhere; ``input_ids`` is not
    modified.
    """
    op = "mask_tokens"
    ids = np.asarray(input_ids)
    special = np.asarray(special_mask)
    if ids.ndim != 2 or not np.issubdtype(ids.dtype, np.integer):
        raise ValueError(f"{op}: input_ids must be integers (B, S); got {ids.dtype} {ids.shape}")
    if special.shape != ids.shape or special.dtype != np.bool_:
        raise ValueError(
            f"{op}: special_mask must be bools of input_ids' shape {ids.shape}; got "
            f"{special.dtype} {special.shape}"
        )
    pool = np.asarray(random_token_ids)
    if pool.ndim != 1 or pool.size == 0 or not np.issubdtype(pool.dtype, np.integer):
        raise ValueError(f"{op}: random_token_ids must be a non-empty 1-D integer array")
    if not 0.0 < mlm_probability < 1.0:
        raise ValueError(f"{op}: mlm_probability must lie in (0, 1); got {mlm_probability}")
    chosen = (rng.random(ids.shape) < mlm_probability) & ~special
    split = rng.random(ids.shape)  # one uniform per position: [0, .8) mask, [.8, .9) random
    to_mask = chosen & (split < 0.8)
    to_random = chosen & (split >= 0.8) & (split < 0.9)
    replacement = pool[rng.integers(0, pool.size, size=ids.shape)]
    corrupted = np.where(to_mask, mask_token_id, np.where(to_random, replacement, ids))
    labels = np.where(chosen, ids, IGNORE_INDEX)
    return corrupted.astype(np.int64), labels.astype(np.int64)
