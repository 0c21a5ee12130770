"""The book's figure extension (``book/_ext/figure_theme.py``) and the diagrams' dark variants.

A chapter's figure cell shows ``show(fig)`` without a description; the description is the cell's
``alt`` metadata, which the extension writes into the figure's ``aria-label``. A figure without a
description, or a description without a figure, warns (and ``-W`` fails the book build).
"""

from __future__ import annotations

import importlib.util
import logging
from pathlib import Path

import pytest
from bokeh.plotting import figure
from docutils import nodes

from cnn_tutorial.figures import display
from scripts import dark_diagram

REPO = Path(__file__).resolve().parents[1]


def _load_extension():
    spec = importlib.util.spec_from_file_location(
        "figure_theme", REPO / "book/_ext/figure_theme.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


figure_theme = _load_extension()


class _App:  # what describe_figures reads of Sphinx's application
    class env:  # noqa: N801  (mirrors app.env)
        docname = "book/chapter"


def _cell(metadata: dict, *figures_alt) -> nodes.container:
    cell = nodes.container(nb_element="cell_code", cell_index=3, cell_metadata=metadata)
    for alt in figures_alt:
        fig = figure(width=100, height=100, title="Loss")
        fig.line([0, 1], [0, 1])
        html = display.figure_html(fig, element_id="cnn-bokeh-1", alt=alt)
        cell += nodes.raw(text=html, format="html")
    return cell


def _labels(cell) -> list[str]:
    return [raw.astext().split('aria-label="')[1].split('"')[0] for raw in cell.findall(nodes.raw)]


def test_the_cells_alt_becomes_the_figures_label():
    document = nodes.section()
    document += _cell({"alt": 'The loss "falls" <fast> &\n  settles.'}, None)
    figure_theme.describe_figures(_App, document)
    (cell,) = document.children
    assert _labels(cell) == ["The loss &quot;falls&quot; &lt;fast&gt; &amp; settles."]
    assert 'data-alt="cell"' in cell.children[0].astext()


def test_a_list_of_alts_labels_several_figures_in_order_and_a_given_alt_is_kept():
    document = nodes.section()
    document += _cell({"alt": ["First figure.", "Second figure."]}, None, "Kept as written.", None)
    figure_theme.describe_figures(_App, document)
    assert _labels(document.children[0]) == ["First figure.", "Kept as written.", "Second figure."]


@pytest.mark.parametrize(
    "metadata, figures",
    [({}, [None]), ({"alt": "A stale description."}, []), ({"alt": ["one"]}, [None, None])],
    ids=["figure without a description", "description without a figure", "one short"],
)
def test_a_mismatch_warns(caplog, metadata, figures):
    document = nodes.section()
    document += _cell(metadata, *figures)
    before = [raw.astext() for raw in document.findall(nodes.raw)]
    with caplog.at_level(logging.WARNING):
        figure_theme.describe_figures(_App, document)
    assert "book/chapter, cell 4" in caplog.text and "'alt' metadata" in caplog.text
    assert [raw.astext() for raw in document.findall(nodes.raw)] == before  # left as it was


def test_the_dark_diagrams_are_up_to_date():
    """Each diagram the book shows in the light theme has its dark variant, made from it."""
    light = [
        path for path in (REPO / "book/images").glob("*.svg") if not path.stem.endswith("_dark")
    ]
    assert light
    for path in light:
        dark = dark_diagram.dark_path(path)
        assert dark.read_text() == dark_diagram.dark_variant(path.read_text()), (
            f"run scripts/dark_diagram.py {path}"
        )


def test_the_dark_variant_swaps_page_colours_and_keeps_outlines():
    svg = '<svg xmlns="http://www.w3.org/2000/svg"><rect fill="white" stroke="#1f77b4"/><text>a</text></svg>'
    dark = dark_diagram.dark_variant(svg)
    assert 'fill="#14181e" stroke="#1f77b4"' in dark
    assert dark.startswith(f'<svg fill="{dark_diagram.TEXT}" ')
    with pytest.raises(ValueError, match="SVG"):
        dark_diagram.dark_variant("<html></html>")
