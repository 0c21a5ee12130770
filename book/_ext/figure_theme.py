"""Bokeh figures that read well in the book's dark theme too (``static/cnn_tutorial_figures.css``).

Bokeh has no notion of the page's theme: it draws dark text on white. The style sheet inverts a
figure's lightness in the dark theme only (the theme sets ``data-theme="dark"`` on ``<html>``).
"""

from __future__ import annotations

from pathlib import Path

STATIC = Path(__file__).with_name("static")
STYLE_SHEET = "cnn_tutorial_figures.css"


def add_static_path(app) -> None:
    """``builder-inited``: copy this extension's ``static/`` folder into the book's ``_static/``."""
    app.config.html_static_path.append(str(STATIC))


def setup(app):
    app.connect("builder-inited", add_static_path)
    app.add_css_file(STYLE_SHEET)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
