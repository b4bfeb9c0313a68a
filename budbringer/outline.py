"""The outline of a page or a mail: headings that run in order (h1, h2, h3, never skipping a level).

A variant's body has headings of its own (an intranet page's `<h2>`s, a newsletter's). Shown inside a page or a
mail, under the heading that names the variant, they are moved down (`nested`) so that a screen reader's list
of headings reads as the page is built: the variant's title, then its sections. The body delivered to the forum
is not changed; only the copy shown to approvers and authors is.
"""

from __future__ import annotations

import re

from markupsafe import Markup

_HEADING = re.compile(r"<(/?)h([1-6])\b", re.IGNORECASE)


def nested(html: str, top: int) -> Markup:
    """`html` (sanitised markup) with its headings moved so that its highest is `top` (1–6), the others kept
    in their order below it; levels past 6 stay at 6. Markup without headings comes back as it was."""
    levels = [int(m.group(2)) for m in _HEADING.finditer(html) if not m.group(1)]
    if not levels:
        return Markup(html)
    shift = top - min(levels)

    def moved(match: re.Match[str]) -> str:
        return f"<{match.group(1)}h{max(1, min(6, int(match.group(2)) + shift))}"

    return Markup(_HEADING.sub(moved, html))
