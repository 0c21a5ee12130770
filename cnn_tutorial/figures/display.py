"""Show Bokeh figures in notebooks so they also render in the built book, offline.

A chapter ends a plotting cell with ``show(fig)``. The cell's stored output is one ``text/html``
block: an empty ``<div>`` plus a small script holding the figure as JSON
(:func:`bokeh.embed.json_item`). The script draws the figure with whatever BokehJS the page has:

* **The built book**: the book's Sphinx extension (``book/_ext/bokehjs_local.py``) sees the
  ``<div>``'s ``data-bokehjs`` attribute and puts the matching BokehJS files, copied from the
  installed ``bokeh`` package into the book's ``_static/``, in that page's ``<head>``. ``Bokeh`` is
  therefore defined before the script runs, and nothing is fetched from another site.
* **Jupyter, Binder, Colab**: no BokehJS on the page, so the script fetches the version that wrote
  the JSON from Bokeh's CDN (once per page; Colab isolates each output, so once per output).

Why not :func:`bokeh.io.show` with :func:`bokeh.io.output_notebook`: its outputs use Bokeh's own
MIME types, which the book's renderer (myst-nb) skips with a warning, and its BokehJS either comes
from the CDN or is inlined, megabytes per notebook. Why not :func:`bokeh.embed.components`: same
idea, but it needs BokehJS before its script runs, which only the book can promise.

The stored HTML contains a random element id and Bokeh's model ids; ``book/sanitize.cfg`` masks
both so that ``pytest --nbval`` compares everything else strictly.
"""

from __future__ import annotations

import html
import json
import uuid
from pathlib import Path

from bokeh.embed import json_item
from bokeh.embed.bundle import bundle_for_objs_and_resources
from bokeh.model import Model
from bokeh.models import Title
from bokeh.resources import CDN, Resources

from ..params import Optional, Rule, validate_params

__all__ = ["show", "figure_html", "default_alt", "installed_bokehjs"]

# Marks the container of every figure; the book's extension and browser test look for it.
CSS_CLASS = "cnn-tutorial-bokeh"

# %-style placeholders keep the JavaScript's own braces readable.
_LOADER = """\
<div class="%(css_class)s" id="%(element_id)s" data-bokehjs="%(components)s" \
data-bokeh-version="%(version)s" data-alt="%(alt_source)s" role="figure" aria-label="%(alt)s"></div>
<script type="text/javascript">
(function () {
  var item = %(item)s;
  var target = "%(element_id)s";
  var urls = %(cdn_urls)s;
  // The book's page script restyles the figure's frame to the page's theme (a no-op elsewhere).
  function themed() { if (window.cnnTutorialFigureTheme) window.cnnTutorialFigureTheme(); }
  function embed() { return window.Bokeh.embed.embed_item(item, target).then(themed); }
  // The built book loaded BokehJS in <head>; so did bokeh.io.output_notebook(), if it was called.
  if (window.Bokeh && !window.cnnTutorialBokehJS) { embed(); return; }
  // Otherwise load what this figure needs from the CDN, in order (core first), each file once.
  var loads = window.cnnTutorialBokehJS = window.cnnTutorialBokehJS || {};
  urls.reduce(function (previous, url) {
    return previous.then(function () {
      loads[url] = loads[url] || new Promise(function (resolve, reject) {
        var script = document.createElement("script");
        script.src = url;
        script.onload = resolve;
        script.onerror = function () { reject(new Error("could not load " + url)); };
        document.head.appendChild(script);
      });
      return loads[url];
    });
  }, Promise.resolve()).then(embed, function (error) {
    document.getElementById(target).textContent = "The plot needs BokehJS: " + error.message;
  });
})();
</script>"""


def _script_safe_json(value) -> str:
    """JSON that cannot end the surrounding ``<script>`` early (``</script>`` in a title, say)."""
    text = json.dumps(value, separators=(",", ":"))
    return (
        text.replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("&", "\\u0026")
    )


def installed_bokehjs() -> dict[str, Path]:
    """The minified BokehJS bundles of the installed ``bokeh`` package, by name.

    Returns
    -------
    dict of str to Path
        E.g. ``{"bokeh": .../bokeh.min.js, "bokeh-gl": ..., "bokeh-widgets": ..., ...}``, core
        (``"bokeh"``) first: the others build on it and must load after it.
    """
    paths = [
        Path(str(path))
        for path in Resources(mode="absolute", minified=True).js_files
    ]
    return {_bundle_name(path): path for path in paths}


def _bundle_name(path: Path) -> str:
    return path.name.removesuffix(".min.js")


def _bokeh_model(name, obj):
    """``obj``, a Bokeh figure or layout."""
    if not isinstance(obj, Model):
        raise TypeError(
            f"show() takes a Bokeh figure or layout, got {type(obj).__name__}"
        )
    return obj


