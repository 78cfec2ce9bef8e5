"""The learning path: the prerequisite graph, suggested routes, the coverage count, the figure.

``requires`` makes the exercises a directed acyclic graph (``definitions`` refuses cycles). From
it:

- a *topological order* that keeps the files' own order where the graph allows (packages in
  reading order, exercises as written) — the default order of ``list``;
- *routes*: a route names goals (an exercise, a chapter, a whole package); its exercises are each
  goal's prerequisites, then the goal, in topological order, with nothing twice. "Autograd to
  GPT" is then simply "everything GPT needs", and it stays right as exercises are added;
- the *chapter graph*: chapter A precedes chapter B when an exercise of B requires one of A;
- the *coverage*: exercises per chapter of every package, and the chapters with none — the
  numbers behind ``experiments/results/exercises_coverage.json``.

The figure (``draw``) needs matplotlib, which is imported only there.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from scratchcore.exercises.definitions import Catalogue, Exercise, Route, resolve_goal


def topological(catalogue: Catalogue) -> list[Exercise]:
    """Every exercise after its prerequisites; ties keep the order of the files."""
    by_id = catalogue.by_id
    rank = {e.id: n for n, e in enumerate(catalogue.exercises)}
    done: set[str] = set()
    order: list[Exercise] = []

    def visit(exercise: Exercise) -> None:
        if exercise.id in done:
            return
        done.add(exercise.id)  # the graph is checked acyclic, so marking early is safe
        for req in sorted((r for r in exercise.requires if r in by_id), key=rank.__getitem__):
            visit(by_id[req])
        order.append(exercise)

    for exercise in catalogue.exercises:
        visit(exercise)
    return order


def ancestors(catalogue: Catalogue, ids: Iterable[str]) -> set[str]:
    """The ids given and everything they require, directly or not."""
    by_id, seen, stack = catalogue.by_id, set(), list(ids)
    while stack:
        current = stack.pop()
        if current in seen or current not in by_id:
            continue
        seen.add(current)
        stack.extend(by_id[current].requires)
    return seen


def route_exercises(catalogue: Catalogue, route: Route) -> list[Exercise]:
    """A route's exercises: each goal's prerequisites and the goal, in order, none twice."""
    order = topological(catalogue)
    chosen: list[Exercise] = []
    taken: set[str] = set()
    for goal in route.goals:
        needed = ancestors(catalogue, [e.id for e in resolve_goal(catalogue, goal)])
        for exercise in order:
            if exercise.id in needed and exercise.id not in taken:
                chosen.append(exercise)
                taken.add(exercise.id)
    return chosen


def chapter_key(exercise: Exercise) -> tuple[str, str]:
    return (exercise.package, exercise.chapter)


def chapter_edges(catalogue: Catalogue) -> set[tuple[tuple[str, str], tuple[str, str]]]:
    """(earlier chapter, later chapter) pairs implied by the exercises' prerequisites."""
    by_id = catalogue.by_id
    edges = set()
    for exercise in catalogue.exercises:
        for req in exercise.requires:
            if req in by_id and chapter_key(by_id[req]) != chapter_key(exercise):
                edges.add((chapter_key(by_id[req]), chapter_key(exercise)))
    return edges


def coverage(catalogue: Catalogue) -> dict:
    """Exercises per chapter for every package, the chapters without one, and the routes.

    Deterministic (no dates, no paths, no timings), so the committed JSON can be compared with
    a fresh computation and can never drift from the definitions unnoticed.
    """
    packages = {}
    for name, info in catalogue.packages.items():
        chapters = {ch: len(catalogue.in_chapter(name, ch)) for ch in catalogue.chapters(name)}
        packages[name] = {
            "exercise_file": info.has_exercises,
            "exercises": sum(chapters.values()),
            "chapters": chapters,
            "chapters_without_exercise": [ch for ch, n in chapters.items() if n == 0],
        }
    routes = {
        route.name: {
            "title": route.title,
            "goals": list(route.goals),
            "length": len(exercises := route_exercises(catalogue, route)),
            "exercises": [e.id for e in exercises],
        }
        for route in catalogue.routes
    }
    return {
        "total_exercises": sum(p["exercises"] for p in packages.values()),
        "total_chapters": sum(len(p["chapters"]) for p in packages.values()),
        "chapters_without_exercise": sum(
            len(p["chapters_without_exercise"]) for p in packages.values()
        ),
        "packages": packages,
        "routes": routes,
    }


