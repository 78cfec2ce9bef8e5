"""checks/move_ranges.py carries the prose's line ranges to where the diff moved their code."""

from __future__ import annotations

from checks.move_ranges import apply, line_map, moves
from checks.reading_path import check
from checks.tests.tiny_repo import FILES, build

OPS = "packages/demo/src/demo/ops.py"


def test_line_map_follows_inserted_changed_and_deleted_lines():
    old = ["a", "b", "c", "d", "e"]
    new = ["new 1", "new 2", "a", "b", "C!", "e"]  # two inserted above, c changed, d deleted
    where, exact = line_map(old, new)
    assert where[:2] == [2, 3] and exact[:2] == [True, True]  # a, b: two lines down
    assert where[4] == 5 and exact[4]  # e
    assert not exact[2] and not exact[3]  # c changed, d gone: nearest place, not exact
    assert where[2] == 4  # c -> its replacement C!


def test_moves_carry_every_link_and_the_result_passes_the_checker(tmp_path):
    build(tmp_path)
    code = tmp_path / OPS
    code.write_text("import numpy\n\n" + FILES[OPS])  # two lines above everything
    found = moves(code, FILES[OPS], tmp_path)
    assert {
        (m.source.relative_to(tmp_path).as_posix(), m.old_target, m.new_target) for m in found
    } == {
        ("README.md", "/packages/demo/src/demo/ops.py#L1", "/packages/demo/src/demo/ops.py#L3"),
        ("packages/demo/notes/01-ops.md", "../src/demo/ops.py#L2-L5", "../src/demo/ops.py#L4-L7"),
        ("packages/demo/notes/01-ops.md", "../src/demo/ops.py#L10", "../src/demo/ops.py#L12"),
        ("packages/demo/notes/01-ops.md", "../src/demo/ops.py#L3", "../src/demo/ops.py#L5"),
        (
            "blog/01-post.md",
            "../packages/demo/src/demo/ops.py#L3",
            "../packages/demo/src/demo/ops.py#L5",
        ),
    }
    assert all(m.exact for m in found)
    assert [str(p) for p in check(tmp_path).problems if "ops.py" in str(p)]  # drifted: caught
    apply(found)
    assert check(tmp_path).problems == []
    assert moves(code, code.read_text(), tmp_path) == []  # nothing left to move


def test_a_range_whose_end_line_changed_is_flagged_for_a_look(tmp_path):
    build(tmp_path)
    code = tmp_path / OPS
    code.write_text(FILES[OPS].replace("line_5 = 5", "line_5 = 5.0"))
    (move,) = moves(code, FILES[OPS], tmp_path)
    assert (move.old_target, move.new_target, move.exact) == (
        "../src/demo/ops.py#L2-L5",
        "../src/demo/ops.py#L2-L5",
        False,
    )


def test_an_include_directive_moves_with_its_code_and_keeps_its_title(tmp_path):
    build(tmp_path)
    layers = "packages/demo/src/demo/layers.py"
    code = tmp_path / layers
    code.write_text('"""Layers."""\n\n' + FILES[layers])  # two lines above everything
    (move,) = moves(code, FILES[layers], tmp_path)  # the by-name directive has nothing to move
    assert (move.old_target, move.new_target) == (
        "../src/demo/layers.py#L4-L5",
        "../src/demo/layers.py#L6-L7",
    )
    apply([move])
    page = (tmp_path / "packages/demo/extra/more.md").read_text()
    assert '[`scale`](../src/demo/layers.py#L6-L7 "include")' in page
    assert check(tmp_path).problems == []
    assert check(tmp_path).includes == 2  # still a directive, and it still resolves
