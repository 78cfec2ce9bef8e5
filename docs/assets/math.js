// Typeset the notes' LaTeX with KaTeX, in the browser and offline (KaTeX is served by this site).
// pymdownx.arithmatex (generic mode) leaves each equation as text in an element of class
// "arithmatex": inline math wrapped in \( \) inside a <span>, display math in \[ \] inside a <div>.
"use strict";

// Macros the notes use that KaTeX does not define itself: none today (docs/tests/test_site.py
// runs every equation of the site through KaTeX and fails on the first it cannot typeset).
const MACROS = {};

function typesetMath(root) {
  for (const element of root.querySelectorAll(".arithmatex")) {
    const tex = element.textContent.trim().slice(2, -2); // drop \( \) or \[ \]
    katex.render(tex, element, {
      displayMode: element.tagName === "DIV",
      throwOnError: false, // a bad equation shows in red (.katex-error) instead of stopping the page
      macros: MACROS,
    });
  }
}

typesetMath(document);
