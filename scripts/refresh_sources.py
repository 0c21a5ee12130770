"""Rewrite the stored output of every ``show_source(...)`` cell of the chapters from the package.

    python -m scripts.refresh_sources            # every chapter
    python -m scripts.refresh_sources --check    # exit status 1 if any stored source view is stale

A ``show_source`` cell displays :func:`cnn_tutorial.figures.source.source_bundle` of an object: a
function of the package's source alone, the same on every machine. When only the package's code
changed (a declaration, a docstring, a renamed helper) these outputs are the only ones that move,
and this script rewrites exactly them, without running the chapters' training. Anything else a
chapter prints needs ``python -m scripts.refresh_notebooks``.
"""

from __future__ import annotations

import argparse
import ast
import sys
from pathlib import Path

import nbformat

from cnn_tutorial.figures.source import source_bundle
from cnn_tutorial.files import atomic_write
from scripts.toc import chapter_notebooks

REPO = Path(__file__).resolve().parents[1]


def _code(cell) -> str:
    """A code cell's source without IPython's magics and shell lines, so that ``ast`` reads it."""
    return "\n".join(
        "" if line.lstrip()[:1] in "%!" and line.strip() else line
        for line in cell.source.splitlines()
    )


def _is_show_source(node: ast.AST) -> bool:
    return (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id == "show_source"
        and bool(node.args)
    )


def _full(call: ast.Call) -> bool:
    return any(
        keyword.arg == "full"
        and isinstance(keyword.value, ast.Constant)
        and keyword.value.value is True
        for keyword in call.keywords
    )


def chapter_namespace(notebook) -> dict:
    """The names a chapter imports from ``cnn_tutorial``, wherever in the chapter it imports them."""
    namespace: dict = {}
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        for node in ast.walk(ast.parse(_code(cell))):
            module = getattr(node, "module", None) or ""
            names = [alias.name for alias in getattr(node, "names", [])]
            if (isinstance(node, ast.ImportFrom) and module.split(".")[0] == "cnn_tutorial") or (
                isinstance(node, ast.Import)
                and any(name.split(".")[0] == "cnn_tutorial" for name in names)
            ):
                exec(compile(ast.Module([node], type_ignores=[]), "<chapter>", "exec"), namespace)
    return namespace


def show_source_calls(notebook) -> list[tuple[int, str, bool, object]]:
    """``(cell index, expression, full, object)`` for every ``show_source(expression, ...)`` call
    in the chapter's code, with the object its expression names."""
    namespace = chapter_namespace(notebook)
    found = []
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type != "code":
            continue
        for node in ast.walk(ast.parse(_code(cell))):
            if _is_show_source(node):
                expression = ast.unparse(node.args[0])
                found.append((index, expression, _full(node), eval(expression, namespace)))
    return found


def source_outputs(notebook) -> dict[int, list]:
    """The outputs that each cell consisting of one ``show_source(...)`` call should store."""
    outputs = {}
    for index, _, full, obj in show_source_calls(notebook):
        tree = ast.parse(_code(notebook.cells[index]))
        if len(tree.body) == 1 and _is_show_source(getattr(tree.body[0], "value", None)):
            bundle = source_bundle(obj, full=full)
            outputs[index] = [nbformat.v4.new_output("display_data", data=bundle, metadata={})]
    return outputs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--check", action="store_true", help="only report stale source views; change nothing"
    )
    args = parser.parse_args(argv)
    stale = 0
    for path in chapter_notebooks(REPO):
        notebook = nbformat.read(path, as_version=4)
        changed = 0
        for index, outputs in source_outputs(notebook).items():
            cell = notebook.cells[index]
            if nbformat.from_dict(cell.outputs) != nbformat.from_dict(outputs):
                changed += 1
                cell.outputs = outputs
        stale += changed
        if changed and not args.check:
            mode = path.stat().st_mode
            with atomic_write(path, "w") as handle:
                nbformat.write(notebook, handle)
            path.chmod(mode)
        if changed:
            verb = "stale" if args.check else "rewritten"
            print(f"{path.name}: {changed} source view(s) {verb}")
    return 1 if args.check and stale else 0


if __name__ == "__main__":
    sys.exit(main())