# --- the figure -------------------------------------------------------------------------------

PACKAGE_COLOURS = {
    "scratchcore": "#4c72b0",
    "scratchclassic": "#8c8c8c",
    "scratchvision": "#55a868",
    "scratchgen": "#c44e52",
    "scratchseq": "#8172b2",
}


def draw(catalogue: Catalogue, path: Path, highlight: str | None = None) -> Path:
    """Draw the chapter graph: one column per package, one box per chapter, arrows for
    prerequisites; the chapters and arrows of route ``highlight`` are drawn bold.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

    names = list(catalogue.packages)
    chapters = {name: catalogue.chapters(name) for name in names}
    rows = max((len(c) for c in chapters.values()), default=1)
    fig, ax = plt.subplots(figsize=(3.2 * len(names) + 1, 0.62 * rows + 2.4))
    box_w, box_h = 2.5, 0.46
    position = {}
    for col, name in enumerate(names):
        x = col * 3.2
        ax.text(x, 0.9, name, ha="center", va="bottom", fontsize=12, weight="bold",
                color=PACKAGE_COLOURS.get(name, "black"))  # fmt: skip
        for row, chapter in enumerate(chapters[name]):
            position[(name, chapter)] = (x, -row)

    route_chapters: set[tuple[str, str]] = set()
    route_edges: set[tuple[tuple[str, str], tuple[str, str]]] = set()
    route = next((r for r in catalogue.routes if r.name == highlight), None)
    if route is not None:
        on_route = route_exercises(catalogue, route)
        route_chapters = {chapter_key(e) for e in on_route}
        ids = {e.id for e in on_route}
        by_id = catalogue.by_id
        for e in on_route:
            for req in e.requires:
                if req in ids and chapter_key(by_id[req]) != chapter_key(e):
                    route_edges.add((chapter_key(by_id[req]), chapter_key(e)))

    for key, (x, y) in position.items():
        count = len(catalogue.in_chapter(*key))
        colour = PACKAGE_COLOURS.get(key[0], "black")
        bold = key in route_chapters
        ax.add_patch(
            FancyBboxPatch(
                (x - box_w / 2, y - box_h / 2), box_w, box_h,
                boxstyle="round,pad=0.02,rounding_size=0.08",
                facecolor=colour if bold else "white", edgecolor=colour,
                linewidth=2.0 if bold else 1.0, alpha=0.9 if bold else 1.0, zorder=3,
            )
        )  # fmt: skip
        label = f"{key[1][:2]} {key[1][3:]}"
        label = label if len(label) <= 26 else label[:25] + "…"
        ax.text(x, y, f"{label}  ({count})" if count else f"{label}  (none)",
                ha="center", va="center", fontsize=7.5, zorder=4,
                color="white" if bold else ("#b00000" if not count else "black"))  # fmt: skip

    for src, dst in sorted(chapter_edges(catalogue)):
        if src not in position or dst not in position:
            continue
        (x0, y0), (x1, y1) = position[src], position[dst]
        same_column = x0 == x1
        on_route = (src, dst) in route_edges
        # Across columns: from the side facing the target. Within a column: straight down to the
        # next chapter, or a loop on the left (the gap between columns) to a later one.
        side = 1 if x1 > x0 else -1
        start, end = (x0 + side * box_w / 2, y0), (x1 - side * box_w / 2, y1)
        rad = 0.08
        if same_column:
            start, end, rad = (x0 - box_w / 2, y0), (x1 - box_w / 2, y1), 0.35
            if abs(y1 - y0) == 1:
                start, end, rad = (x0, y0 - box_h / 2), (x1, y1 + box_h / 2), 0.0
        ax.add_patch(
            FancyArrowPatch(
                start, end, arrowstyle="-|>", mutation_scale=8,
                connectionstyle=f"arc3,rad={rad}",
                color="#d95f02" if on_route else "#9a9a9a",
                linewidth=1.8 if on_route else 0.6, alpha=0.95 if on_route else 0.55, zorder=2,
            )
        )  # fmt: skip

    title = "Learn by rebuilding: chapters (exercises) and their prerequisites"
    if route is not None:
        n = len(route_exercises(catalogue, route))
        title += f"\nfilled: the route '{route.title}' ({n} exercises)"
    ax.set_title(title, fontsize=12)
    ax.set_xlim(-2.6, 3.2 * (len(names) - 1) + 1.8)
    ax.set_ylim(-rows + 0.2, 1.6)
    ax.axis("off")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path
