"""The built site, checked as a reader meets it: in a real headless browser (Debian's chromium).

One build of the real site (into tmp_path), served on 127.0.0.1 from a thread. Then:

- every internal `href`/`src` of every built page resolves to a built file, and its `#fragment`
  to an element id in that file (parsed with html.parser); nothing is loaded from another host;
- maths: every equation of every page goes through the site's own KaTeX in the browser with
  errors thrown; no page's text keeps a raw `$`; and six chapters, loaded as a reader loads
  them, show every equation typeset, no `.katex-error`, no `$$`;
- clicking a code link in a chapter lands on the source page at the linked line, range highlighted;
- a chapter's include directive shows the code it names, numbered as in the file;
- a screenshot of a maths-heavy chapter is saved as an artifact of the run
  (`$SCRATCHMIND_ARTIFACTS`, else `.artifacts/site/`) and is not blank.
"""

from __future__ import annotations

import functools
import html
import os
import posixpath
import re
import shutil
import threading
from html.parser import HTMLParser
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

import matplotlib.image
import numpy as np
import pytest

from docs.build import REPO, build, nav_pages, reading_order, site_nav

CHROMIUM_FLAGS = [  # without the networking flags chromium hangs on a closed network
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
MATH_PAGE = "packages/scratchgen/notes/02-latent-variables-and-em.html"  # display maths, lists
BROWSER_MATH_PAGES = [
    MATH_PAGE,
    "packages/scratchcore/notes/01-autograd.html",
    "packages/scratchclassic/notes/04-kernels-and-svm.html",
    "packages/scratchseq/notes/04-recurrence.html",
    "packages/scratchvision/notes/04-batchnorm-and-dropout.html",
    "blog/03-scratchgen-five-likelihoods.html",
]
CODE_LINK_PAGE = "packages/scratchcore/notes/01-autograd.html"


def find_chromium() -> str:
    """`$SCRATCHMIND_CHROMIUM`, else the first of chromium / chromium-browser / google-chrome."""
    candidates = [os.environ.get("SCRATCHMIND_CHROMIUM")]
    candidates += [shutil.which(name) for name in ("chromium", "chromium-browser", "google-chrome")]
    for candidate in candidates:
        if candidate and Path(candidate).is_file():
            return candidate
    pytest.fail(
        "docs/tests/test_site.py needs a Chromium browser and found none: install Debian's "
        "(`apt-get install -y chromium`) or set SCRATCHMIND_CHROMIUM=/path/to/chrome"
    )


def test_a_missing_browser_fails_the_run_with_how_to_install_it(tmp_path, monkeypatch):
    monkeypatch.delenv("SCRATCHMIND_CHROMIUM", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))  # no browser on PATH
    with pytest.raises(pytest.fail.Exception, match="apt-get install -y chromium"):
        find_chromium()
    fake = tmp_path / "my-chrome"
    fake.write_text("")
    monkeypatch.setenv("SCRATCHMIND_CHROMIUM", str(fake))
    assert find_chromium() == str(fake)


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    return build(tmp_path_factory.mktemp("site") / "site")


@pytest.fixture(scope="module")
def server(site):
    """The site on http://127.0.0.1:<free port>/, served from a thread."""

    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, *args):  # one line per request would drown pytest's output
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=site))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright  # drives the system chromium; downloads none

    executable = find_chromium()
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_FLAGS)
        yield chromium
        chromium.close()


# --- links, statically ----------------------------------------------------------------------


class PageParser(HTMLParser):
    """Collects a page's element ids and its (tag, attribute, url) references."""

    def __init__(self):
        super().__init__()
        self.ids: set[str] = set()
        self.refs: list[tuple[str, str, str]] = []

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            if name in ("id", "name") and value:
                self.ids.add(value)
            elif name in ("href", "src") and value is not None:
                self.refs.append((tag, name, value))


SOURCE_BLOCK = re.compile(r'<div class="source-file">.*?</code></pre></div>', re.S)


@functools.cache
def parse(path: Path) -> PageParser:
    """A page's ids and references. A source page's code block (nine tenths of the site's bytes,
    made by docs/hooks.py: one `id="L<n>"` and one `href="#L<n>"` per line) is read for its ids
    with a regular expression instead, which is what keeps this test quick."""
    text = path.read_text(encoding="utf-8")
    parser = PageParser()
    parser.feed(SOURCE_BLOCK.sub("", text))
    for block in SOURCE_BLOCK.findall(text):
        parser.ids.update(re.findall(r'<span id="(L\d+)" class="source-line">', block))
    return parser


def outbound_urls_in_sources() -> set[str]:
    """Every http(s) URL written in the Markdown the site is built from."""
    sources = [REPO / "ECOSYSTEM.md", REPO / "README.md", *REPO.glob("blog/*.md")]
    sources += [*REPO.glob("packages/*/README.md"), *REPO.glob("packages/*/notes/*.md")]
    urls = {u for p in sources for u in re.findall(r"https?://[^\s)>\"'`]+", p.read_text())}
    return urls | {u.rstrip(".,;:") for u in urls}  # a bare URL's link ends before punctuation