def _description(name, alt):
    """``alt``, a string that is not blank."""
    if not isinstance(alt, str):
        raise TypeError(
            f"{name} must be a str describing the figure, got {type(alt).__name__}"
        )
    if not alt.strip():
        raise ValueError(
            f"{name} must be a non-empty description of the figure, got {alt!r}"
        )
    return alt


# alt is declared before obj: obj's rule offers no good example (a Bokeh model made at import
# would take a model id), so only this order lets the shared bad-input test reach alt.
@validate_params(
    alt=Optional(
        Rule(_description, bad=[(3, TypeError), (" ", ValueError)])
    ),
    obj=Rule(_bokeh_model, bad=[(object(), TypeError)]),
)
def figure_html(
    obj: Model, element_id: str | None = None, alt: str | None = None
) -> str:
    """The HTML that :func:`show` displays: a ``<div>`` and the script that draws ``obj`` into it.

    Parameters
    ----------
    obj : bokeh.model.Model
        A figure or layout (anything :func:`bokeh.embed.json_item` accepts).
    element_id : str, optional
        The ``id`` of the ``<div>``. Default: ``"cnn-bokeh-"`` plus a random hex uuid, so several
        figures on one page never collide.
    alt : str, optional
        What the figure shows, in words: the ``aria-label`` of the ``<div>`` (``role="figure"``),
        which a screen reader reads out, since Bokeh's canvases carry no text of their own.
        Default: :func:`default_alt`, marked ``data-alt="default"``; the book then takes the
        description from the notebook cell's ``alt`` metadata (``book/_ext/figure_theme.py``).

    Returns
    -------
    str
        Self-contained HTML. ``data-bokehjs`` on the ``<div>`` names the BokehJS bundles the figure
        needs (``"bokeh"``, ``"bokeh-widgets"``, ...); ``data-bokeh-version`` the Bokeh version.
    """
    alt_source = "default" if alt is None else "given"
    if alt is None:
        alt = default_alt(obj)
    if element_id is None:
        element_id = f"cnn-bokeh-{uuid.uuid4().hex}"
    # The bundles this figure needs: named as in installed_bokehjs(), fetched from the CDN in notebooks.
    local_files = bundle_for_objs_and_resources(
        [obj], Resources(mode="absolute")
    ).js_files
    components = [_bundle_name(Path(str(path))) for path in local_files]
    cdn_urls = [
        str(url)
        for url in bundle_for_objs_and_resources([obj], CDN).js_files
    ]
    item = json_item(obj)
    return _LOADER % {
        "css_class": CSS_CLASS,
        "element_id": element_id,
        "components": " ".join(components),
        "version": item["doc"]["version"],
        "item": _script_safe_json(item),
        "cdn_urls": _script_safe_json(cdn_urls),
        "alt": html.escape(alt.strip(), quote=True),
        "alt_source": alt_source,
    }


def default_alt(obj: Model) -> str:
    """A figure's titles as a short description, e.g. ``"Figure: Training the numpy CNN"``.

    What :func:`show` labels a figure with when no ``alt`` is given; the book replaces it with
    the description stored in the cell's metadata.
    """
    titles = []
    for text in _titles(obj):
        if text not in titles:
            titles.append(text)
    return "Figure: " + "; ".join(titles[:4]) if titles else "A figure"


def _titles(model):
    """The titles of a figure or layout, in reading order (rows, then columns)."""
    title = getattr(model, "title", None)
    if isinstance(title, Title) and str(title.text or "").strip():
        yield str(title.text).strip()
    elif isinstance(title, str) and title.strip():
        yield title.strip()
    for child in getattr(model, "children", None) or []:
        child = (
            child[0] if isinstance(child, tuple) else child
        )  # GridBox: (model, row, col)
        if isinstance(child, Model):
            yield from _titles(child)


def show(obj: Model, *, alt: str | None = None) -> None:
    """Display a Bokeh figure or layout in a notebook, in a way the built book renders offline.

    End a notebook cell with ``show(fig)``. See the module docstring for how the figure reaches
    the page in Jupyter, Binder, Colab and the book.

    Parameters
    ----------
    obj : bokeh.model.Model
        A figure or layout.
    alt : str, optional
        What the figure shows, in a sentence or two, for a reader who cannot see it (a screen
        reader reads it out). The chapters leave it out of their code and store it in the cell's
        metadata (``"alt"``), which the book uses; default: :func:`default_alt`.
    """
    from IPython.display import display  # only needed inside a kernel

    label = default_alt(obj) if alt is None else alt
    html_text = figure_html(obj, alt=alt)
    display(
        {
            "text/html": html_text,
            "text/plain": f"<Bokeh {type(obj).__name__}: {str(label).strip()}>",
        },
        raw=True,
    )
