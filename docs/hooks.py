"""MkDocs hooks of the ScratchMind site (docs/mkdocs.yml names this file; see docs/build.py).

One hook: a *source page* (written by build.py's `source_page`, front matter `source: <file>`)
gets the file's code appended, highlighted by Pygments, one element per line whose id is `L<n>`
(the `#L10` the notes' links point at) and whose line number links to it.
"""

from __future__ import annotations

import re
from pathlib import Path

from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import TextLexer, guess_lexer_for_filename
from pygments.util import ClassNotFound

FORMATTER = HtmlFormatter(linenos="inline", linespans="L", wrapcode=True)


def highlighted(path: Path) -> str:
    """The file at `path` as HTML: `<span id="L1" class="source-line">...` per line."""
    text = path.read_text(encoding="utf-8", errors="replace")
    try:
        lexer = guess_lexer_for_filename(path.name, text)
    except ClassNotFound:
        lexer = TextLexer()
    # Pygments names the line spans "L-10"; the notes link to "#L10", as GitHub spells it.
    code = highlight(text, lexer, FORMATTER)
    code = re.sub(r'<span id="L-(\d+)">', r'<span id="L\1" class="source-line">', code)
    # Each line number links to its own line, so a reader can copy a link to it.
    return re.sub(
        r'<span class="linenos">( *(\d+))</span>', r'<a class="linenos" href="#L\2">\1</a>', code
    )


def on_page_content(html: str, page, config, files) -> str:
    source = page.meta.get("source")
    if source is None:
        return html
    return f'{html}\n<div class="source-file">\n{highlighted(Path(source))}</div>\n'
