// On a source page reached from a notes link like em.py.html?lines=10-40#L10, highlight lines
// 10 to 40 (the browser has already scrolled to #L10 — the first line of the range).
"use strict";

(function highlightLines() {
  const range = new URLSearchParams(window.location.search).get("lines");
  const match = range && range.match(/^(\d+)-(\d+)$/);
  if (!match) return;
  const [first, last] = [Number(match[1]), Number(match[2])];
  for (let line = first; line <= last; line++) {
    const element = document.getElementById(`L${line}`);
    if (element) element.classList.add("source-line--linked");
  }
})();
