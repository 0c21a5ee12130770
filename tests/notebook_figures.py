"""Compare the Bokeh figures stored in the chapters with fresh ones: structure exactly, numbers within
a tolerance.

A figure's stored output (see ``cnn_tutorial.figures.display``) is a ``<div>`` plus a script that holds the
figure as JSON, its arrays as base64 (often gzipped) bytes. The data of a figure is computed, and
computed numbers differ in their last bits from one CPU, BLAS kernel or thread count to another, so
comparing those bytes exactly would fail on a reader's computer. Masking them would let a wrong
figure pass. So a figure is compared as a tree:

* every key, string, integer, boolean, list length, array shape, dtype and byte order exactly;
* every floating-point number, in arrays and in the JSON alike, within ``|fresh - stored| <=
  RTOL * |stored| + ATOL * scale``, where ``scale`` is the largest finite ``|stored|`` of the array
  (for a single number: the number itself); NaN and infinities exactly where they were;
* Bokeh's model ids not at all (a per-process counter; ``book/sanitize.cfg`` masks them too).

:func:`install` makes ``pytest --nbval`` do this (the root ``conftest.py`` loads this module as a
plugin, whose ``pytest_configure`` calls it). When a fresh figure agrees with the stored one, nbval's
own strict comparison of the whole output is handed the stored figure's JSON in its place, so
everything around the JSON is still compared character for character. When they disagree, the cell
fails and the message names the first difference (path, stored value, fresh value).
"""

from __future__ import annotations

import base64
import copy
import gzip
import json
import re

import numpy as np

from cnn_tutorial.figures.display import CSS_CLASS

# Chosen from the spread measured across CPUs, BLAS kernels and thread counts: the figures that
# differ there use at most 9 % of it (CONTRIBUTING.md, "Portable outputs").
RTOL = 1e-4
ATOL = 1e-5

# The figure JSON inside the script cnn_tutorial.figures.display writes: ``var item = {...};``.
_ITEM = re.compile(r"(?<=\bvar item = )(\{.*?\})(?=;\n)", re.DOTALL)
_MARKER = f'class="{CSS_CLASS}"'
_IGNORED_KEYS = {"id", "root_id"}


def figure_json(html: str) -> str | None:
    """The figure's JSON text inside ``html``, or None when ``html`` is not one of the book's figures.

    Raises
    ------
    ValueError
        ``html`` is marked as a figure but holds no figure JSON (the loader's template changed).
    """
    if _MARKER not in html:
        return None
    match = _ITEM.search(html)
    if match is None:
        raise ValueError(
            "a Bokeh figure's HTML without 'var item = {...};' (has display.py's template changed?)"
        )
    return match.group(1)


def decode_ndarray(node: dict) -> np.ndarray:
    """The array of a serialized Bokeh ``{"type": "ndarray", ...}`` node."""
    payload = node["array"]
    if isinstance(payload, list):  # small or non-numeric arrays are plain JSON lists
        return np.array(payload)
    raw = base64.b64decode(payload["data"])
    if raw[:2] == b"\x1f\x8b":  # Bokeh gzips large buffers
        raw = gzip.decompress(raw)
    dtype = np.dtype(node["dtype"]).newbyteorder(
        "<" if node.get("order", "little") == "little" else ">"
    )
    return np.frombuffer(raw, dtype=dtype).reshape(node["shape"])


