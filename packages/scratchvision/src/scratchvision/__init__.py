"""scratchvision — computer vision from first principles, on the scratchcore engine.

Reading path: ``packages/scratchvision/README.md`` -> ``notes/`` -> ``experiments/``.
"""

__version__ = "0.1.0"
