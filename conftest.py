"""Repository-wide pytest setup.

``pytest --nbval book/`` starts one Jupyter kernel per chapter from this process, so the kernels
inherit its environment. Give them the same seeded environment as scripts/refresh_notebooks.py,
which wrote the outputs they are compared with.

Chapters run in the book's order (``_toc.yml``), not alphabetically: a later chapter may reuse what
an earlier one saved (the PyTorch checkpoint), exactly as for a reader going front to back.
"""

import os
from pathlib import Path

import yaml

os.environ.setdefault("PYTHONHASHSEED", "0")

REPO = Path(__file__).resolve().parent


def _toc_order() -> dict[Path, int]:
    toc = yaml.safe_load((REPO / "_toc.yml").read_text())
    files = [toc["root"]] + [entry["file"] for entry in toc.get("chapters", [])]
    return {(REPO / f"{name}.ipynb").resolve(): index for index, name in enumerate(files)}


def pytest_collection_modifyitems(session, config, items):
    order = _toc_order()
    # A stable sort keeps the cells of each notebook, and every non-notebook test, in their order.
    items.sort(key=lambda item: order.get(Path(str(item.fspath)).resolve(), -1))
