"""The pieces of the book's SVG diagrams (:mod:`~cnn_tutorial.figures.diagrams`): the document,
text, boxes, lines and arrows, in the page's text colour and see-through tints, so that they read
in a light and in a dark theme alike.
"""

from __future__ import annotations

import hashlib
import math
from xml.sax.saxutils import escape

__all__ = [
    "WIDTH",
    "GRADIENT_COLOR",
    "FILL_OPACITY",
    "document",
    "text",
    "rect",
    "line",
    "arrow",
    "swatch",
]

#: Width of the diagrams' drawing (and their widest on the page), in pixels. Narrower than the
#: book's 680 pixel column so that, scaled to a phone's 360 pixel column, 13 pixel text is
#: still 10 pixels high.
WIDTH = 460
#: The gradients' colour (arrows and labels): orange, 3.8:1 contrast on white, 5:1 on #111.
GRADIENT_COLOR = "#d95f02"
#: How much of a box's tint shows: the page's background shows through, in both themes.
FILL_OPACITY = 0.2
_FONT = 13  # pixels: the smallest text


def document(parts: list[str], height: float, title: str) -> str:
    """The ``<svg>`` element: ``parts`` under a title, :data:`WIDTH` wide, ``height`` high."""
    body = (
        f"<title>{escape(title)}</title>"
        '<defs><marker id="@ID@-forward" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" '
        'markerHeight="7" orient="auto"><path d="M 0 0 L 10 5 L 0 10 z" fill="currentColor"/>'
        '</marker><marker id="@ID@-gradient" viewBox="0 0 10 10" refX="9" refY="5" '
        'markerWidth="7" markerHeight="7" orient="auto"><path d="M 0 0 L 10 5 L 0 10 z" '
        f'fill="{GRADIENT_COLOR}"/></marker></defs>' + "".join(parts)
    )
    # Ids unique on a page that shows several diagrams, and the same from run to run.
    body = body.replace(
        "@ID@", "cnn-" + hashlib.sha1(body.encode()).hexdigest()[:10]
    )
    height = math.ceil(height)
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height}" width="100%" '
        f'style="max-width: {WIDTH}px; height: auto; display: block" role="img" '
        f'font-family="sans-serif" font-size="{_FONT}">{body}</svg>'
    )


def text(
    x,
    y,
    text,
    anchor="start",
    size=_FONT,
    weight=None,
    fill="currentColor",
    cls=None,
) -> str:
    """Text at ``(x, y)``, escaped; attributes only where they differ from the defaults."""
    attributes = f'x="{x:g}" y="{y:g}" fill="{fill}"'
    if anchor != "start":
        attributes += f' text-anchor="{anchor}"'
    if size != _FONT:
        attributes += f' font-size="{size}"'
    if weight:
        attributes += f' font-weight="{weight}"'
    if cls:
        attributes += f' class="{cls}"'
    return f"<text {attributes}>{escape(text)}</text>"


def rect(x, y, width, height, fill) -> str:
    """A box with rounded corners, tinted ``fill``, outlined in the text colour."""
    return (
        f'<rect x="{x:g}" y="{y:g}" width="{width:g}" height="{height:g}" rx="6" '
        f'fill="{fill}" fill-opacity="{FILL_OPACITY}" stroke="currentColor" '
        'stroke-opacity="0.6"/>'
    )


def line(x1, y1, x2, y2, arrow=False, gradient=False) -> str:
    """A line, ending in an arrowhead with ``arrow``; dashed orange for a gradient."""
    color = GRADIENT_COLOR if gradient else "currentColor"
    dash = ' stroke-dasharray="5 3"' if gradient else ""
    marker = (
        f' marker-end="url(#@ID@-{"gradient" if gradient else "forward"})"'
        if arrow
        else ""
    )
    return (
        f'<line x1="{x1:g}" y1="{y1:g}" x2="{x2:g}" y2="{y2:g}" stroke="{color}" '
        f'stroke-width="1.5"{dash}{marker}/>'
    )


def arrow(x1, y1, x2, y2, gradient=False) -> str:
    """A line from ``(x1, y1)`` with an arrowhead at ``(x2, y2)``."""
    return line(x1, y1, x2, y2, arrow=True, gradient=gradient)


def swatch(x: float, y: float, fill: str, label: str) -> list[str]:
    """A legend entry: a small box tinted ``fill``, and its label."""
    return [
        f'<rect x="{x:g}" y="{y:g}" width="22" height="14" rx="3" fill="{fill}" '
        f'fill-opacity="{FILL_OPACITY}" stroke="currentColor" stroke-opacity="0.6"/>',
        text(x + 30, y + 11.5, label),
    ]
