"""Build ScratchMind's website: the notes, the package READMEs and the blog, as one static site.

    uv run python docs/build.py              # writes docs/_site/
    uv run python docs/build.py --out DIR    # or anywhere else
    python -m http.server -d docs/_site      # then read it at http://127.0.0.1:8000

The Markdown stays where it is written (ECOSYSTEM.md, packages/*/README.md, packages/*/notes/,
blog/). Building is three steps, each a function below, readable top to bottom:

1. **Navigation** (`site_nav`): parsed from ECOSYSTEM.md's "## Reading order" section (packages
   and chapters in the order they first appear there) and from blog/README.md (posts in the order
   of its table) — never typed by hand, so it cannot drift from the map. A notes chapter that
   exists but is missing from the reading order is still shown, after its package's listed
   chapters, with a warning.
2. **Assembly** (`assemble`): a temporary MkDocs `docs_dir` in which each page sits at the same
   relative path as in the repository (ECOSYSTEM.md becomes the home page, `index.md`), with its
   include directives replaced by code (`include_snippets`: a paragraph that is only a link
   titled "include", ``[`name`](../src/x.py#L10-L40 "include")``, becomes those lines,
   highlighted, with a caption linking to them; checks/snippets.py resolves it, and one that does
   not resolve stops the build) and its links rewritten (`rewrite_links`) so that they work on
   the site. Links between pages stay links between pages; figures are copied beside them; a
   link to code or data (`../src/scratchgen/em.py#L10-L40`, `results/x.json`) opens a generated
   *source page* (`source_page`): the file with line numbers, one id per line (`#L10`), the
   linked range highlighted (the range travels as `?lines=10-40`, read by assets/source.js).
3. **MkDocs** with the Material theme renders it (`docs/mkdocs.yml`). Maths is typeset in the
   browser by KaTeX, which `npm ci` installs from npm into docs/node_modules (pinned by
   docs/package-lock.json) and which is copied into the site: no CDN, nothing fetched at read time.
"""

from __future__ import annotations

import argparse
import json
import os
import posixpath
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
# The include directives' resolver, checks/snippets.py, is shared with the reading-path check and
# lives at the repository root; `python docs/build.py` puts only docs/ on Python's path.
if str(REPO) not in sys.path:
    sys.path.append(str(REPO))
from checks.snippets import SnippetError, code_block, find_directives, resolve  # noqa: E402

DOCS = REPO / "docs"
KATEX_DIST = DOCS / "node_modules" / "katex" / "dist"

# Where a repository Markdown file lives on the site, when not at the same relative path.
HOME = "index.md"
RENAMED = {"ECOSYSTEM.md": HOME, "README.md": "project-readme.md"}
CODE_DIR = "code"  # generated source pages live under code/<path in the repository>.md
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".gif", ".svg", ".webp"}

NOTES_LINK = re.compile(r"packages/([\w.-]+)/notes/([\w.-]+\.md)")
# An inline Markdown link or image: [text](target) or [text](target "title"); group 1 = target.
MD_LINK = re.compile(r"(\]\(\s*<?)([^)\s>]+)(>?(?:\s+\"[^\"]*\")?\s*\))")
LIST_MARKER = re.compile(r"^(?:[-*+]|\d+[.)])\s+(?=\S)")
LINE_RANGE = re.compile(r"^L(\d+)(?:-L?(\d+))?$")


def warn(message: str) -> None:
    print(f"docs/build.py: warning: {message}", file=sys.stderr)


# --- 1. Navigation --------------------------------------------------------------------------


