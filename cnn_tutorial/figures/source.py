"""The package's real source, as a chapter shows it (:func:`show_source`).

A chapter shows a function with ``show_source(f)``: the lines that do the work, as written in the
package (same comments, same line breaks), without the numpydoc docstring and without the argument
checks declared above it (:func:`teaching_source`). Those are one click away, in the
whole source in a collapsed block under it. Every line shown is at most 76 characters, which
``tests/test_display.py`` checks for everything the chapters show. The output is deterministic, so
nothing needs masking.
"""

from __future__ import annotations

import ast
import html
import inspect
from dataclasses import dataclass
from types import ModuleType

from ..params import Flag, validate_params

__all__ = [
    "show_source",
    "source_bundle",
    "teaching_source",
    "TeachingSource",
]


@dataclass(frozen=True)
class TeachingSource:
    """What :func:`show_source` shows of an object: see :func:`teaching_source`.

    Attributes
    ----------
    text : str
        The teaching view: the source without its docstring(s) and declared argument checks.
    full : str
        The whole source, exactly :func:`inspect.getsource`.
    docstrings : int
        How many docstrings ``text`` leaves out (a class: its own and its methods').
    check_lines : int
        How many lines of argument checks ``text`` leaves out (blank lines not counted).
    """

    text: str
    full: str
    docstrings: int
    check_lines: int

    @property
    def note(self) -> str:
        """One sentence on what ``text`` leaves out, e.g. ``"Docstring and 6 lines of argument checks
        not shown."``; empty when it leaves out nothing."""
        parts = []
        if self.docstrings:
            parts.append(
                "Docstring" if self.docstrings == 1 else "Docstrings"
            )
        if self.check_lines:
            lines = "line" if self.check_lines == 1 else "lines"
            parts.append(f"{self.check_lines} {lines} of argument checks")
        if not parts:
            return ""
        sentence = " and ".join(parts) + " not shown."
        return sentence[0].upper() + sentence[1:]


def teaching_source(obj) -> TeachingSource:
    """The source of a function, method, class or module as a chapter shows it.

    Left out, by whole lines (everything else stays exactly as written, comments included):

    * the docstring of ``obj``; for a class or module also those of its classes and functions;
    * the argument checks declared above each function (for a class, each method): its
      ``@validate_params(...)`` decorator (:mod:`cnn_tutorial.params`). Since the checks are
      declared there, the body that follows is the algorithm alone.

    Blank lines right after what is left out go with it.

    Parameters
    ----------
    obj : function, class, method or module
        Anything :func:`inspect.getsource` finds the source of.

    Returns
    -------
    TeachingSource
        The teaching view, the full source and what was left out.

    Raises
    ------
    TypeError
        If ``obj`` has no Python source (a builtin, an instance, a function typed into a console).
    """
    full = _getsource(obj)
    lines = full.splitlines(keepends=True)
    dropped = _docstring_lines(full, lines, obj)
    n_docstrings = len(dropped)
    declared = _declaration_lines(lines)
    check_lines = sum(1 for number in declared if lines[number - 1].strip())
    dropped = set().union(*dropped, declared)

    kept = []
    previous_dropped = False
    for number, line in enumerate(lines, start=1):
        if number in dropped or (previous_dropped and not line.strip()):
            previous_dropped = True
            continue
        previous_dropped = False
        kept.append(line)
    return TeachingSource("".join(kept), full, n_docstrings, check_lines)


_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
_DECLARATION = "@validate_params("


def _getsource(obj) -> str:
    try:
        return inspect.getsource(obj)
    except (TypeError, OSError) as error:
        raise TypeError(
            f"obj must be a function, class, method or module with Python source, got {obj!r} "
            f"of type {type(obj).__name__} ({error})"
        ) from None


def _declaration_lines(lines: list[str]) -> set[int]:
    """Line numbers (1-based) of the ``@validate_params(...)`` decorators: from the line that
    opens one to the line before the next decorator or ``def``."""
    dropped: set[int] = set()
    inside = False
    for number, line in enumerate(lines, start=1):
        text = line.lstrip()
        if text.startswith(_DECLARATION):
            inside = True
        elif text.startswith(("@", "def ", "async def ")):
            inside = False
        if inside:
            dropped.add(number)
    return dropped


