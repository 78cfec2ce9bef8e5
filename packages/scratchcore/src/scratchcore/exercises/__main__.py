"""``python -m scratchcore.exercises ...``: the same as the ``scratchmind`` console script."""

from scratchcore.exercises.cli import main

raise SystemExit(main())
