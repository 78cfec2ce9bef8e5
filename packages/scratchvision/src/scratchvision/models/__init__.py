"""The models of scratchvision, built on ``scratchcore.nn``."""

from scratchvision.models.cnn import CNN, VARIANTS
from scratchvision.models.mlp import MLP

__all__ = ["CNN", "MLP", "VARIANTS"]
