"""Give every chapter the first code cell that installs the package on Google Colab.

    python -m scripts.colab_cell            # write or update the cell in every chapter
    python -m scripts.colab_cell --check    # exit 1 if a chapter's cell is missing or out of date

Colab opens a chapter's ``.ipynb`` alone, without the repository, so ``import cnn_tutorial`` would
fail there. The cell installs the package from the repository and branch that ``_config.yml``
names (``repository: url`` and ``branch``, which the launch buttons use too: one place for both),
only when it runs on Colab; elsewhere it does nothing and prints nothing, so local runs and the
notebook tests are unaffected. It is tagged ``remove-cell``: the book's pages do not show it.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import nbformat
import yaml

from scripts.toc import REPO, chapter_notebooks

CELL_ID = "colab-install"


def cell_source(repo: Path = REPO) -> str:
    """The cell's code, for the repository and branch of ``repo/_config.yml``."""
    repository = yaml.safe_load((repo / "_config.yml").read_text())["repository"]
    url, branch = repository["url"].rstrip("/"), repository["branch"]
    return f"""# On Google Colab only: install this book's package, cnn_tutorial, from
# {url} (branch {branch}). Elsewhere this cell does nothing.
import sys

if "google.colab" in sys.modules:
    import subprocess

    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet",
                    "cnn_tutorial @ git+{url}@{branch}"], check=True)"""


def first_code_cell(notebook) -> int | None:
    """Index of a notebook's first code cell, or None."""
    return next((i for i, cell in enumerate(notebook.cells) if cell.cell_type == "code"), None)


def up_to_date(notebook, source: str) -> bool:
    """True when the notebook's first code cell is the install cell, as ``source`` says."""
    i = first_code_cell(notebook)
    return (
        i is not None
        and notebook.cells[i].get("id") == CELL_ID
        and notebook.cells[i].source == source
        and notebook.cells[i].metadata.get("tags") == ["remove-cell"]
    )


def add_or_update(notebook, source: str) -> None:
    """Make the install cell the notebook's first code cell (before the first one there is)."""
    for i, cell in enumerate(notebook.cells):
        if cell.get("id") == CELL_ID:
            del notebook.cells[i]
            break
    cell = nbformat.v4.new_code_cell(source)
    cell["id"] = CELL_ID
    cell.metadata["tags"] = ["remove-cell"]
    i = first_code_cell(notebook)
    notebook.cells.insert(len(notebook.cells) if i is None else i, cell)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--check", action="store_true", help="only report chapters whose cell is missing or stale"
    )
    args = parser.parse_args(argv)
    source = cell_source()
    stale = []
    for path in chapter_notebooks():
        notebook = nbformat.read(path, as_version=4)
        if up_to_date(notebook, source):
            continue
        stale.append(path.name)
        if not args.check:
            add_or_update(notebook, source)
            nbformat.write(notebook, path)
    verb = "out of date" if args.check else "updated"
    print(f"{verb}: {', '.join(stale)}" if stale else "every chapter's Colab cell is up to date")
    return 1 if args.check and stale else 0


if __name__ == "__main__":
    sys.exit(main())
