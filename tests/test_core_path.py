"""The core path of the book stays a course a learner can finish (issue 24's budget and rules).

* its prose, as a reader sees it with folds closed, stays within the budget: at most 15,000 words
  for the whole part (the introduction included) and 5,000 per chapter;
* its visible code, and the package source it shows, hold none of the speed or scale-out
  machinery that "Going further" teaches;
* the reading order puts "Why convolutions" before the chapters that build on it.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from scripts.prose_words import HIDDEN_INPUT, MACHINERY, chapter_counts, toc_parts

REPO = Path(__file__).resolve().parents[1]

CORE = "The core path"
PART_BUDGET = 15_000
CHAPTER_BUDGET = 5_000


def core_pages() -> list[Path]:
    parts = toc_parts()
    return parts["(root)"] + parts[CORE]


def test_the_toc_has_parts_and_why_convolutions_opens_the_core_path():
    toc = yaml.safe_load((REPO / "_toc.yml").read_text())
    captions = [part["caption"] for part in toc["parts"]]
    assert captions[:2] == [CORE, "Going further"]
    core = [entry["file"] for entry in toc["parts"][0]["chapters"]]
    assert (
        core.index("book/why_convolutions")
        < core.index("book/forward_ops")
        < core.index("book/backprop")
    )
    assert core.index("book/pytorch_convnet") + 1 == core.index("book/numpy_meets_pytorch")


def test_core_prose_stays_within_budget():
    counts = {path.stem: chapter_counts(path)[0] for path in core_pages()}
    too_long = {name: words for name, words in counts.items() if words > CHAPTER_BUDGET}
    assert not too_long, f"chapters over {CHAPTER_BUDGET} words: {too_long}"
    assert sum(counts.values()) <= PART_BUDGET, counts


def _visible_code(notebook: Path):
    """(cell index, text) of each visible code cell's source and of the package source it shows."""
    folded = False
    for index, cell in enumerate(json.loads(notebook.read_text())["cells"]):
        source = "".join(cell["source"])
        if cell["cell_type"] == "markdown":
            folded = ("solution-start" in source or folded) and "solution-end" not in source
            continue
        if folded or set(cell.get("metadata", {}).get("tags", [])) & HIDDEN_INPUT:
            continue
        yield index, source
        if "show_source(" in source:
            for output in cell.get("outputs", []):
                yield index, "".join(output.get("data", {}).get("text/plain", ""))


@pytest.mark.parametrize(
    "notebook", [p for p in core_pages() if p.suffix == ".ipynb"], ids=lambda p: p.stem
)
def test_core_code_shows_no_speed_or_scale_out_machinery(notebook):
    found = [
        (index, word)
        for index, text in _visible_code(notebook)
        for word in MACHINERY
        if re.search(rf"\b{re.escape(word)}", text)
    ]
    assert not found, f"{notebook.name}: machinery in visible code (cell, word): {found}"
