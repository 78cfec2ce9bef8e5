"""Move the prose's line ranges along with the code they point at, after an edit to that code.

A notes chapter links ``tensor.py#L278-L289``; someone adds twenty lines near the top of
``tensor.py``; the link now shows the wrong code (``checks/reading_path.py`` notices when the
link text names the code, but not every link does). The edit itself says where every old line
went: a line-by-line diff of the file before and after (:func:`line_map`) carries each range
to its new place, so nobody has to recount by hand.

    uv run python -m checks.move_ranges packages/scratchcore/src/scratchcore/tensor.py
    uv run python -m checks.move_ranges FILE --since HEAD~1 --write

compares FILE as it is with FILE at ``--since`` (default ``HEAD``: the uncommitted edit), prints
every link in the reading path (the Markdown ``reading_path`` checks) whose range moves, and with
``--write`` rewrites those links. A range whose first or last line was itself changed has no
exact new place; it is moved to the nearest line and marked "check by eye".
"""

from __future__ import annotations

import argparse
import difflib
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from checks.reading_path import LINE_FRAGMENT, ROOT, Checker


def line_map(old: list[str], new: list[str]) -> tuple[list[int], list[bool]]:
    """Where each old line (0-based) is in ``new``, and whether that place is exact.

    Lines the diff keeps map exactly; a changed or deleted line maps to the same offset inside
    the block that replaced it (clamped to it), or to where its deleted block was.
    """
    where, exact = [0] * len(old), [False] * len(old)
    matcher = difflib.SequenceMatcher(None, old, new, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():  # a loop over diff blocks, not lines
        for i in range(i1, i2):
            if tag == "equal":
                where[i], exact[i] = j1 + (i - i1), True
            else:
                where[i] = min(j1 + (i - i1), max(j1, j2 - 1))
    return where, exact


@dataclass(frozen=True)
class Move:
    """One link whose line range moves: where it is written, its old and new target."""

    source: Path
    line: int
    old_target: str
    new_target: str
    exact: bool


def moves(code: Path, old_text: str, root: Path = ROOT) -> list[Move]:
    """The moves that carry every reading-path link into ``code`` from ``old_text`` to now."""
    checker = Checker(root)
    code = code.resolve()
    old, new = old_text.splitlines(), checker.text(code).splitlines()
    where, exact = line_map(old, new)
    found = []
    for page in checker.markdown_files():
        for link in checker.links(page):
            lines = LINE_FRAGMENT.match(link.target.partition("#")[2])
            if not lines or checker.resolve(link) != code:
                continue
            start, end = int(lines[1]), int(lines[2] or lines[1])
            if not 1 <= start <= end <= len(old):
                continue  # already broken before the edit: the checker reports it
            new_start, new_end = where[start - 1] + 1, where[end - 1] + 1
            fragment = f"L{new_start}" if lines[2] is None else f"L{new_start}-L{new_end}"
            target = f"{link.target.partition('#')[0]}#{fragment}"
            is_exact = exact[start - 1] and exact[end - 1]
            if target != link.target or not is_exact:
                found.append(Move(page, link.line, link.target, target, is_exact))
    return found


def retarget(line: str, old: str, new: str) -> str:
    """``line`` with its first link ``[...](old)`` pointing at ``new`` instead.

    Only the target changes: a title after it (an include directive's ``"include"``) and angle
    brackets around it stay as written; ``old`` must be the whole target, not a prefix of it.
    """
    pattern = re.compile(r"(\]\(\s*<?)" + re.escape(old) + r"(?=>|\s|\))")
    return pattern.sub(lambda match: match.group(1) + new, line, count=1)


def apply(found: list[Move]) -> None:
    """Rewrite each moved link in place (only its target, on its own line, changes)."""
    by_page: dict[Path, list[Move]] = {}
    for move in found:
        by_page.setdefault(move.source, []).append(move)
    for page, page_moves in by_page.items():
        lines = page.read_text(encoding="utf-8").split("\n")
        for move in page_moves:
            line = lines[move.line - 1]
            lines[move.line - 1] = retarget(line, move.old_target, move.new_target)
        page.write_text("\n".join(lines), encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("code", type=Path, help="the edited file, e.g. packages/.../tensor.py")
    parser.add_argument("--since", default="HEAD", help="the revision before the edit (HEAD)")
    parser.add_argument("--write", action="store_true", help="rewrite the moved links")
    args = parser.parse_args(argv)
    code = args.code.resolve()
    relative = code.relative_to(ROOT).as_posix()
    before = subprocess.run(
        ["git", "show", f"{args.since}:{relative}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    found = moves(code, before)
    for move in found:
        where = f"{move.source.relative_to(ROOT)}:{move.line}"
        note = "" if move.exact else "  (an end line was edited: check by eye)"
        print(f"{where}: {move.old_target} -> {move.new_target}{note}")
    if args.write:
        apply(found)
    print(f"{len(found)} links move" + (" (rewritten)" if args.write else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
