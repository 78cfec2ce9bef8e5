"""Python's own documentation as a text corpus: present wherever Python is, no download.

Notes: ``packages/scratchcore/notes/04-data.md`` (§4 "The code", "Splits").

``pydoc_data.topics.topics`` maps help-topic names to the reference-manual prose ``help()`` shows
(about 465,000 characters of English with some code). The corpus is the topics' texts joined by a
newline in sorted-key order; the split is by position: the first 90% of characters train, the last
10% validate. A contiguous split (not random lines) keeps validation text unseen as a whole, so a
character model cannot score well by memorising neighbouring lines.
"""

from __future__ import annotations

from scratchcore.data.datasets.containers import TextSplits

DOCS_TRAIN_FRACTION = 0.9


def python_docs_text() -> str:
    """The whole corpus: ``pydoc_data.topics`` values joined by ``"\\n"`` in sorted-key order."""
    from pydoc_data.topics import topics

    return "\n".join(topics[key] for key in sorted(topics))


def python_docs_corpus() -> TextSplits:
    """The corpus cut at character ``int(0.9 * len(text))``: ``train`` before, ``validation`` on."""
    text = python_docs_text()
    cut = int(DOCS_TRAIN_FRACTION * len(text))
    return TextSplits(train=text[:cut], validation=text[cut:])
