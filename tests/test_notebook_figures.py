"""Tests for notebook_figures: stored and fresh figures agree within the tolerance, and a wrong one fails."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import numpy as np
import pytest

from cnn_tutorial.figures.display import figure_html
from cnn_tutorial.figures.pictures import image_grid
from cnn_tutorial.figures.plots import plot_history
from cnn_tutorial.history import History
from tests import notebook_figures as nf

REPO = Path(__file__).resolve().parents[1]


def maps(scale: float = 1.0) -> np.ndarray:
    """Four signed 26 x 26 float32 maps, as convolution outputs look (about 2,700 values)."""
    return (scale * np.random.default_rng(0).standard_normal((4, 26, 26))).astype(np.float32)


def grid_html(images: np.ndarray, titles=("a", "b", "c", "d")) -> str:
    return figure_html(
        image_grid(images, titles=list(titles), diverging=True), element_id="cnn-bokeh-x"
    )


def history(losses: np.ndarray, epochs: int = 2) -> History:
    return History(
        framework="numpy",
        step_loss=losses.tolist(),
        step_accuracy=np.linspace(0.1, 0.99, len(losses)).tolist(),
        epoch_validation_loss=[0.09, 0.05][:epochs],
        epoch_validation_accuracy=[0.97, 0.985][:epochs],
        steps_per_epoch=len(losses) // 2,
    )


LOSSES = np.linspace(2.3, 0.05, 200)


def test_the_same_figure_agrees_and_keeps_its_html():
    stored = grid_html(maps())
    difference, html = nf.compare_figure_html(grid_html(maps()), stored)
    assert difference is None and html == stored


def test_last_bit_differences_pass_and_the_stored_json_takes_their_place():
    data = maps()
    fresh = np.nextafter(data, np.float32(np.inf))  # every value one unit in the last place up
    fresh_html, stored_html = grid_html(fresh), grid_html(data)
    assert fresh_html != stored_html
    difference, html = nf.compare_figure_html(fresh_html, stored_html)
    assert difference is None and html == stored_html


def test_values_beyond_the_tolerance_fail_and_name_the_place():
    data = maps()
    wrong = data.copy()
    wrong[2, 5, 7] += 1e-3 * np.abs(data).max()
    difference, _ = nf.compare_figure_html(grid_html(wrong), grid_html(data))
    assert difference is not None and "image" in difference and "1 of 676 values" in difference


def test_a_wrong_shape_fails():
    difference, _ = nf.compare_figure_html(grid_html(maps()[:, :25]), grid_html(maps()))
    assert difference is not None and "Figure(image-0)" in difference


def test_a_wrong_title_fails():
    difference, _ = nf.compare_figure_html(grid_html(maps(), "abcx"), grid_html(maps()))
    assert difference is not None and "'x'" in difference


def test_a_missing_series_fails():
    stored = figure_html(plot_history(history(LOSSES)), element_id="cnn-bokeh-x")
    fresh_history = history(LOSSES, epochs=1)  # one validation marker fewer
    fresh = figure_html(plot_history(fresh_history), element_id="cnn-bokeh-x")
    difference, _ = nf.compare_figure_html(fresh, stored)
    assert difference is not None and "validation_loss" in difference


def test_line_data_within_and_beyond_the_tolerance():
    stored = figure_html(plot_history(history(LOSSES)), element_id="cnn-bokeh-x")
    nearly = figure_html(plot_history(history(LOSSES * (1 + 1e-9))), element_id="cnn-bokeh-x")
    assert nf.compare_figure_html(nearly, stored)[0] is None
    off = LOSSES.copy()
    off[100] *= 1.01
    difference = nf.compare_figure_html(
        figure_html(plot_history(history(off)), element_id="cnn-bokeh-x"), stored
    )[0]
    assert difference is not None and "loss" in difference


def test_nan_and_inf_must_stay_where_they_were():
    data = maps()
    data[0, 0, 0] = np.nan
    moved = maps()
    moved[0, 0, 1] = np.nan
    assert nf.compare_figure_html(grid_html(data), grid_html(data))[0] is None
    assert nf.compare_figure_html(grid_html(moved), grid_html(data))[0] is not None


def test_numbers_in_the_json_are_compared_with_the_tolerance():
    stored = {"type": "object", "id": "p1", "attributes": {"low": -0.25, "high": 0.25, "width": 90}}
    assert nf.compare_trees({**stored, "id": "p7"}, stored) is None  # model ids are not compared
    assert (
        nf.compare_trees(
            {**stored, "attributes": {"low": -0.25 * (1 + 1e-7), "high": 0.25, "width": 90}}, stored
        )
        is None
    )
    assert "low" in nf.compare_trees(
        {**stored, "attributes": {"low": -0.26, "high": 0.25, "width": 90}}, stored
    )
    assert "width" in nf.compare_trees(
        {**stored, "attributes": {"low": -0.25, "high": 0.25, "width": 91}}, stored
    )


def test_other_html_is_left_alone_and_figure_against_non_figure_fails():
    assert nf.compare_figure_html("<b>x</b>", "<b>y</b>") == (None, "<b>x</b>")
    difference, _ = nf.compare_figure_html("<b>x</b>", grid_html(maps()))
    assert difference is not None and "not" in difference


def test_a_broken_template_is_reported():
    with pytest.raises(ValueError, match="var item"):
        nf.figure_json('<div class="cnn-tutorial-bokeh"></div>')


def test_cell_outputs_are_compared_in_order_and_not_modified():
    stored = [
        nbformat.v4.new_output(
            "display_data", {"text/html": grid_html(maps()), "text/plain": "<Bokeh>"}
        )
    ]
    fresh = [
        nbformat.v4.new_output(
            "display_data",
            {"text/html": grid_html(np.nextafter(maps(), 0)), "text/plain": "<Bokeh>"},
        )
    ]
    fresh_before = json.dumps(fresh)
    difference, replaced, used = nf.compare_cell_figures(fresh, stored)
    assert difference is None and replaced == stored and json.dumps(fresh) == fresh_before
    assert 0 < used < 1  # last-bit differences use a little of the tolerance


# ------------------------------------------------------------ end to end, through nbval


FIGURE_CELL = """\
import os
import numpy as np
from IPython.display import HTML, display
from cnn_tutorial.figures.display import figure_html
from cnn_tutorial.figures.pictures import image_grid
data = np.random.default_rng(0).standard_normal((2, 8, 8)).astype(np.float32)
data *= np.float32(1 + float(os.environ.get("FIGURE_PERTURBATION", "0")))
display(HTML(figure_html(image_grid(data, diverging=True), element_id="cnn-bokeh-test")))
"""


def run_nbval(path: Path, perturbation: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "FIGURE_PERTURBATION": perturbation}
    # `python -m` in the repository: `tests.notebook_figures` is importable from the working directory.
    command = [
        sys.executable,
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        "-p",
        "tests.notebook_figures",
        "-c",
        str(REPO / "pyproject.toml"),
        "--rootdir",
        str(path.parent),
        "--nbval",
        str(path),
    ]
    return subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def stored_notebook(tmp_path_factory) -> Path:
    from nbclient import NotebookClient

    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(FIGURE_CELL)])
    notebook.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    path = tmp_path_factory.mktemp("figure") / "figure.ipynb"
    NotebookClient(notebook, kernel_name="python3", timeout=120).execute()
    nbformat.write(notebook, path)
    return path


def test_nbval_passes_a_figure_that_differs_in_its_last_bits(stored_notebook):
    result = run_nbval(stored_notebook, "1e-7")
    assert result.returncode == 0, result.stdout + result.stderr


def test_nbval_fails_a_figure_with_wrong_values(stored_notebook):
    result = run_nbval(stored_notebook, "1e-3")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "figure data differ beyond tolerance" in result.stdout
