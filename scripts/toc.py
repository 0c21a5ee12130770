"""The book's chapters in reading order, from ``_toc.yml``.

Used by ``scripts/refresh_notebooks.py`` and by the root ``conftest.py``, so that refreshing and
testing run the chapters in the order a reader meets them: a later chapter may load what an
earlier one saved (the PyTorch chapter's checkpoint).
"""

from __future__ import annotations

from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]


def chapter_notebooks(repo: Path = REPO) -> list[Path]:
    """The ``.ipynb`` files named in ``repo/_toc.yml``, root first, in the order of the table of contents."""
    toc = yaml.safe_load((repo / "_toc.yml").read_text())
    entries = toc.get("chapters", []) + [
        entry for part in toc.get("parts", []) for entry in part["chapters"]
    ]
    names = [toc["root"]] + [entry["file"] for entry in entries]
    return [
        (repo / f"{name}.ipynb").resolve() for name in names if (repo / f"{name}.ipynb").is_file()
    ]