def reading_order(ecosystem_md: str) -> list[tuple[str, list[str]]]:
    """Packages and their chapters, in order of first appearance in the "## Reading order" section.

    Returns `[(package, [repo path of chapter, ...]), ...]`. Only that section is read: the rest of
    ECOSYSTEM.md (tables, per-chapter maps) may mention chapters in any order.
    """
    match = re.search(r"^## Reading order\s*$(.*?)(?=^## |\Z)", ecosystem_md, re.M | re.S)
    if match is None:
        raise ValueError("ECOSYSTEM.md has no '## Reading order' section to build the nav from")
    order: dict[str, list[str]] = {}
    for package, chapter in NOTES_LINK.findall(match.group(1)):
        chapters = order.setdefault(package, [])
        path = f"packages/{package}/notes/{chapter}"
        if path not in chapters:
            chapters.append(path)
    return list(order.items())


def blog_posts(blog_readme: str) -> list[str]:
    """Posts linked from blog/README.md, in order of first appearance, as repo paths."""
    posts: list[str] = []
    for target in MD_LINK.findall(blog_readme):
        name = target[1].split("#")[0]
        if "/" not in name and name.endswith(".md") and name != "README.md":
            path = f"blog/{name}"
            if path not in posts:
                posts.append(path)
    return posts


def site_nav(repo: Path) -> list:
    """MkDocs `nav`: Home (ECOSYSTEM.md), each package (README, then chapters), then the blog.

    Chapters (and packages) that exist on disk but not in the reading order are appended after
    the listed ones, with a warning, so that no page is ever unreachable.
    """
    order = dict(reading_order((repo / "ECOSYSTEM.md").read_text(encoding="utf-8")))
    on_disk = sorted(p.parent.parent.name for p in repo.glob("packages/*/notes/*.md"))
    for package in dict.fromkeys(on_disk):
        if package not in order:
            warn(f"package {package} has notes but is not in ECOSYSTEM.md's reading order")
            order[package] = []
    nav: list = [{"Home": HOME}]
    for number, (package, chapters) in enumerate(order.items(), start=1):
        notes = repo / "packages" / package / "notes"
        missing = [c for c in chapters if not (repo / c).is_file()]
        for chapter in missing:
            warn(f"ECOSYSTEM.md's reading order links {chapter}, which does not exist")
        listed = [c for c in chapters if c not in missing]
        for extra in sorted(notes.glob("*.md")):
            path = extra.relative_to(repo).as_posix()
            if path not in listed:
                warn(f"{path} is not in ECOSYSTEM.md's reading order; listed after its package")
                listed.append(path)
        readme = f"packages/{package}/README.md"
        section = ([readme] if (repo / readme).is_file() else []) + listed
        nav.append({f"{number}. {package}": section})
    blog = repo / "blog" / "README.md"
    if blog.is_file():
        posts = blog_posts(blog.read_text(encoding="utf-8"))
        nav.append({"Blog": ["blog/README.md", *[p for p in posts if (repo / p).is_file()]]})
    return nav


def nav_pages(nav: list) -> list[str]:
    """Every page path named in a nav, in order."""
    pages = []
    for item in nav:
        for value in item.values() if isinstance(item, dict) else [item]:
            pages.extend(nav_pages(value) if isinstance(value, list) else [value])
    return pages


# --- 2. Assembly: pages, links, source pages ------------------------------------------------


def site_path(repo_path: str) -> str:
    """Where the page written at `repo_path` (a .md file) lives in the site's docs_dir."""
    return RENAMED.get(repo_path, repo_path)


def code_page(repo_path: str) -> str:
    """The generated source page of a repository file or folder (dot-folders made visible)."""
    parts = [("dot-" + p[1:]) if p.startswith(".") else p for p in repo_path.split("/")]
    return posixpath.join(CODE_DIR, *parts) + ".md"


@dataclass
class Site:
    """What the assembled docs_dir needs: pages (repo path -> site path) and what they link to."""

    repo: Path
    pages: dict[str, str]
    images: set[str] = field(default_factory=set)
    sources: set[str] = field(default_factory=set)  # files and folders that get a source page
    broken: list[str] = field(default_factory=list)


