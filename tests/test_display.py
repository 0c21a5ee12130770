"""Tests for cnn_tutorial.figures.display's source views: what show_source shows of the package's code.

The last tests collect every ``show_source(...)`` of the chapters and check that each teaching view
hides its docstring and fits the book's code column (77 characters at a 1280 px window).
"""

from __future__ import annotations

import ast
import inspect
import re

import nbformat
import numpy as np
import pytest

from cnn_tutorial.figures import display
from cnn_tutorial.figures.source import TeachingSource, show_source, source_bundle, teaching_source
from cnn_tutorial.params import Array, Integer, validate_params
from scripts.refresh_sources import show_source_calls
from scripts.toc import chapter_notebooks

# The longest line a chapter may show: the book's code column holds 77 characters at 1280 px.
MAX_LINE = 76


# --- Functions to look at ----------------------------------------------------------------------------


@validate_params(
    x=Array("(rows, columns)", nonempty="rows"),
    n=Integer(minimum=1),
)
def checked_sum(x, n: int = 1):
    """Add up ``x``, ``n`` times.

    Parameters
    ----------
    x : array_like
    n : int
    """

    # The work starts here.
    total = x.sum() * n  # a comment that stays
    if total < 0:
        raise ValueError("a check in the middle stays")
    return total


def only_a_docstring():
    """Nothing else."""


@validate_params(x=Array("(n,)"))
def no_docstring(x):
    return x + 1


def nothing_to_hide(x):
    return x + 1


def on_the_def_line(x): return x  # noqa: E704  # fmt: skip


@validate_params(x=Array("(n,)"))
def non_ascii_docstring(x):
    """Computes ``x × 2`` (a non-ASCII docstring: ast counts its columns in bytes)."""  # it goes
    return x * 2


def _twice(function):
    return function


@_twice
@validate_params(x=Array("(n,)"))
@_twice
def between_decorators(x):
    return x


class Counter:
    """A counter.

    Counts.
    """

    start = 0  # a class attribute stays

    @validate_params(step=Integer(minimum=1))
    def __init__(self, step: int = 1) -> None:
        """Set up."""
        self.step = step
        self.value = self.start

    @property
    def doubled(self) -> int:
        """Twice the value."""
        return 2 * self.value

    @validate_params(times=Integer(minimum=0))
    def add(self, times: int) -> int:
        self.value += self.step * times
        return self.value


def _lines(text: str) -> list[str]:
    return text.splitlines()


# --- The teaching view -------------------------------------------------------------------------------


def test_the_view_drops_the_docstring_and_the_declared_checks_and_counts_them():
    view = teaching_source(checked_sum)
    assert isinstance(view, TeachingSource)
    assert _lines(view.text) == [
        "def checked_sum(x, n: int = 1):",
        "    # The work starts here.",
        "    total = x.sum() * n  # a comment that stays",
        "    if total < 0:",
        '        raise ValueError("a check in the middle stays")',
        "    return total",
    ]
    assert (view.docstrings, view.check_lines) == (1, 4)
    assert view.note == "Docstring and 4 lines of argument checks not shown."
    assert view.full == inspect.getsource(checked_sum)


def test_a_body_is_never_emptied():
    view = teaching_source(only_a_docstring)
    assert view.text == view.full
    assert (view.docstrings, view.check_lines, view.note) == (0, 0, "")


def test_only_whole_lines_are_left_out():
    view = teaching_source(on_the_def_line)
    assert (view.text, view.docstrings, view.check_lines) == (view.full, 0, 0)
    assert _lines(teaching_source(non_ascii_docstring).text) == [
        "def non_ascii_docstring(x):",
        "    return x * 2",
    ]


def test_other_decorators_stay():
    assert _lines(teaching_source(between_decorators).text) == [
        "@_twice",
        "@_twice",
        "def between_decorators(x):",
        "    return x",
    ]


def test_the_note_says_only_what_was_left_out():
    assert teaching_source(no_docstring).note == "1 line of argument checks not shown."
    assert teaching_source(only_a_docstring).note == ""
    assert teaching_source(nothing_to_hide).note == ""
    assert teaching_source(Counter).note == "Docstrings and 2 lines of argument checks not shown."


def test_a_class_keeps_its_attributes_and_its_methods_lose_docstrings_and_checks():
    assert teaching_source(Counter).text == (
        "class Counter:\n"
        "    start = 0  # a class attribute stays\n"
        "\n"
        "    def __init__(self, step: int = 1) -> None:\n"
        "        self.step = step\n"
        "        self.value = self.start\n"
        "\n"
        "    @property\n"
        "    def doubled(self) -> int:\n"
        "        return 2 * self.value\n"
        "\n"
        "    def add(self, times: int) -> int:\n"
        "        self.value += self.step * times\n"
        "        return self.value\n"
    )
    assert teaching_source(Counter).docstrings == 3


