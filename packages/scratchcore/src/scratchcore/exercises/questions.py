"""A chapter's Socratic questions, and the command to run for those that can be tried.

Every chapter ends with a "Questions to think about" section (some have a second one, such as
"Questions on parallelism"): a numbered list, often followed by an **Exercise.** paragraph of the
form "change X; predict Y; run it". This module reads those sections from the Markdown and, for
each question, looks for a way to try it:

1. a command written in the text (`` `uv run python ...` ``, `` `uv run pytest ...` ``,
   `` `python ...` ``, `` `mpiexec ...` ``) is shown as it is;
2. otherwise a link to an experiment or benchmark script (``[x.py](../experiments/x.py)``)
   becomes ``uv run python packages/<pkg>/experiments/x.py`` from the repository root, with any
   ``--flag value`` the question spells out in backticks (``--seed 0``).

The questions are for thinking first: the command is what to run *after* predicting the answer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

COMMAND = re.compile(r"`((?:uv run|python3?|mpiexec)\s[^`]+)`")
SCRIPT_LINK = re.compile(
    r"\]\((?P<path>[^)\s]*?(?P<kind>experiments|benchmarks)/(?P<name>[\w-]+\.py))\)"
)
BARE_SCRIPT = re.compile(r"`(?:experiments/)?(?P<name>[\w-]+\.py)`")
FLAGS = re.compile(r"`(--[a-z][\w-]*(?:[ =][^`\s]+)?)`")


@dataclass(frozen=True)
class Question:
    """One question: its label ("1", "Exercise"), its text, and a command if it can be run."""

    label: str
    text: str
    command: str | None = None


def question_sections(markdown: str) -> list[tuple[str, str]]:
    """``(heading, body)`` of every ``##`` section whose heading contains "Questions"."""
    sections, current, body = [], None, []
    for line in markdown.splitlines():
        if line.startswith("## "):
            if current is not None:
                sections.append((current, "\n".join(body)))
            # "7. Questions to think about", "11. Questions on parallelism" — not "1. The question"
            current = line[3:].strip() if "questions" in line.lower() else None
            body = []
        elif current is not None:
            body.append(line)
    if current is not None:
        sections.append((current, "\n".join(body)))
    return sections


def split_items(body: str) -> list[tuple[str, str]]:
    """The numbered items and bold-labelled paragraphs ("**Exercise.** ...") of a section."""
    items: list[tuple[str, list[str]]] = []
    for line in body.splitlines():
        numbered = re.match(r"^(\d+)\.\s+(.*)$", line)
        labelled = re.match(r"^\*\*([^*]+?)\.?\*\*\s*(.*)$", line)
        if numbered:
            items.append((numbered.group(1), [numbered.group(2)]))
        elif labelled:
            items.append((labelled.group(1), [labelled.group(2)]))
        elif line.strip() and items and (line.startswith((" ", "\t")) or items[-1][1][-1]):
            items[-1][1].append(line.strip())  # continuation of the item or its paragraph
        elif not line.strip() and items:
            items[-1][1].append("")  # a blank line ends a paragraph
    return [(label, " ".join(p for p in parts if p).strip()) for label, parts in items]


def runnable_command(text: str, package: str) -> str | None:
    """The command that tries a question out, or None when it is for thinking only."""
    if match := COMMAND.search(text):
        return match.group(1).strip()
    match = SCRIPT_LINK.search(text)
    if match:
        name, kind = match.group("name"), match.group("kind")
        script = (
            f"benchmarks/{name}"
            if kind == "benchmarks"
            else f"packages/{package}/experiments/{name}"
        )
    elif (bare := BARE_SCRIPT.search(text)) and "experiment" in text.lower():
        script = f"packages/{package}/experiments/{bare.group('name')}"
    else:
        return None
    flags = " ".join(dict.fromkeys(FLAGS.findall(text)))
    return f"uv run python {script}" + (f" {flags}" if flags else "")


def chapter_questions(chapter_file: Path, package: str) -> list[tuple[str, list[Question]]]:
    """Every questions section of a chapter, each with its parsed questions."""
    text = chapter_file.read_text(encoding="utf-8")
    out = []
    for heading, body in question_sections(text):
        questions = [
            Question(label, item, runnable_command(item, package))
            for label, item in split_items(body)
        ]
        out.append((heading, questions))
    return out
