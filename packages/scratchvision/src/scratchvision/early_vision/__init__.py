"""What early vision learns from natural images: Hebbian PCA, ICA and Gabor filters, in NumPy.

Notes: ``packages/scratchvision/notes/09-early-vision.md``.

* :mod:`~scratchvision.early_vision.patches` — the two photographs scikit-learn ships, random
  patches, and their preprocessing (mean removal, PCA/ZCA whitening).
* :mod:`~scratchvision.early_vision.hebbian` — Oja's and Sanger's rules, per sample (the
  definition) and per mini-batch (the fast form), and how close they are to PCA.
* :mod:`~scratchvision.early_vision.ica` — symmetric FastICA with the log-cosh contrast.
* :mod:`~scratchvision.early_vision.gabor` — Gabor functions, the best Gabor for a filter and
  its explained variance, and how localised a filter is.
* :mod:`~scratchvision.early_vision.nulls` — filters with no particular shape (white noise, and
  phase-randomised twins of given filters), to judge a Gabor fit against.
* :mod:`~scratchvision.early_vision.colour` — opponent colour channels, and the best split of a
  colour filter into one colour vector times one spatial pattern.
* :mod:`~scratchvision.early_vision.front_end` — a fixed V1-like front end: a quadrature Gabor
  bank on opponent channels, complex-cell energy, spatial pooling; and the same pooling after a
  learned first layer.
"""

from scratchvision.early_vision.colour import (
    OPPONENT_MATRIX,
    OPPONENT_NAMES,
    ColourSpaceFactors,
    colour_space_factorise,
    luminance_cosine,
    mixed_signs,
    opponent_channels,
)
from scratchvision.early_vision.front_end import (
    GaborFrontEnd,
    QuadratureBank,
    grid_pool,
    pyramid,
    quadrature_energy,
    quadrature_gabor_bank,
    random_quadrature_bank,
    rectified_features,
)
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
from scratchvision.early_vision.nulls import gaussian_filters, phase_randomised
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
    "OPPONENT_MATRIX",
    "OPPONENT_NAMES",
    "ColourSpaceFactors",
    "FastICAResult",
    "GaborFit",
    "GaborFrontEnd",
    "GaborParams",
    "QuadratureBank",
    "Whitening",
    "colour_space_factorise",
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
    "gaussian_filters",
    "grid_pool",
    "initial_weights",
    "learning_rates",
    "logcosh_derivatives",
    "luminance_cosine",
    "mixed_signs",
    "oja_pass",
    "oja_step",
    "opponent_channels",
    "orthonormality_error",
    "phase_randomised",
    "principal_components",
    "pyramid",
    "quadrature_energy",
    "quadrature_gabor_bank",
    "random_quadrature_bank",
    "rectified_features",
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