def test_a_method_alone_keeps_its_class_indent():
    view = teaching_source(Counter.__init__)
    assert _lines(view.text) == [
        "    def __init__(self, step: int = 1) -> None:",
        "        self.step = step",
        "        self.value = self.start",
    ]
    assert view.note == "Docstring and 1 line of argument checks not shown."


def test_a_module_loses_its_docstrings():
    view = teaching_source(display)
    assert view.full == inspect.getsource(display)
    assert '"""Show Bokeh figures' not in view.text and "def show(obj" in view.text
    ast.parse(view.text)


@pytest.mark.parametrize("obj", [len, 3, "text", np.zeros(2), None])
def test_something_without_source_is_a_type_error_naming_the_argument(obj):
    with pytest.raises(TypeError, match=r"^obj must be a function, class, method or module"):
        teaching_source(obj)
    with pytest.raises(TypeError, match=r"^obj must be"):
        source_bundle(obj)


def test_full_must_be_a_bool():
    with pytest.raises(TypeError, match="full must be True or False"):
        source_bundle(checked_sum, full="yes")


# --- What show_source displays -----------------------------------------------------------------------


def _teaching_part(page: str) -> str:
    return page[: page.index("<details")]


def test_the_html_has_the_highlighted_view_the_note_and_the_full_source_folded_away():
    from IPython.display import Code

    page = source_bundle(checked_sum)["text/html"]
    style = Code("", language="python")._repr_html_()
    assert page.startswith(style[: style.index("</style>") + len("</style>")])
    teaching = _teaching_part(page)
    assert teaching.count('<div class="highlight"><pre>') == 1
    assert '<span class="nf">checked_sum</span>' in teaching  # Pygments' short class names
    assert "Add up" not in teaching and "validate_params" not in teaching
    assert "a comment that stays" in teaching
    assert "Docstring and 4 lines of argument checks not shown." in teaching
    folded = page[page.index("<details") :]
    assert folded.startswith(
        '<details class="cnn-tutorial-full-source"><summary>Full source of <code>checked_sum</code></summary>'
    )
    assert folded.endswith("</details>")
    assert '<div class="highlight"><pre style="white-space: pre-wrap">' in folded
    assert "Add up" in folded and "validate_params" in folded


def test_the_plain_text_is_the_view_and_the_note():
    plain = source_bundle(checked_sum)["text/plain"]
    view = teaching_source(checked_sum)
    assert plain == view.text + "# Docstring and 4 lines of argument checks not shown.\n"


def test_the_html_names_a_method_by_its_qualified_name():
    assert (
        "Full source of <code>Counter.__init__</code>"
        in source_bundle(Counter.__init__)["text/html"]
    )


def test_full_shows_exactly_what_ipythons_code_showed():
    from IPython.display import Code

    bundle = source_bundle(checked_sum, full=True)
    assert bundle["text/plain"] == inspect.getsource(checked_sum)
    assert (
        bundle["text/html"] == Code(inspect.getsource(checked_sum), language="python")._repr_html_()
    )
    # Nothing to leave out: the same, without a note or a second copy.
    assert source_bundle(nothing_to_hide) == source_bundle(nothing_to_hide, full=True)


def test_the_output_is_deterministic():
    first = source_bundle(Counter)
    assert first == source_bundle(Counter)
    # No random ids (such as figure_html's uuid) that book/sanitize.cfg would have to mask.
    assert not re.search(r"[0-9a-f]{16}", first["text/html"])
    assert ' id="' not in first["text/html"]


def test_show_source_displays_the_bundle_raw(monkeypatch):
    import IPython.display

    shown = []
    monkeypatch.setattr(
        IPython.display, "display", lambda *args, **kwargs: shown.append((args, kwargs))
    )
    show_source(checked_sum)
    show_source(checked_sum, full=True)
    assert shown == [
        ((source_bundle(checked_sum),), {"raw": True}),
        ((source_bundle(checked_sum, full=True),), {"raw": True}),
    ]


# --- Everything the chapters show --------------------------------------------------------------------


def _chapter_targets() -> list[tuple[str, str, bool, object]]:
    """(chapter, expression, full, object) for every ``show_source(expression, ...)`` of the
    chapters, the names resolved by the chapter's own ``cnn_tutorial`` imports."""
    return [
        (path.stem, expression, full, obj)
        for path in chapter_notebooks()
        for _, expression, full, obj in show_source_calls(nbformat.read(path, as_version=4))
    ]


