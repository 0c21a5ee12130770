"""Write the dark-theme variant of a chapter's SVG diagram: ``X.svg`` -> ``X_dark.svg``.

The book shows ``X.svg`` in the light theme and ``X_dark.svg`` in the dark one (the figure classes
``only-light`` and ``only-dark`` of the book's theme), so a diagram is never inverted by a filter.
The dark variant swaps the page-like colours (background, text, arrows, pale box fills) for dark
ones and keeps every outline's hue, so "the blue box" means the same box in both themes.

Usage: python -m scripts.dark_diagram book/images/data_parallel.svg [...]
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

# light -> dark, for the attributes fill="..." and stroke="..." (outline hues are not listed: kept)
DARK = {
    "white": "#14181e",  # the dark theme's page background (pydata-sphinx-theme)
    "#444": "#aab2bb",  # arrows
    "#dbe9f6": "#17324a",  # pale blue fill
    "#fde5cc": "#45290f",  # pale orange fill
    "#ece6f3": "#2c2440",  # pale purple fill
}
TEXT = "#ced6dd"  # the dark theme's text colour


def dark_variant(svg: str) -> str:
    """The dark variant of a light diagram's SVG text."""
    if "<svg" not in svg:
        raise ValueError("not an SVG document: no <svg> element")
    swapped = re.sub(
        r'(fill|stroke)="([^"]+)"',
        lambda m: f'{m.group(1)}="{DARK.get(m.group(2), m.group(2))}"',
        svg,
    )
    # Text without its own fill is drawn in the root's fill: the dark theme's text colour.
    return swapped.replace("<svg ", f'<svg fill="{TEXT}" ', 1)


def dark_path(path: Path) -> Path:
    return path.with_name(path.stem + "_dark.svg")


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__.strip().splitlines()[-1], file=sys.stderr)
        return 2
    for name in argv:
        path = Path(name)
        if not path.is_file() or path.suffix != ".svg":
            print(f"error: {name} is not an .svg file", file=sys.stderr)
            return 2
        target = dark_path(path)
        partial = target.with_name(target.name + ".partial")
        partial.write_text(dark_variant(path.read_text()))
        partial.replace(target)
        print(f"wrote {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