class _TreeComparison:
    """One walk over a stored and a fresh figure tree; ``worst`` is the largest share of the
    tolerance any number used (0: all identical, above 1: beyond the tolerance)."""

    def __init__(self) -> None:
        self.worst = 0.0

    def _use(self, deviation: np.ndarray, allowed: np.ndarray) -> np.ndarray:
        """Record how much of the tolerance ``deviation`` used; True where it is within it."""
        with np.errstate(divide="ignore", invalid="ignore"):
            share = np.where(deviation == 0, 0.0, deviation / allowed)
        if share.size:
            self.worst = max(self.worst, float(np.max(share)))
        return share <= 1

    def arrays(self, fresh: np.ndarray, stored: np.ndarray, path: str) -> str | None:
        if fresh.shape != stored.shape or fresh.dtype != stored.dtype:
            kinds = [f"{a.dtype}{list(a.shape)}" for a in (stored, fresh)]
            return f"{path}: stored array {kinds[0]}, fresh {kinds[1]}"
        stored64 = stored.astype(np.float64).ravel() if stored.dtype.kind == "f" else stored.ravel()
        fresh64 = fresh.astype(np.float64).ravel() if stored.dtype.kind == "f" else fresh.ravel()
        if stored.dtype.kind != "f":
            ok = fresh64 == stored64
        else:
            finite = np.isfinite(stored64)
            special_kept = np.where(
                finite,
                np.isfinite(fresh64),
                (fresh64 == stored64) | (np.isnan(fresh64) & np.isnan(stored64)),
            )
            scale = float(np.max(np.abs(stored64[finite]))) if finite.any() else 0.0
            with np.errstate(invalid="ignore"):  # inf - inf where both are infinite: judged above
                deviation = np.where(finite & special_kept, np.abs(fresh64 - stored64), 0.0)
            ok = special_kept & self._use(deviation, RTOL * np.abs(stored64) + ATOL * scale)
        if ok.all():
            return None
        index = int(np.flatnonzero(~ok)[0])
        where = [int(i) for i in np.unravel_index(index, stored.shape)] if stored.ndim else ""
        beyond = (
            f" ({int(np.sum(~ok))} of {ok.size} values beyond {RTOL:g} relative + {ATOL:g} x {scale:.4g})"
            if stored.dtype.kind == "f"
            else ""
        )
        return f"{path}{where}: stored {stored64[index].item()!r}, fresh {fresh64[index].item()!r}{beyond}"

    def trees(self, fresh, stored, path: str) -> str | None:
        if isinstance(stored, dict) and stored.get("type") == "ndarray":
            if not (isinstance(fresh, dict) and fresh.get("type") == "ndarray"):
                return f"{path}: stored an array, fresh {type(fresh).__name__}"
            return self.arrays(decode_ndarray(fresh), decode_ndarray(stored), path)
        if type(fresh) is not type(stored):
            return f"{path}: stored {stored!r}, fresh {fresh!r}"
        if (
            isinstance(stored, dict)
            and stored.get("type") == "map"
            and isinstance(stored.get("entries"), list)
        ):
            # A column data source: name each column in the path.
            if len(fresh.get("entries", [])) != len(stored["entries"]):
                counts = len(stored["entries"]), len(fresh.get("entries", []))
                return f"{path}: stored {counts[0]} entries, fresh {counts[1]}"
            for (fresh_key, fresh_value), (key, value) in zip(fresh["entries"], stored["entries"]):
                difference = self.trees(fresh_key, key, path) or self.trees(
                    fresh_value, value, f"{path}[{key!r}]"
                )
                if difference:
                    return difference
            return None
        if isinstance(stored, dict) and stored.get("type") == "object" and "attributes" in stored:
            # A Bokeh model: name it by class (and by its own name, if it has one) instead of by keys.
            label = stored.get("name", "object")
            if isinstance(stored["attributes"].get("name"), str):
                label += f"({stored['attributes']['name']})"
            if fresh.get("name") != stored.get("name"):
                return f"{path}: stored a {stored.get('name')}, fresh a {fresh.get('name')}"
            return self.trees(fresh.get("attributes"), stored["attributes"], f"{path}.{label}")
        if isinstance(stored, dict):
            if fresh.keys() != stored.keys():
                return f"{path}: stored keys {sorted(stored)}, fresh keys {sorted(fresh)}"
            pairs = [
                (fresh[key], stored[key], f"{path}.{key}")
                for key in stored
                if key not in _IGNORED_KEYS
            ]
        elif isinstance(stored, list):
            if len(fresh) != len(stored):
                return f"{path}: stored {len(stored)} items, fresh {len(fresh)}"
            pairs = [(f, s, f"{path}[{index}]") for index, (f, s) in enumerate(zip(fresh, stored))]
        elif isinstance(stored, float):
            return self.arrays(np.array(fresh), np.array(stored), path)
        else:
            return None if fresh == stored else f"{path}: stored {stored!r}, fresh {fresh!r}"
        for fresh_item, stored_item, item_path in pairs:
            difference = self.trees(fresh_item, stored_item, item_path)
            if difference:
                return difference
        return None


