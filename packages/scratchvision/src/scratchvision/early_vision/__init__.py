"""What early vision learns from natural images: Hebbian PCA, ICA and Gabor filters, in NumPy.

Notes: ``packages/scratchvision/notes/09-early-vision.md``.

* :mod:`~scratchvision.early_vision.patches` — the two photographs scikit-learn ships, random
  patches, and their preprocessing (mean removal, PCA/ZCA whitening).
* :mod:`~scratchvision.early_vision.hebbian` — Oja's and Sanger's rules, per sample (the
  definition) and per mini-batch (the fast form), and how close they are to PCA.
* :mod:`~scratchvision.early_vision.ica` — symmetric FastICA with the log-cosh contrast.
* :mod:`~scratchvision.early_vision.gabor` — Gabor functions, the best Gabor for a filter and
  its explained variance, and how localised a filter is.
"""

from scratchvision.early_vision.gabor import (
    GaborFit,
    GaborParams,
    default_grid,
    energy_spread,
    fit_gabor,
    gabor,
    gabor_bank,
)
from scratchvision.early_vision.hebbian import (
    component_cosines,
    initial_weights,
    learning_rates,
    oja_pass,
    oja_step,
    orthonormality_error,
    sanger,
    sanger_batch_step,
    sanger_minibatch_pass,
    sanger_pass,
    sanger_step,
    subspace_angles,
)
from scratchvision.early_vision.ica import (
    FastICAResult,
    fastica,
    fastica_step,
    logcosh_derivatives,
    symmetric_decorrelation,
)
from scratchvision.early_vision.patches import (
    Whitening,
    downsample,
    extract_patches,
    fit_whitening,
    principal_components,
    remove_patch_mean,
    sample_images,
    to_grayscale,
)

__all__ = [
    "FastICAResult",
    "GaborFit",
    "GaborParams",
    "Whitening",
    "component_cosines",
    "default_grid",
    "downsample",
    "energy_spread",
    "extract_patches",
    "fastica",
    "fastica_step",
    "fit_gabor",
    "fit_whitening",
    "gabor",
    "gabor_bank",
    "initial_weights",
    "learning_rates",
    "logcosh_derivatives",
    "oja_pass",
    "oja_step",
    "orthonormality_error",
    "principal_components",
    "remove_patch_mean",
    "sample_images",
    "sanger",
    "sanger_batch_step",
    "sanger_minibatch_pass",
    "sanger_pass",
    "sanger_step",
    "subspace_angles",
    "symmetric_decorrelation",
    "to_grayscale",
]