def test_every_internal_link_and_anchor_resolves(site):
    pages = sorted(site.rglob("*.html"))
    assert len(pages) > 100  # the chapters, READMEs, posts and the source pages they link to
    outbound = outbound_urls_in_sources()
    problems = []
    for page in pages:
        here = page.relative_to(site).as_posix()
        for tag, attribute, url in parse(page).refs:
            parts = urlsplit(url)
            if parts.scheme in ("http", "https") or url.startswith("//"):
                # Only a reader's click may leave the site: links written in the notes' text.
                if not (tag == "a" and url in outbound):
                    problems.append(f"{here}: <{tag} {attribute}={url}> loads from another host")
                continue
            if parts.scheme:  # mailto:, data:, javascript: — nothing to resolve
                continue
            if parts.path.startswith("/"):  # site-absolute (the 404 page's links)
                target = parts.path.lstrip("/")
            elif parts.path:  # relative to the page
                target = posixpath.join(posixpath.dirname(here), unquote(parts.path))
            else:  # "#fragment" alone: the page itself
                target = here
            target = posixpath.normpath(target)
            file = site / target
            if file.is_dir():
                file = file / "index.html"
            if not file.is_file():
                problems.append(f"{here}: {url} -> {target} is not a built file")
            elif parts.fragment and file.suffix == ".html":
                if unquote(parts.fragment) not in parse(file).ids:
                    problems.append(f"{here}: {url} -> no id {parts.fragment!r} in {target}")
    assert not problems, f"{len(problems)} broken references:\n" + "\n".join(problems[:40])


def test_the_sidebar_follows_ecosystem_reading_order(site):
    """The home page's sidebar lists the chapters exactly in ECOSYSTEM.md's reading order."""
    home = (site / "index.html").read_text(encoding="utf-8")
    sidebar = home[home.index("md-sidebar--primary") : home.index("md-sidebar--secondary")]
    shown = re.findall(r'href="(packages/[\w.-]+/notes/[\w.-]+)\.html"', sidebar)
    ecosystem = (REPO / "ECOSYSTEM.md").read_text(encoding="utf-8")
    listed = [chapter for _, chapters in reading_order(ecosystem) for chapter in chapters]
    assert [f"{p}.md" for p in dict.fromkeys(shown)][: len(listed)] == listed
    every_chapter = [p for p in nav_pages(site_nav(REPO)) if "/notes/" in p]
    assert sorted(f"{p}.md" for p in set(shown)) == sorted(every_chapter)


# --- in the browser ---------------------------------------------------------------------------


def math_pages(site: Path) -> dict[str, str]:
    """{site path: HTML} of every page (not a source page) that holds an equation."""
    pages = {}
    for path in sorted(site.rglob("*.html")):
        name, text = path.relative_to(site).as_posix(), path.read_text(encoding="utf-8")
        if not name.startswith("code/") and 'class="arithmatex"' in text:
            pages[name] = text
    return pages


EQUATION = re.compile(r'<(span|div) class="arithmatex">(.*?)</\1>', re.S)
CODE = re.compile(r"<(pre|code)\b.*?</\1>", re.S)


def test_no_page_leaves_dollar_maths_untouched(site):
    """Statically, every page: in the article, outside equations and code, no `$` is left."""
    leftovers = []
    for path in sorted(site.rglob("*.html")):
        name = path.relative_to(site).as_posix()
        if name.startswith("code/"):
            continue
        text = path.read_text(encoding="utf-8")
        article = text[text.find("<article") : text.find("</article>")]
        prose = re.sub(r"<[^>]+>", "", CODE.sub("", EQUATION.sub("", article)))
        leftovers += [f"{name}: {m.group(0)!r}" for m in re.finditer(r".{0,40}\$.{0,40}", prose)]
    assert not leftovers, "maths left as $...$ (arithmatex did not see it):\n" + "\n".join(
        leftovers
    )


KATEX_ERRORS = """equations => equations.flatMap(([page, tex, display]) => {
    try {
        katex.renderToString(tex, {displayMode: display, throwOnError: true, macros: MACROS});
        return [];
    } catch (error) {
        return [`${page}: ${error.message}`];
    }
})"""


def test_every_equation_of_every_page_typesets_with_katex(site, server, browser):
    """Each equation on the site, through the site's own KaTeX and macros, with errors thrown."""
    equations = [
        [name, html.unescape(tex).strip()[2:-2], tag == "div"]
        for name, text in math_pages(site).items()
        for tag, tex in EQUATION.findall(text)
    ]
    assert len(equations) > 1000  # it really found the notes' maths
    page = browser.new_page()
    page.goto(server + "index.html", wait_until="domcontentloaded")
    errors = page.evaluate(KATEX_ERRORS, equations)
    page.close()
    assert not errors, f"{len(errors)} equations KaTeX cannot typeset:\n" + "\n".join(errors)