def rewrite_target(site: Site, page: str, target: str) -> str:
    """The site URL for a link written as `target` in repository file `page` (both repo paths)."""
    if re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*:|^//|^#", target):
        return target  # external (https:, mailto:) or a heading on the same page: unchanged
    path, _, fragment = target.partition("#")
    resolved = posixpath.normpath(posixpath.join(posixpath.dirname(page), path))
    if resolved.startswith(".."):
        site.broken.append(f"{page}: {target} leaves the repository")
        return target
    here = posixpath.dirname(site_path(page))
    on_disk = site.repo / resolved
    if resolved.endswith(".md") and on_disk.is_file():
        site.pages.setdefault(resolved, site_path(resolved))  # e.g. a README outside the nav
        new = site.pages[resolved] + (f"#{fragment}" if fragment else "")
    elif on_disk.is_file() and on_disk.suffix.lower() in IMAGE_SUFFIXES:
        site.images.add(resolved)
        new = resolved
    elif on_disk.exists():
        site.sources.add(resolved)
        new = code_page(resolved)
        lines = LINE_RANGE.match(fragment)
        if lines:  # #L10-L40 lands on line 10; the whole range is highlighted on arrival
            first, last = lines.group(1), lines.group(2) or lines.group(1)
            new = f"{new}?lines={first}-{last}#L{first}"
        elif fragment:
            site.broken.append(f"{page}: {target} has a fragment that is not a line range")
    else:
        site.broken.append(f"{page}: {target} does not exist")
        return target
    return posixpath.relpath(new, here or ".")


def rewrite_links(site: Site, page: str, markdown: str) -> str:
    """`markdown` (the text of repo file `page`) with every inline link's target rewritten.

    Fenced code blocks are left alone: a link-like string inside code is code.
    """
    pieces = re.split(r"(^ *```.*?^ *```[^\n]*$)", markdown, flags=re.M | re.S)
    for i in range(0, len(pieces), 2):  # odd pieces are the fenced blocks
        pieces[i] = MD_LINK.sub(
            lambda m: m.group(1) + rewrite_target(site, page, m.group(2)) + m.group(3), pieces[i]
        )
    return "".join(pieces)


def include_snippets(repo: Path, page: str, markdown: str) -> str:
    """`markdown` (the text of repo file `page`) with each include directive replaced by code.

    A directive (checks/snippets.py says exactly what one is) is a paragraph holding only a link
    titled "include". It becomes a fenced code block of the lines it names — dedented, numbered
    with the file's own line numbers — and, under it, a small caption linking to those lines
    (a link in repository terms, which `rewrite_links` then points at the source page). Raises
    `SnippetError` listing every directive of the page that does not resolve.
    """
    pieces, errors, done = [], [], 0
    for directive in find_directives(markdown):
        try:
            snippet = resolve(directive, repo / page, repo)
        except SnippetError as error:
            errors.append(f"{page}:{directive.line}: {directive.target}: {error}")
            continue
        shown = snippet.path.relative_to(repo.resolve()).as_posix()
        shown = shown.rsplit("/src/", 1)[-1]  # packages/x/src/x/a.py -> x/a.py
        lines = f"L{snippet.start}-L{snippet.end}"
        link = f"{directive.target.partition('#')[0]}#{lines}"
        indent = directive.indent
        caption = f"{indent}[`{shown}`, lines {snippet.start}–{snippet.end}]({link})"
        block = code_block(snippet, indent)
        pieces += [markdown[done : directive.start - len(indent)], block, "\n\n", caption]
        pieces.append(f"\n{indent}{{: .snippet-source }}")  # attr_list: the caption's class
        done = directive.end
    if errors:
        raise SnippetError("include directives that do not resolve:\n  " + "\n  ".join(errors))
    return "".join([*pieces, markdown[done:]])


# GitHub-flavoured Markdown that Python-Markdown reads differently: fixed while assembling.


