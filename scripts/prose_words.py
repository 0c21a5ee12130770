"""Words of prose a reader sees in each chapter with every fold closed, and lines of visible code.

    python -m scripts.prose_words            # every chapter of _toc.yml, and the total per part
    python -m scripts.prose_words backprop   # one chapter

Prose is the text of markdown cells (headings, paragraphs, lists, tables, admonitions and exercise
statements), without fenced code blocks, directive options, display math, and the folded solutions
(``solution-start`` .. ``solution-end``). Each inline formula counts as one word. Visible code
lines are the lines of code cells not tagged ``remove-cell``, ``remove-input`` or ``hide-input``
and outside folded solutions. This is an estimate from the notebooks; the built page is the truth.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
HIDDEN_INPUT = {"remove-cell", "remove-input", "hide-input", "hide-cell"}
# The speed and scale-out machinery that "Going further" teaches and the core path's code never shows.
MACHINERY = [
    "GradientWorkers",
    "reuse_freed_memory",
    "workers=",
    "saved1",
    "saved2",
    "saved=",
    "DistributedDataParallel",
    "torchrun",
    "autocast",
    "GradScaler",
    "scaler",
    "fast_conv",
    "non_blocking",
    "pin_memory",
    "method=",
]


def _markdown_words(text: str) -> int:
    text = re.sub(r"\$\$.*?\$\$", " ", text, flags=re.S)
    kept, fence = [], None
    for line in text.splitlines():
        stripped = line.strip()
        match = re.match(r"^(`{3,}|~{3,})(\{?[\w-]*\}?)?", stripped)
        if match and fence is None:
            # A directive's content is prose (exercise, admonition, note); a plain fence is code.
            fence = (match.group(1), bool(match.group(2) and match.group(2).startswith("{")))
            directive = re.sub(r"^(`{3,}|~{3,})\{[\w-]+\}\s*", "", stripped) if fence[1] else ""
            kept.append(directive)
            continue
        if fence is not None and stripped == fence[0]:
            fence = None
            continue
        if fence is not None and not fence[1]:
            continue
        if re.match(r"^:[\w-]+:", stripped):
            continue
        kept.append(line)
    prose = "\n".join(kept)
    prose = re.sub(r"\$[^$\n]+\$", " FORMULA ", prose)
    prose = re.sub(r"\]\([^)]*\)", "]", prose)  # link targets
    prose = re.sub(r"\{[\w-]+\}`[^`]*`", " REF ", prose)  # roles: {cite:p}`x`, {ref}`y`
    prose = re.sub(r"<[^>]+>", " ", prose)  # html tags
    prose = re.sub(r"[|#*_>\-:=]+", " ", prose)
    return len(re.findall(r"[\w`'’.,()%/+]+", prose, flags=re.U))


def chapter_counts(path: Path) -> tuple[int, int]:
    """(prose words, visible code lines) of one notebook or markdown page."""
    if path.suffix == ".md":
        return _markdown_words(path.read_text()), 0
    words = code = 0
    folded = False
    for cell in json.loads(path.read_text())["cells"]:
        source = "".join(cell["source"])
        tags = set(cell.get("metadata", {}).get("tags", []))
        if cell["cell_type"] == "markdown":
            if "solution-start" in source:
                folded = True
            if "solution-end" in source:
                folded = False
                continue
            if not folded and "remove-cell" not in tags:
                words += _markdown_words(source)
        elif not folded and not tags & HIDDEN_INPUT:
            code += sum(1 for line in source.splitlines() if line.strip())
    return words, code


def toc_parts() -> dict[str, list[Path]]:
    toc = yaml.safe_load((REPO / "_toc.yml").read_text())
    parts = {"(root)": [toc["root"]]}
    for part in toc.get("parts", []):
        parts[part["caption"]] = [entry["file"] for entry in part["chapters"]]
    if toc.get("chapters"):
        parts["(chapters)"] = [entry["file"] for entry in toc["chapters"]]
    found = {}
    for caption, names in parts.items():
        found[caption] = [
            p
            for name in names
            for p in (REPO / f"{name}.ipynb", REPO / f"{name}.md")
            if p.is_file()
        ]
    return found


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "chapters", nargs="*", help="chapter names (default: every chapter of _toc.yml)"
    )
    args = parser.parse_args()
    parts = toc_parts()
    if args.chapters:
        wanted = set(args.chapters)
        parts = {c: [p for p in ps if p.stem in wanted] for c, ps in parts.items()}
    for caption, paths in parts.items():
        if not paths:
            continue
        total = 0
        print(f"{caption}")
        for path in paths:
            words, code = chapter_counts(path)
            total += words
            print(f"  {path.stem:24s} {words:6,d} words  {code:5d} visible code lines")
        print(f"  {'total':24s} {total:6,d} words")
    return 0


if __name__ == "__main__":
    sys.exit(main())
