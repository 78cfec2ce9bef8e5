"""Neural-network building blocks on the autograd engine."""

from scratchcore.nn.parameter import Parameter

__all__ = ["Parameter"]
