"""Datasets: offline generators and bundled sets first, then loaders for real downloads."""

from scratchcore.data.datasets.toy import spirals, two_moons

__all__ = ["spirals", "two_moons"]
