"""Repository-wide pytest setup.

``pytest --nbval book/`` starts one Jupyter kernel per chapter from this process, so the kernels
inherit its environment. Give them the same seeded environment as scripts/refresh_notebooks.py,
which wrote the outputs they are compared with.

Chapters run in the book's order (``_toc.yml``), not alphabetically: a later chapter may reuse what
an earlier one saved (the PyTorch checkpoint), exactly as for a reader going front to back.

The book's Bokeh figures are compared by ``tests/notebook_figures.py``: their structure exactly,
their numbers within a tolerance (a figure's data differs in its last bits from CPU to CPU).
"""

import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent
sys.path[:0] = [str(REPO / "tests"), str(REPO / "scripts")]

from toc import chapter_notebooks  # noqa: E402  (scripts/toc.py)

pytest_plugins = ["notebook_figures"]  # tests/notebook_figures.py

os.environ.setdefault("PYTHONHASHSEED", "0")
# No progress bars in the chapters' outputs (a reader's live notebook shows them; see
# cnn_tutorial.checks.check_progress), as when scripts/refresh_notebooks.py stored them.
os.environ.setdefault("CNN_TUTORIAL_PROGRESS", "0")


def pytest_collection_modifyitems(session, config, items):
    order = {path: index for index, path in enumerate(chapter_notebooks(REPO))}
    # A stable sort keeps the cells of each notebook, and every non-notebook test, in their order.
    items.sort(key=lambda item: order.get(Path(str(item.fspath)).resolve(), -1))
