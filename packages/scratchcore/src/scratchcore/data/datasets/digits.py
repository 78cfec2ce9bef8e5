"""scikit-learn's bundled 8x8 handwritten digits, with one fixed train/test split.

Notes: ``packages/scratchcore/notes/04-data.md`` (§4 "The code", "Splits").

1,797 greyscale digits (UCI "optdigits": 32x32 bitmaps counted into 4x4 blocks, so each pixel is
0..16). The split is fixed so every experiment and every reader scores on the same 360 test
images: ``sklearn.model_selection.train_test_split(test_size=360, stratify=y, random_state=0)``
gives 1,437 training and 360 test images with the class proportions of the whole set.
"""

from __future__ import annotations

import numpy as np

from scratchcore.data.datasets.containers import ClassificationSplits

DIGITS_TEST_SIZE = 360
DIGITS_SPLIT_SEED = 0


def digits(flatten: bool = False) -> ClassificationSplits:
    """The digits as float32 pixels in [0, 1]: ``X`` ``(N, 1, 8, 8)`` (``(N, 64)`` if ``flatten``).

    Train/test: 1,437 / 360 images, stratified by class, seed 0 (fixed; see the module docstring).
    Labels are int64 in 0..9; ``classes`` is ``("0", ..., "9")``.
    """
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    bunch = load_digits()
    X = (bunch.images / 16.0).astype(np.float32)[:, None, :, :]  # pixel counts are 0..16
    y = bunch.target.astype(np.int64)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=DIGITS_TEST_SIZE, stratify=y, random_state=DIGITS_SPLIT_SEED
    )
    if flatten:
        X_train, X_test = X_train.reshape(len(X_train), -1), X_test.reshape(len(X_test), -1)
    return ClassificationSplits(X_train, y_train, X_test, y_test, tuple(str(d) for d in range(10)))
