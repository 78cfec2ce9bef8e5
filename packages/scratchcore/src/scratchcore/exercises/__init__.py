"""Learn by rebuilding: the exercises runner.

Each ScratchMind package keeps a small declarative file beside its notes,
``packages/<pkg>/notes/exercises.toml``, that names, for every exercise, the functions a learner
rewrites, the tests that grade them, the chapter section that teaches them, a hint or two and the
exercises to do first. This subpackage reads those files and turns them into a workflow::

    scratchmind exercises list                  # every exercise by package and chapter, status
    scratchmind exercises start core/unbroadcast  # a workspace, that body replaced by a stub
    scratchmind exercises check                 # run its tests against your code, explained
    scratchmind exercises solution core/unbroadcast  # the reference (asks first)
    scratchmind exercises questions core:01     # the chapter's questions, runnable ones marked
    scratchmind exercises coverage              # exercises per chapter (none may be missing)
    scratchmind exercises path                  # the prerequisite graph and the suggested routes

(``python -m scratchcore.exercises ...`` is the same command without the console script.)

One concept per module, in the order the data flows:

- ``packages``    — where each package's source, tests and notes are (checkout or installed);
- ``definitions`` — load ``exercises.toml`` and validate every field against the real package;
- ``stubbing``    — replace a function's body by ``raise NotImplementedError(hint)`` with ``ast``,
  leaving every other byte of the file as it was;
- ``workspace``   — copy a package into a learner's folder, stub it, keep progress and versions;
- ``grading``     — run the exercise's tests with pytest in a subprocess and explain failures;
- ``forkserver``  — many grading runs forked from one process that imported the heavy test
  libraries once (the suite's bite check);
- ``questions``   — a chapter's "Questions to think about", with the command for runnable ones;
- ``path``        — the prerequisite graph, suggested routes, the coverage count and the figure;
- ``cli``         — the ``argparse`` front end.

Only the standard library and NumPy-free code are used here (``tomllib`` is standard since
Python 3.11); matplotlib is imported lazily, only to draw the figure, and pytest only runs in the
grading subprocess.
"""

# The version of the workspace format and of the exercise-file format this runner understands. A
# workspace records it; a runner with a different number refuses the workspace with a clear
# message instead of grading against sources it does not match.
FORMAT_VERSION = 1
