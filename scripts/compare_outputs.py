"""Which stored outputs of a chapter change when it runs elsewhere: compare two executed copies.

    python -m scripts.compare_outputs book/backprop.ipynb /elsewhere/book/backprop.ipynb
    python -m scripts.compare_outputs book/ /elsewhere/book/            # every chapter in both

Run a chapter on another machine, or here as another CPU would (``python -m scripts.other_cpu
python -m scripts.refresh_notebooks --out DIR``), then compare. Each code cell is reported as

* ``same``: identical once book/sanitize.cfg is applied, as ``pytest --nbval`` compares it;
* ``figures within tolerance (N % of it used)``: only figure numbers differ, within the tolerance
  of tests/notebook_figures.py;
* ``not compared``: tagged ``nbval-ignore-output``; the lines that differ are still shown;
* ``DIFFERS``: what nbval would fail on, with the lines that differ.

The exit status is 1 when some compared cell differs.
"""

from __future__ import annotations

import argparse
import configparser
import difflib
import re
import sys
from pathlib import Path

import nbformat
from nbval.plugin import coalesce_streams

from tests import notebook_figures

REPO = Path(__file__).resolve().parents[1]

IGNORE_TAG = "nbval-ignore-output"


def sanitizers(path: Path = REPO / "book" / "sanitize.cfg") -> list[tuple[re.Pattern, str]]:
    parser = configparser.ConfigParser()
    parser.read(path)
    return [
        (re.compile(parser[section]["regex"]), parser[section]["replace"])
        for section in parser.sections()
    ]


def output_text(outputs, patterns) -> list[str]:
    """The outputs as nbval compares them: streams and each MIME type's data, sanitized, as lines."""
    lines = []
    for output in coalesce_streams(list(outputs)):
        if output.output_type == "stream":
            chunks = [f"[{output.name}] {output.text}"]
        elif output.output_type in ("display_data", "execute_result"):
            chunks = [f"[{mime}] {value}" for mime, value in output.data.items()]
        else:
            chunks = [f"[{output.output_type}] {output.get('evalue', '')}"]
        for chunk in chunks:
            for regex, replace in patterns:
                chunk = regex.sub(replace, chunk)
            lines.extend(chunk.splitlines())
    return lines


def compare_notebooks(stored_path: Path, fresh_path: Path) -> bool:
    """Print a line per code cell; True when every compared cell agrees."""
    patterns = sanitizers()
    stored = nbformat.read(stored_path, as_version=4)
    fresh = nbformat.read(fresh_path, as_version=4)
    stored_cells = [cell for cell in stored.cells if cell.cell_type == "code"]
    fresh_cells = [cell for cell in fresh.cells if cell.cell_type == "code"]
    if [cell.source for cell in stored_cells] != [cell.source for cell in fresh_cells]:
        print(
            f"{stored_path.name}: the two copies have different code cells; compare copies of one version"
        )
        return False
    print(f"== {stored_path.name}")
    all_agree = True
    for number, (old, new) in enumerate(zip(stored_cells, fresh_cells), start=1):
        ignored = IGNORE_TAG in old.metadata.get("tags", [])
        difference, new_outputs, used = notebook_figures.compare_cell_figures(
            new.outputs, old.outputs
        )
        old_lines, new_lines = (
            output_text(old.outputs, patterns),
            output_text(new_outputs, patterns),
        )
        first_line = old.source.splitlines()[0] if old.source else ""
        label = f"cell {number:3d} ({first_line[:60]})"
        if difference is None and old_lines == new_lines:
            figures = f"; figures within tolerance ({100 * used:.1f} % of it used)" if used else ""
            print(f"{label}: same{figures}")
            continue
        if not ignored:
            all_agree = False
        print(f"{label}: {'not compared' if ignored else 'DIFFERS'}")
        if difference:
            print(f"    {difference}")
        for line in difflib.unified_diff(old_lines, new_lines, "stored", "fresh", n=0, lineterm=""):
            if not line.startswith(("---", "+++", "@@")):
                print(f"    {line[:200]}")
    return all_agree


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("stored", type=Path, help="a notebook, or a folder of them (the reference)")
    parser.add_argument(
        "fresh", type=Path, help="the same notebook executed elsewhere, or a folder"
    )
    args = parser.parse_args(argv)
    if args.stored.is_dir():
        pairs = [(path, args.fresh / path.name) for path in sorted(args.stored.glob("*.ipynb"))]
        pairs = [(stored, fresh) for stored, fresh in pairs if fresh.is_file()]
    else:
        pairs = [(args.stored, args.fresh)]
    results = [compare_notebooks(stored, fresh) for stored, fresh in pairs]
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