def _docstring_lines(full: str, lines: list[str], obj) -> list[set[int]]:
    """For each docstring the teaching view leaves out, the set of its line numbers (1-based):
    that of ``obj``, and for a class or module those of its classes and functions."""
    # An indented source (a method) parses inside "if 1:"; line numbers are then one too high.
    indented = full[:1].isspace()
    tree = ast.parse("if 1:\n" + full if indented else full)
    offset = 1 if indented else 0
    body = tree.body[0].body if indented else tree.body
    if isinstance(obj, ModuleType):
        scopes = [tree] if not indented else []
    else:
        scopes = [node for node in body if isinstance(node, _SCOPES)][:1]
    found = []
    while scopes:
        node = scopes.pop(0)
        statements = node.body
        first = statements[0] if statements else None
        if (
            len(statements) > 1
            and isinstance(first, ast.Expr)
            and isinstance(first.value, ast.Constant)
            and isinstance(first.value.value, str)
            and _own_lines(first, lines, offset)
        ):
            found.append(
                set(
                    range(
                        first.lineno - offset, first.end_lineno - offset + 1
                    )
                )
            )
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            scopes.extend(
                child for child in statements if isinstance(child, _SCOPES)
            )
    return found


def _own_lines(statement: ast.stmt, lines: list[str], offset: int) -> bool:
    """Whether ``statement`` fills whole lines of its own: nothing before it on its first line
    (such as ``def f(x):``), nothing but a comment after it on its last."""
    # ast's column offsets count UTF-8 bytes.
    before = (
        lines[statement.lineno - offset - 1]
        .encode()[: statement.col_offset]
        .decode()
    )
    after = (
        lines[statement.end_lineno - offset - 1]
        .encode()[statement.end_col_offset :]
        .decode()
    )
    return not before.strip() and (
        not after.strip() or after.strip().startswith("#")
    )


def _highlighted(code: str, wrap: bool = False) -> str:
    """Pygments HTML of ``code``, as :class:`IPython.display.Code` makes it, without its ``<style>``.

    ``<div class="highlight"><pre>`` with Pygments' short class names, which the book's theme
    colours in its light and dark modes. ``wrap``: long lines wrap instead of scrolling sideways.
    """
    from IPython.display import Code

    page = Code(code, language="python")._repr_html_()
    start = page.index('<div class="highlight"><pre>')
    block = page[start:].rstrip("\n")
    if wrap:
        block = block.replace(
            "<pre>", '<pre style="white-space: pre-wrap">', 1
        )
    return block


def _highlight_style() -> str:
    """The ``<style>`` block :class:`IPython.display.Code` puts before its code (Jupyter's colours)."""
    from IPython.display import Code

    page = Code("", language="python")._repr_html_()
    return page[: page.index("</style>") + len("</style>")]


@validate_params(full=Flag())
def source_bundle(obj, full: bool = False) -> dict[str, str]:
    """The ``text/html`` and ``text/plain`` that :func:`show_source` displays.

    Parameters
    ----------
    obj : function, class, method or module
    full : bool
        The whole source, exactly as :class:`IPython.display.Code` shows it (its ``text/html`` and
        ``text/plain``), instead of the teaching view. Also what an object without anything to
        leave out gets.

    Returns
    -------
    dict of str to str
        ``text/html``: the highlighted teaching view, a one-line note on what it leaves out and a
        collapsed ``<details>`` block with the whole highlighted source. ``text/plain``: the
        teaching view and the note. Deterministic: same object, same bundle.
    """
    view = teaching_source(obj)
    if full or view.text == view.full:  # as IPython.display.Code shows it
        from IPython.display import Code

        return {
            "text/html": Code(view.full, language="python")._repr_html_(),
            "text/plain": view.full,
        }
    name = html.escape(
        getattr(obj, "__qualname__", None)
        or getattr(obj, "__name__", "the object")
    )
    parts = [_highlight_style(), _highlighted(view.text)]
    if view.note:
        parts.append(
            f'<p class="cnn-tutorial-source-note"><small>{html.escape(view.note)}</small></p>'
        )
    parts.append(
        f'<details class="cnn-tutorial-full-source"><summary>Full source of <code>{name}</code></summary>'
        f"{_highlighted(view.full, wrap=True)}</details>"
    )
    plain = (
        view.text
        if not view.note
        else f"{view.text.rstrip()}\n# {view.note}\n"
    )
    return {"text/html": "\n".join(parts), "text/plain": plain}


def show_source(obj, full: bool = False) -> None:
    """Display the package's real source code of a function or class, syntax-highlighted.

    Chapters call this instead of pasting code, so the text shows exactly the code that the tests
    check and that the chapter runs. By default only what does the work
    (:func:`teaching_source`): no docstring, no argument checks; a note says what is left out,
    and the whole source is one click away below it.

    Parameters
    ----------
    obj : function, class, method or module
    full : bool
        Show the whole source, docstring and checks included (where the checks are the lesson).

    Raises
    ------
    TypeError
        If ``obj`` has no Python source.
    """
    from IPython.display import display  # only needed inside a kernel

    display(source_bundle(obj, full=full), raw=True)