def four_space_lists(markdown: str) -> str:
    """Re-indent nested list content from GitHub's rule to Python-Markdown's.

    On GitHub (CommonMark) a list item's content starts where its text starts: two spaces in
    after `- `, three after `1. `. Python-Markdown wants four spaces per level. Each line inside
    an open list item is moved to four spaces per enclosing item, keeping any extra indentation;
    a fenced code block moves with its opening fence. Lines that need no change are kept.
    """
    columns: list[int] = []  # where the content of each open list item starts (source columns)
    out: list[str] = []
    fence_shift: int | None = None  # set while inside a fenced block
    previous_blank = True
    for line in markdown.split("\n"):
        stripped = line.lstrip(" ")
        indent = len(line) - len(stripped)
        if fence_shift is not None:  # inside a fence: move with the opening fence
            out.append(" " * max(indent + fence_shift, 0) + stripped if stripped else line)
            if stripped.startswith("```"):
                fence_shift = None
            continue
        if not stripped:
            out.append(line)
            previous_blank = True
            continue
        marker = LIST_MARKER.match(stripped)
        lazy = not (marker or previous_blank or stripped.startswith(("```", "$$")))
        if lazy and columns and indent < columns[-1]:
            out.append(line)  # a lazy continuation line of the paragraph above: as written
            continue
        while columns and indent < columns[-1]:
            columns.pop()
        new = 4 * len(columns) + (indent - columns[-1] if columns else indent)
        out.append(" " * new + stripped)
        if marker:
            columns.append(indent + len(marker.group(0)))
        if stripped.startswith("```"):
            fence_shift = new - indent
        previous_blank = False
    return "\n".join(out)


def separate_display_math(markdown: str) -> str:
    """Put blank lines around every `$$` display block that touches other text.

    GitHub typesets `$$` blocks glued to a paragraph, a list item or another `$$` block;
    Python-Markdown's arithmatex only sees a display block that stands apart. Indentation is kept,
    so a block inside a list item stays inside it. Fenced code is left alone.
    """
    out: list[str] = []
    in_math = in_fence = False
    lines = markdown.split("\n")
    for i, line in enumerate(lines):
        stripped = line.strip()
        if stripped.startswith("```"):
            in_fence = not in_fence
        opens = not in_fence and not in_math and stripped.startswith("$$")
        if opens and out and out[-1].strip():
            out.append("")
        out.append(line)
        if opens:
            in_math = not (len(stripped) > 2 and stripped.endswith("$$"))
        elif in_math and stripped.endswith("$$"):
            in_math = False
        else:
            continue
        if not in_math and i + 1 < len(lines) and lines[i + 1].strip():
            out.append("")
    return "\n".join(out)


def source_page(repo: Path, repo_path: str) -> str:
    """Markdown for the page showing a repository file or folder.

    A file's page is a title and front matter naming the file: docs/hooks.py appends the code
    itself, highlighted, at render time (as HTML straight from Pygments — Markdown would only
    slow down parsing it). A folder's page lists its files, each linking to its own source page.
    """
    path = repo / repo_path
    title = f"# `{repo_path}`\n\n"
    if path.is_file():
        # Code stays out of the search index, and the code gets the width of the table of contents.
        meta = {"source": str(path), "search": {"exclude": True}, "hide": ["toc"]}
        return f"---\n{yaml.safe_dump(meta)}---\n\n{title}"
    here = posixpath.dirname(code_page(repo_path))
    entries = sorted(p.name for p in path.iterdir() if p.is_file() and p.suffix != ".pyc")
    rows = [
        f"- [`{name}`]({posixpath.relpath(code_page(f'{repo_path}/{name}'), here)})"
        for name in entries
    ]
    return title + "\n".join(rows) + "\n"


