"""The package's real source, as a chapter shows it (:func:`show_source`).

A chapter shows a function with ``show_source(f)``: the lines that do the work, as written in the
package (same comments, same line breaks), without the numpydoc docstring and without the argument
checks that open most public functions (:func:`teaching_source`). Those are one click away, in the
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
        The teaching view: the source with its docstring(s) and leading argument checks left out.
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
    * in each function (for a class, each method), the argument checks that open its body: the
      leading statements that only validate, i.e. ``if ...: raise ...`` (an ``if`` whose block ends
      in ``raise``, perhaps after assigning the message), calls of the ``check_*`` functions and
      :func:`~cnn_tutorial.checks.as_float_array` of :mod:`cnn_tutorial.checks` (alone or assigned),
      and ``x = np.asarray(x)`` when checks follow it. The first other statement ends the checks:
      a check further down, inside the algorithm, is shown. The last statement always stays.

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
    # An indented source (a method) parses inside "if 1:"; line numbers are then one too high.
    indented = full[:1].isspace()
    tree = ast.parse("if 1:\n" + full if indented else full)
    offset = 1 if indented else 0
    body = tree.body[0].body if indented else tree.body
    if isinstance(obj, ModuleType):
        scopes = [tree] if not indented else []
    else:
        scopes = [node for node in body if isinstance(node, _SCOPES)][:1]

    dropped: set[int] = set()  # 1-based line numbers of `full`
    counts = {"docstrings": 0, "check_lines": 0}

    def drop(first: int, last: int) -> None:
        dropped.update(range(first - offset, last - offset + 1))

    def visit(node: ast.AST, in_function: bool) -> None:
        statements = node.body
        start = 0
        docstring = _docstring(statements, lines, offset)
        if docstring is not None and len(statements) > 1:
            drop(docstring.lineno, docstring.end_lineno)
            counts["docstrings"] += 1
            start = 1
        if in_function:
            n_checks = _leading_checks(statements[start:-1])
            if n_checks and not _own_lines(
                statements[start : start + n_checks], lines, offset
            ):
                n_checks = 0  # on the line of the `def` or sharing a line with the algorithm
            if n_checks:
                first = (
                    statements[start].lineno
                    if start == 0
                    else docstring.end_lineno + 1
                )
                last = statements[start + n_checks - 1].end_lineno
                counts["check_lines"] += sum(
                    1
                    for number in range(first - offset, last - offset + 1)
                    if lines[number - 1].strip() and number not in dropped
                )
                drop(first, last)
        if (
            not in_function
        ):  # a class or module: its methods, functions and nested classes
            for child in statements:
                if isinstance(child, _SCOPES):
                    visit(
                        child,
                        isinstance(
                            child, (ast.FunctionDef, ast.AsyncFunctionDef)
                        ),
                    )

    for scope in scopes:
        visit(
            scope,
            isinstance(scope, (ast.FunctionDef, ast.AsyncFunctionDef)),
        )

    kept = []
    previous_dropped = False
    for number, line in enumerate(lines, start=1):
        if number in dropped or (previous_dropped and not line.strip()):
            previous_dropped = True
            continue
        previous_dropped = False
        kept.append(line)
    return TeachingSource("".join(kept), full, **counts)


_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)

# Calls that validate (and perhaps convert) arguments: the helpers of cnn_tutorial.checks, and the
# modules' private ones (ops._validate_conv, loops._validate_pool, gradcheck._as_float64, ...).
_CHECK_PREFIXES = ("check_", "validate_")
_CHECK_HELPERS = ("as_float_array", "as_float64")


def _getsource(obj) -> str:
    try:
        return inspect.getsource(obj)
    except (TypeError, OSError) as error:
        raise TypeError(
            f"obj must be a function, class, method or module with Python source, got {obj!r} "
            f"of type {type(obj).__name__} ({error})"
        ) from None


def _own_lines(
    statements: list[ast.stmt], lines: list[str], offset: int
) -> bool:
    """Whether consecutive ``statements`` fill whole lines of their own: nothing before the first
    on its line (such as ``def f(x):``), nothing but a comment after the last on its line."""
    first, last = statements[0], statements[-1]
    # ast's column offsets count UTF-8 bytes.
    before = (
        lines[first.lineno - offset - 1]
        .encode()[: first.col_offset]
        .decode()
    )
    after = (
        lines[last.end_lineno - offset - 1]
        .encode()[last.end_col_offset :]
        .decode()
    )
    return not before.strip() and (
        not after.strip() or after.strip().startswith("#")
    )


def _docstring(
    statements: list[ast.stmt], lines: list[str], offset: int
) -> ast.stmt | None:
    """The docstring statement opening ``statements``, if it fills whole lines of its own."""
    if not statements:
        return None
    first = statements[0]
    if not (
        isinstance(first, ast.Expr)
        and isinstance(first.value, ast.Constant)
        and isinstance(first.value.value, str)
    ):
        return None
    return first if _own_lines([first], lines, offset) else None


def _called_name(node: ast.AST) -> str:
    """``f`` for ``f(...)``, ``g`` for ``a.b.g(...)``; ``""`` if ``node`` is no call."""
    if not isinstance(node, ast.Call):
        return ""
    function = node.func
    if isinstance(function, ast.Attribute):
        return function.attr
    return function.id if isinstance(function, ast.Name) else ""


def _is_check(statement: ast.stmt) -> bool:
    """Whether ``statement`` only validates arguments (see :func:`teaching_source`)."""
    if isinstance(statement, ast.If):
        block = statement.body
        if not isinstance(block[-1], ast.Raise):
            return False
        # Before the raise, at most the message: names that the raise uses.
        raised = {
            node.id
            for node in ast.walk(block[-1])
            if isinstance(node, ast.Name)
        }
        message = all(
            isinstance(line, ast.Assign)
            and all(
                isinstance(target, ast.Name) and target.id in raised
                for target in line.targets
            )
            for line in block[:-1]
        )
        otherwise = statement.orelse
        elif_check = (
            len(otherwise) == 1
            and isinstance(otherwise[0], ast.If)
            and _is_check(otherwise[0])
        )
        return message and (not otherwise or elif_check)
    if isinstance(
        statement, ast.For
    ):  # e.g. the same check for several arguments
        return not statement.orelse and all(
            _is_check(line) for line in statement.body
        )
    if isinstance(statement, ast.Expr) or _rebinds_arguments(statement):
        name = _called_name(statement.value).lstrip("_")
        return name.startswith(_CHECK_PREFIXES) or name in _CHECK_HELPERS
    return False


def _rebinds_arguments(statement: ast.stmt) -> bool:
    """Whether ``statement`` is ``a, b = call(..., a, ..., b, ...)``: it only replaces arguments of
    the call by their checked versions (``show = check_progress(progress)`` makes a new name)."""
    if not (
        isinstance(statement, ast.Assign)
        and isinstance(statement.value, ast.Call)
    ):
        return False
    targets = []
    for target in statement.targets:
        targets.extend(
            target.elts
            if isinstance(target, (ast.Tuple, ast.List))
            else [target]
        )
    call = statement.value
    passed = {
        node.id
        for node in [
            *call.args,
            *(keyword.value for keyword in call.keywords),
        ]
        if isinstance(node, ast.Name)
    }
    return all(
        isinstance(target, ast.Name) and target.id in passed
        for target in targets
    )


def _is_asarray(statement: ast.stmt) -> bool:
    """``x = np.asarray(x)`` (``x`` any name, perhaps a ``dtype``)."""
    return (
        _rebinds_arguments(statement)
        and _called_name(statement.value) == "asarray"
    )


def _leading_checks(statements: list[ast.stmt]) -> int:
    """How many of the first ``statements`` are argument checks (``np.asarray`` only before a check)."""
    count = 0
    pending = 0  # np.asarray(...) statements not yet followed by a check
    for statement in statements:
        if _is_asarray(statement):
            pending += 1
        elif _is_check(statement):
            count += pending + 1
            pending = 0
        else:
            break
    return count


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
    if not isinstance(full, bool):
        raise TypeError(f"full must be True or False, got {full!r}")
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