def compare_trees(fresh, stored) -> str | None:
    """The first difference between two figure JSON trees beyond the tolerance, or None."""
    return _TreeComparison().trees(fresh, stored, "$")


def _compare_figure_html(fresh_html: str, stored_html: str) -> tuple[str | None, str, float]:
    """:func:`compare_figure_html`, plus the largest share of the tolerance any number used."""
    fresh_text, stored_text = figure_json(fresh_html), figure_json(stored_html)
    if fresh_text is None or stored_text is None:
        if (fresh_text is None) != (stored_text is None):
            return (
                (
                    "stored output is a figure, fresh one is not"
                    if fresh_text is None
                    else "fresh output is a figure, stored one is not"
                ),
                fresh_html,
                0.0,
            )
        return None, fresh_html, 0.0
    comparison = _TreeComparison()
    difference = comparison.trees(json.loads(fresh_text), json.loads(stored_text), "$")
    if difference:
        return f"figure data differ beyond tolerance: {difference}", fresh_html, comparison.worst
    return None, fresh_html.replace(fresh_text, stored_text, 1), comparison.worst


def compare_figure_html(fresh_html: str, stored_html: str) -> tuple[str | None, str]:
    """Compare the figures in two HTML outputs.

    Returns
    -------
    difference : str or None
        The first difference beyond the tolerance, or None.
    html : str
        ``fresh_html``, with the stored figure JSON in place of its own when they agree (so that an
        exact comparison of the rest can follow); otherwise unchanged.
    """
    difference, html, _ = _compare_figure_html(fresh_html, stored_html)
    return difference, html


def _html_outputs(outputs) -> list:
    return [output for output in outputs if "text/html" in output.get("data", {})]


def compare_cell_figures(fresh_outputs, stored_outputs) -> tuple[str | None, list, float]:
    """Apply :func:`compare_figure_html` to the HTML outputs of one cell, in order.

    Returns the first difference (or None), a copy of ``fresh_outputs`` whose agreeing figures
    carry the stored JSON, and the largest share of the tolerance any number used (for reports).
    Cells whose numbers of HTML outputs differ are left to nbval to report.
    """
    fresh_outputs = copy.deepcopy(fresh_outputs)
    fresh_html, stored_html = _html_outputs(fresh_outputs), _html_outputs(stored_outputs)
    if len(fresh_html) != len(stored_html):
        return None, fresh_outputs, 0.0
    worst = 0.0
    for fresh, stored in zip(fresh_html, stored_html):
        difference, html, used = _compare_figure_html(
            fresh["data"]["text/html"], stored["data"]["text/html"]
        )
        worst = max(worst, used)
        if difference:
            return difference, fresh_outputs, worst
        fresh["data"]["text/html"] = html
    return None, fresh_outputs, worst


def install() -> None:
    """Make nbval compare the book's figures with :func:`compare_cell_figures` before its own check."""
    from nbval.plugin import IPyNbCell

    original = IPyNbCell.compare_outputs
    if getattr(original, "compares_figures", False):
        return

    def compare_outputs(self, test, ref, skip_compare=None):
        difference, test, _ = compare_cell_figures(test, ref)
        if difference:
            self.comparison_traceback = [difference]
            return False
        return original(self, test, ref, skip_compare)

    compare_outputs.compares_figures = True
    IPyNbCell.compare_outputs = compare_outputs


def pytest_configure(config) -> None:
    """As a pytest plugin (``pytest_plugins`` in the root ``conftest.py``, or ``-p notebook_figures``)."""
    install()