def assemble(repo: Path, docs_dir: Path, nav: list) -> Site:
    """Write the site's docs_dir: rewritten pages, their figures, source pages, KaTeX, assets."""
    site = Site(repo, {p_repo: site_path(p_repo) for p_repo in map(repo_path_of, nav_pages(nav))})
    done: set[str] = set()
    while len(done) < len(site.pages):  # pages may pull in more pages (a README they link to)
        for page in sorted(set(site.pages) - done):
            done.add(page)
            text = (repo / page).read_text(encoding="utf-8")
            out = docs_dir / site.pages[page]
            out.parent.mkdir(parents=True, exist_ok=True)
            text = include_snippets(repo, page, text)
            text = four_space_lists(separate_display_math(rewrite_links(site, page, text)))
            out.write_text(text, encoding="utf-8")
    for image in site.images:
        (docs_dir / image).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(repo / image, docs_dir / image)
    for folder in [s for s in site.sources if (repo / s).is_dir()]:  # a listing links its files
        site.sources.update(f"{folder}/{p.name}" for p in (repo / folder).iterdir() if p.is_file())
    for source in site.sources:
        out = docs_dir / code_page(source)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(source_page(repo, source), encoding="utf-8")
    shutil.copytree(DOCS / "assets", docs_dir / "assets")
    katex = docs_dir / "assets" / "katex"
    katex.mkdir()
    for name in ("katex.min.js", "katex.min.css"):
        shutil.copyfile(KATEX_DIST / name, katex / name)
    shutil.copytree(KATEX_DIST / "fonts", katex / "fonts")
    for problem in site.broken:
        warn(f"link left as written: {problem}")
    return site


def repo_path_of(nav_page: str) -> str:
    """The repository file a nav entry (a site path) was written in."""
    inverse = {v: k for k, v in RENAMED.items()}
    return inverse.get(nav_page, nav_page)


# --- 3. Build --------------------------------------------------------------------------------


def ensure_katex() -> None:
    """Install KaTeX from npm (pinned by docs/package-lock.json) unless that version is there."""
    lock = json.loads((DOCS / "package-lock.json").read_text(encoding="utf-8"))
    wanted = lock["packages"]["node_modules/katex"]["version"]
    installed = KATEX_DIST.parent / "package.json"
    if installed.is_file() and json.loads(installed.read_text())["version"] == wanted:
        return
    npm = shutil.which("npm")
    if npm is None:
        raise SystemExit("docs/build.py: npm not found; install Node.js >= 20 (it provides npm)")
    subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=DOCS, check=True)


def build(out: Path, repo: Path = REPO) -> Path:
    """Build the site into `out` (replaced if it exists); return `out`."""
    ensure_katex()
    nav = site_nav(repo)
    with tempfile.TemporaryDirectory(prefix="scratchmind-site-") as tmp:
        docs_dir = Path(tmp) / "docs"
        site = assemble(repo, docs_dir, nav)
        # The generated config inherits docs/mkdocs.yml and adds what was generated.
        in_nav = set(nav_pages(nav))
        config = {
            "INHERIT": str(DOCS / "mkdocs.yml"),
            "docs_dir": str(docs_dir),
            "site_dir": str(out.resolve()),
            "nav": nav,
            "hooks": [str(DOCS / "hooks.py")],
            # Source pages and READMEs reached only by links are pages too, just not in the nav.
            "not_in_nav": "\n".join(
                ["/code/"] + [f"/{p}" for p in sorted(site.pages.values()) if p not in in_nav]
            ),
        }
        config_file = Path(tmp) / "mkdocs.yml"
        config_file.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
        subprocess.run(
            [sys.executable, "-m", "mkdocs", "build", "--quiet", "--clean", "-f", str(config_file)],
            check=True,
            env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},  # a banner about MkDocs 2, not us
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DOCS / "_site", help="where to write the site")
    try:
        out = build(parser.parse_args().out)
    except SnippetError as error:  # a chapter would show a link where its code should be
        raise SystemExit(f"docs/build.py: {error}") from None
    print(f"site written to {out}  (serve: python -m http.server -d {out})")


if __name__ == "__main__":
    main()
