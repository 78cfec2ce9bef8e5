"""scratchseq — sequence models from first principles, on the scratchcore engine.

Reading path: ``packages/scratchseq/README.md`` -> ``notes/`` -> ``experiments/``.
"""

__version__ = "0.1.0"