CHAPTER_TARGETS = _chapter_targets()
TEACHING_VIEWS = [
    (f"{chapter}:{expression}", obj)
    for chapter, expression, full, obj in CHAPTER_TARGETS
    if not full
]


def test_the_chapters_show_package_code():
    assert len(TEACHING_VIEWS) >= 40, [name for name, _ in TEACHING_VIEWS]  # about 50 in 2026
    for name, obj in TEACHING_VIEWS:
        assert inspect.getsourcefile(obj).endswith(".py"), name
        assert obj.__module__.startswith("cnn_tutorial"), name


def _docstrings(text: str) -> list[str]:
    """The names of the functions and classes in ``text`` that still have a docstring."""
    tree = ast.parse("if 1:\n" + text if text[:1].isspace() else text)
    return [
        node.name
        for node in ast.walk(tree)
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
        and ast.get_docstring(node)
    ]


@pytest.mark.parametrize("name, obj", TEACHING_VIEWS, ids=[name for name, _ in TEACHING_VIEWS])
def test_each_teaching_view_hides_the_docstring_and_fits_the_column(name, obj):
    view = teaching_source(obj)
    assert view.docstrings >= 1 and not _docstrings(view.text), f"{name} still shows a docstring"
    too_long = [f"{len(line)}: {line}" for line in view.text.splitlines() if len(line) > MAX_LINE]
    assert not too_long, f"{name}: lines longer than {MAX_LINE} characters:\n" + "\n".join(too_long)


# --- show(): every figure carries a text alternative ------------------------------------------


def _small_figure():
    from bokeh.plotting import figure

    fig = figure(width=200, height=150)
    fig.line([0, 1, 2], [1, 0, 2])
    return fig


def test_figure_html_labels_the_figure_for_screen_readers():
    html = display.figure_html(
        _small_figure(), element_id="cnn-bokeh-x", alt='Loss "falls" <fast> & settles'
    )
    assert 'role="figure"' in html
    assert 'aria-label="Loss &quot;falls&quot; &lt;fast&gt; &amp; settles"' in html


@pytest.mark.parametrize(
    "alt, error", [("", ValueError), ("   ", ValueError), (3, TypeError), (["a"], TypeError)]
)
def test_figure_html_refuses_an_empty_text_alternative(alt, error):
    with pytest.raises(error, match="alt"):
        display.figure_html(_small_figure(), alt=alt)


def test_a_given_alt_is_marked_given():
    html = display.figure_html(_small_figure(), alt="A line through three points.")
    assert 'data-alt="given"' in html and 'aria-label="A line through three points."' in html


def test_show_without_alt_labels_the_figure_by_its_titles_marked_default(monkeypatch):
    """The chapters keep descriptions out of their code: the book replaces a default label with the
    cell's ``alt`` metadata, and ``data-alt="default"`` tells it which labels to replace."""
    from bokeh.layouts import row
    from bokeh.plotting import figure

    shown = []
    monkeypatch.setattr("IPython.display.display", lambda bundle, raw: shown.append(bundle))
    display.show(_small_figure())
    left, right = (
        figure(width=100, height=100, title="Loss"),
        figure(width=100, height=100, title="Accuracy"),
    )
    for fig in (left, right):
        fig.line([0, 1], [0, 1])
    display.show(row(left, right))
    untitled, titled = shown
    assert 'data-alt="default" role="figure" aria-label="A figure"' in untitled["text/html"]
    assert untitled["text/plain"] == "<Bokeh figure: A figure>"
    assert 'aria-label="Figure: Loss; Accuracy"' in titled["text/html"]
    assert titled["text/plain"] == "<Bokeh Row: Figure: Loss; Accuracy>"


def test_show_displays_a_given_alt(monkeypatch):
    shown = []
    monkeypatch.setattr("IPython.display.display", lambda bundle, raw: shown.append(bundle))
    display.show(_small_figure(), alt="A line through three points.")
    (bundle,) = shown
    assert 'aria-label="A line through three points."' in bundle["text/html"]
    assert bundle["text/plain"] == "<Bokeh figure: A line through three points.>"


def test_figure_html_keeps_its_words_for_something_that_is_not_a_figure():
    with pytest.raises(TypeError, match=r"^show\(\) takes a Bokeh figure or layout, got list$"):
        display.figure_html([1, 2])
    with pytest.raises(TypeError, match=r"^full must be True or False, got 1$"):
        source_bundle(display.figure_html, full=1)
