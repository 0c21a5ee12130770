"""Repository-wide pytest setup.

``pytest --nbval book/`` starts one Jupyter kernel per chapter from this process, so the kernels
inherit its environment. Give them the same seeded environment as scripts/refresh_notebooks.py,
which wrote the outputs they are compared with.

Chapters run in the book's order (``_toc.yml``), not alphabetically: a later chapter may reuse what
an earlier one saved (the PyTorch checkpoint), exactly as for a reader going front to back.

The book's Bokeh figures are compared by ``tests/notebook_figures.py``: their structure exactly,
their numbers within a tolerance (a figure's data differs in its last bits from CPU to CPU).

``scripts`` and ``tests`` are packages, importable because pytest puts this file's folder, the
repository root, on the import path (as ``python -m`` does with the working directory).
"""

import os
from pathlib import Path

from scripts.refresh_notebooks import SEEDED_ENV
from scripts.toc import chapter_notebooks

REPO = Path(__file__).resolve().parent

pytest_plugins = ["tests.notebook_figures"]

# The environment the stored outputs were made in (a fixed hash seed, no progress bars), unless set.
for name, value in SEEDED_ENV.items():
    os.environ.setdefault(name, value)


def pytest_collection_modifyitems(session, config, items):
    order = {path: index for index, path in enumerate(chapter_notebooks(REPO))}
    # A stable sort keeps the cells of each notebook, and every non-notebook test, in their order.
    items.sort(key=lambda item: order.get(Path(str(item.fspath)).resolve(), -1))
