"""Serve BokehJS from the book's own ``_static/`` folder: no CDN, nothing inlined, versions that match.

Figures shown with :func:`cnn_tutorial.figures.display.show` are stored in the notebooks as a ``<div>`` whose
``data-bokehjs`` attribute lists the BokehJS bundles they need. For every page holding such a
``<div>``, this extension copies those bundles from the installed ``bokeh`` package into
``_build/html/_static/bokeh/`` (once per build) and adds them to that page's ``<head>``, so ``Bokeh``
exists before the figure's own script runs. Pages without figures load no BokehJS at all.

The file names carry the version (``bokeh-3.9.2.min.js``) so browsers never reuse a stale copy.
A figure stored by another Bokeh version than the installed one is a build warning: BokehJS
cannot be trusted to read another version's JSON, and re-executing the chapters fixes it.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import bokeh
from docutils import nodes
from sphinx.util import logging

from cnn_tutorial.figures.display import installed_bokehjs

logger = logging.getLogger(__name__)

# Written by cnn_tutorial.figures.display.figure_html; attribute order is fixed there.
_FIGURE_DIV = re.compile(r'data-bokehjs="([^"]*)" data-bokeh-version="([^"]*)"')


def add_bokehjs_to_page(app, pagename, templatename, context, doctree) -> None:
    """``html-page-context``: give a page with Bokeh figures the BokehJS bundles they need."""
    if doctree is None:
        return
    needed: set[str] = set()
    versions: set[str] = set()
    for raw in doctree.findall(nodes.raw):
        for components, version in _FIGURE_DIV.findall(raw.astext()):
            needed.update(components.split())
            versions.add(version)
    for version in sorted(versions - {bokeh.__version__}):
        logger.warning(
            f"Bokeh figures stored by Bokeh {version}, but the book ships BokehJS "
            f"{bokeh.__version__}; re-execute the chapter (scripts/refresh_notebooks.py)",
            location=pagename,
            type="bokehjs",
            subtype="version",
        )
    available = installed_bokehjs()
    for name in sorted(needed - available.keys()):
        logger.warning(f"unknown BokehJS bundle {name!r}", location=pagename, type="bokehjs")
    static = Path(app.outdir, "_static", "bokeh")
    for name, source in available.items():  # dict order: core before the bundles built on it
        if name not in needed:
            continue
        filename = f"{name}-{bokeh.__version__}.min.js"
        if not (static / filename).exists():
            static.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, static / filename)
        # Called during html-page-context, add_js_file adds the script to this page only.
        app.add_js_file(f"bokeh/{filename}")


def setup(app):
    app.connect("html-page-context", add_bokehjs_to_page)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": False}