TYPESET_REPORT = """() => ({
    typeset: document.querySelectorAll(".arithmatex .katex").length,
    equations: document.querySelectorAll(".arithmatex").length,
    errors: [...document.querySelectorAll(".katex-error")].map(e => e.title || e.textContent),
    rawDollars: (document.querySelector("article").innerText.match(/\\$\\$/g) || []).length,
})"""


def test_chapters_with_maths_are_typeset_in_the_browser(site, server, browser):
    """The whole path, page by page, for one chapter per package and a post: typeset, no errors."""
    pages = math_pages(site)
    assert len(pages) >= 30 and set(BROWSER_MATH_PAGES) <= set(pages)
    page = browser.new_page()
    elsewhere = []  # every request the pages make that is not to our server
    page.on("request", lambda r: None if r.url.startswith(server) else elsewhere.append(r.url))
    for path in BROWSER_MATH_PAGES:
        # KaTeX typesets from a script at the end of <body>, so by DOMContentLoaded it is done.
        page.goto(server + path, wait_until="domcontentloaded")
        report = page.evaluate(TYPESET_REPORT)
        assert report["equations"] > 0 and report == {
            "typeset": report["equations"],
            "equations": report["equations"],
            "errors": [],
            "rawDollars": 0,
        }, path
    page.close()
    assert elsewhere == [], "the site fetched from another host"


def test_search_works_offline(server, browser):
    page = browser.new_page()
    page.goto(server + "index.html", wait_until="load")
    page.click("input.md-search__input")
    page.keyboard.type("adamw", delay=20)  # Material searches on key events, not on fill()
    results = page.locator(".md-search-result__item")
    results.first.wait_for(timeout=10_000)
    titles = " ".join(results.all_inner_texts()).lower()
    page.close()
    assert "optimizers" in titles  # scratchcore's chapter 03 is where AdamW is derived


def test_a_code_link_opens_the_source_at_its_line(server, browser, capsys):
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(server + CODE_LINK_PAGE, wait_until="load")
    link = page.locator('article a[href*="?lines="]').first
    href = link.get_attribute("href")
    first, last = map(int, re.search(r"\?lines=(\d+)-(\d+)#L(\d+)$", href).groups()[:2])
    link.click()
    page.wait_for_load_state("load")
    assert page.url.startswith(server + "code/") and page.url.endswith(f"#L{first}")
    line = page.locator(f"#L{first}")
    assert line.locator(".linenos").inner_text().strip() == str(first)
    assert line.locator(".linenos").get_attribute("href") == f"#L{first}"
    top = line.evaluate("e => e.getBoundingClientRect().top")
    assert 0 <= top < 900, f"line {first} is not on screen (top={top})"
    highlighted = page.evaluate(
        '[...document.querySelectorAll(".source-line--linked")].map(e => e.id)'
    )
    assert highlighted == [f"L{n}" for n in range(first, last + 1)]
    save_screenshot(page, "site-source-page.png", capsys)
    page.close()


def test_an_include_directive_shows_its_code_on_the_chapter(server, browser):
    """A chapter's include directive (checks/snippets.py) is the code itself on the page: the
    lines, highlighted and numbered as in the file, above a caption linking to them."""
    page = browser.new_page()
    page.goto(server + CODE_LINK_PAGE, wait_until="load")
    href = page.locator("article p.snippet-source a").first.get_attribute("href")
    first, last = map(int, re.search(r"\?lines=(\d+)-(\d+)#L\d+$", href).groups())
    block = page.locator("article .highlighttable").first
    numbers = block.locator("td.linenos").inner_text().split()
    code = block.locator("td.code").inner_text()
    page.close()
    assert numbers == [str(n) for n in range(first, last + 1)]
    assert code.startswith("def backward_reference(") and len(code.splitlines()) == len(numbers)


def artifacts_dir() -> Path:
    default = REPO / ".artifacts" / "site"
    return Path(os.environ.get("SCRATCHMIND_ARTIFACTS", default))


def save_screenshot(page, name: str, capsys) -> Path:
    out = artifacts_dir()
    out.mkdir(parents=True, exist_ok=True)
    page.wait_for_timeout(400)  # let the header's title transition finish
    page.screenshot(path=str(out / name))
    with capsys.disabled():  # shown even when pytest captures output
        print(f"\nscreenshot saved: {out / name}")
    return out / name


def test_screenshot_of_a_maths_heavy_chapter(server, browser, capsys):
    page = browser.new_page(viewport={"width": 1280, "height": 1000})
    page.goto(server + MATH_PAGE + "#a-lower-bound-from-jensens-inequality", wait_until="load")
    png = save_screenshot(page, "site-scratchgen-02-latent-variables-and-em.png", capsys)
    page.close()
    pixels = matplotlib.image.imread(png)[..., :3]
    assert png.stat().st_size > 20_000
    colours = np.unique((pixels * 255).astype(np.uint8).reshape(-1, 3), axis=0)
    assert len(colours) > 50, f"the screenshot is nearly blank ({len(colours)} colours)"
