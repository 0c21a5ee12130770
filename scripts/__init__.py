"""The book's tooling: run each one from the repository root as ``python -m scripts.NAME``.

A package, so that the tools import one another (``from scripts.toc import chapter_notebooks``)
and the tests import them, with no edits to the import path.
"""
