"""The book's figures in both themes, with their text alternatives (``static/``).

* **Colours.** Bokeh draws a figure's frame (background, axes, grid, titles, legend) in light-theme
  colours. ``cnn_tutorial_figures.js`` restyles every frame to the page's own colours when the dark
  theme is on, and back when the reader toggles it, without reloading; a figure's data keeps its
  colours in both themes. No CSS filter touches a figure.
* **Text alternatives.** A chapter's figure cell ends in ``show(fig)``, without a description in its
  code; the description lives in the cell's metadata, ``"alt"`` (a string, or a list for a cell
  that shows several figures). This extension writes it into the figure's ``aria-label`` (the
  ``<div>`` that :func:`cnn_tutorial.figures.display.figure_html` marks ``data-alt="default"``). A figure
  without a description, or a description without a figure, is a build warning.
* **Phones.** ``cnn_tutorial_figures.css`` lets a figure wider than the column scroll inside its
  own box, so nothing is cut at the page's edge.
"""

from __future__ import annotations

import html
import re
from pathlib import Path

from docutils import nodes
from sphinx.util import logging

STATIC = Path(__file__).with_name("static")
STYLE_SHEET = "cnn_tutorial_figures.css"
SCRIPT = "cnn_tutorial_figures.js"

LOGGER = logging.getLogger(__name__)
# The label show() writes when the code gives none; the cell's metadata replaces it.
DEFAULT_LABEL = re.compile(r'data-alt="default" role="figure" aria-label="[^"]*"')


def add_static_path(app) -> None:
    """``builder-inited``: copy this extension's ``static/`` folder into the book's ``_static/``."""
    app.config.html_static_path.append(str(STATIC))


def describe_figures(app, doctree) -> None:
    """``doctree-read``: each figure cell's ``alt`` metadata into its figures' ``aria-label``."""
    for cell in doctree.findall(nodes.container):
        if cell.get("nb_element") != "cell_code":
            continue
        alt = cell.get("cell_metadata", {}).get("alt")
        alts = [alt] if isinstance(alt, str) else list(alt or [])
        where = f"{app.env.docname}, cell {cell.get('cell_index', 0) + 1}"
        outputs = [raw for raw in cell.findall(nodes.raw) if DEFAULT_LABEL.search(raw.astext())]
        labels = sum(len(DEFAULT_LABEL.findall(raw.astext())) for raw in outputs)
        if labels != len(alts):
            LOGGER.warning(
                f"{where}: {labels} figure(s) without a description in the code, "
                f"{len(alts)} in the cell's 'alt' metadata",
                location=cell,
            )
            continue
        for raw in outputs:
            text = DEFAULT_LABEL.sub(lambda _, alts=alts: _label(alts.pop(0)), raw.astext())
            raw.children = [nodes.Text(text)]


def _label(alt: str) -> str:
    text = " ".join(str(alt).split())
    return f'data-alt="cell" role="figure" aria-label="{html.escape(text, quote=True)}"'


def setup(app):
    app.connect("builder-inited", add_static_path)
    app.connect("doctree-read", describe_figures)
    app.add_css_file(STYLE_SHEET)
    app.add_js_file(SCRIPT)
    return {"version": "2.0", "parallel_read_safe": True, "parallel_write_safe": True}
