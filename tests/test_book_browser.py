"""The built book, checked in a real browser: headless Chromium driven by Playwright.

Once per session: build the book with ``-W --keep-going`` (a Sphinx warning fails the build) into a
temporary folder, serve it on 127.0.0.1, and open every page named in ``_toc.yml`` once, recording

* console errors and uncaught exceptions,
* every request to another host (aborted, so the book must work offline),
* for each Bokeh figure (``cnn_tutorial.figures.display.show``), whether one of its canvases holds a drawing,
* the page's links that stay inside the book,
* what a reader sees at a 1280 x 900 window (every folded block opened first): code blocks that
  scroll sideways, outputs wider than the text column, visible cells that only assert, figures
  without a text alternative, and the exercises and whether their solutions start folded.

The tests then assert on those records, page by page. One more test checks the other way a figure
reaches a reader: a live notebook, where ``cnn_tutorial.figures.display.show`` fetches BokehJS itself.

The browser is Debian's ``chromium`` (Playwright's own browser downloads are not used), started once
per session by ``tests/conftest.py``. Without it the tests skip, except in CI (``CI=true``), where a
missing browser is a failure.
"""

from __future__ import annotations

import functools
import http.server
import io
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urldefrag, urlsplit

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
HOST = "127.0.0.1"
RENDER_TIMEOUT_MS = 20_000  # how long a page may take to draw its figures; not a speed requirement
VIEWPORT = {"width": 1280, "height": 900}  # a reader's window; the text column is then ~750 px wide

pytestmark = pytest.mark.browser


def toc_pages() -> list[str]:
    """Every file of ``_toc.yml`` (root first), as a path without suffix, e.g. ``book/intro``."""
    toc = yaml.safe_load((REPO / "_toc.yml").read_text())
    pages = [toc["root"]]

    def walk(entries):
        for entry in entries or []:
            if "file" in entry:
                pages.append(entry["file"])
            walk(entry.get("sections"))
            walk(entry.get("chapters"))

    walk(toc.get("parts", []) + toc.get("chapters", []))
    return pages


PAGES = toc_pages()


# Finds Bokeh's canvases (Bokeh 3 draws inside shadow roots) under each figure's <div>, and says
# whether any of them holds a drawing: a pixel that is not transparent and not all one colour.
PLOTS_JS = """() => Array.from(document.querySelectorAll(".cnn-tutorial-bokeh"), (figure) => {
  const canvases = [];
  const walk = (root) => root.querySelectorAll("*").forEach((el) => {
    if (el.tagName === "CANVAS") canvases.push(el);
    if (el.shadowRoot) walk(el.shadowRoot);
  });
  walk(figure);
  const drawn = canvases.some((canvas) => {
    const context = canvas.width && canvas.height && canvas.getContext("2d");
    if (!context) return false;
    const rgba = context.getImageData(0, 0, canvas.width, canvas.height).data;
    let opaque = false, varied = false;
    for (let i = 0; i < rgba.length; i += 4) {
      opaque ||= rgba[i + 3] !== 0;
      varied ||= rgba[i] !== rgba[0] || rgba[i + 1] !== rgba[1]
        || rgba[i + 2] !== rgba[2] || rgba[i + 3] !== rgba[3];
      if (opaque && varied) return true;
    }
    return false;
  });
  return {id: figure.id, canvases: canvases.length, drawn: drawn};
})"""

# What the reader sees. Solutions are recorded as folded or not first; then every folded block
# (show_source's full source, solutions, hidden cells) is opened, so that what a reader can unfold
# fits the column too. The article's content box is the text column.
READER_VIEW_JS = """() => {
  const article = document.querySelector("article.bd-article");
  const solutions = Array.from(article.querySelectorAll("div.solution"));
  const folded = solutions.map((el) => {
    const body = el.querySelector("section") || el;
    return !body.checkVisibility({visibilityProperty: true});
  });
  const visiblePre = () => Array.from(article.querySelectorAll("div.cell_input pre"))
    .filter((pre) => pre.checkVisibility({visibilityProperty: true}));
  const altInCode = visiblePre().filter((pre) => /\\balt\\s*=/.test(pre.innerText))
    .map((pre) => pre.innerText.slice(0, 120));
  article.querySelectorAll("details").forEach((el) => { el.open = true; });
  article.querySelectorAll(".toggle-hidden").forEach((el) => el.classList.remove("toggle-hidden"));
  const box = article.getBoundingClientRect();
  const right = box.right - parseFloat(getComputedStyle(article).paddingRight) + 1;
  const longest = (el) => el.innerText.split("\\n").reduce((a, b) => (b.length > a.length ? b : a), "");
  const scrolling = Array.from(article.querySelectorAll("pre"))
    .filter((pre) => pre.checkVisibility({visibilityProperty: true}) && pre.scrollWidth > pre.clientWidth + 1)
    .map((pre) => longest(pre).slice(0, 120));
  const wide = Array.from(article.querySelectorAll("div.cell_output > *, div.cell_output pre"))
    .filter((el) => el.checkVisibility({visibilityProperty: true})
      && (el.getBoundingClientRect().right > right || el.scrollWidth > el.clientWidth + 1))
    .map((el) => `${el.tagName.toLowerCase()}.${el.className}: ${el.innerText.slice(0, 80)}`);
  const assertOnly = Array.from(article.querySelectorAll("div.cell_input pre"))
    .filter((pre) => pre.checkVisibility({visibilityProperty: true}))
    .map((pre) => pre.innerText.split("\\n").map((line) => line.trim())
      .filter((line) => line && !line.startsWith("#")))
    .filter((lines) => lines.length && /^assert\\b/.test(lines[0])
      && lines.every((line) => /^assert\\b/.test(line) || !/^[A-Za-z_]/.test(line)))
    .map((lines) => lines[0].slice(0, 120));
  const figures = Array.from(article.querySelectorAll(".cnn-tutorial-bokeh"),
    (el) => ({id: el.id, role: el.getAttribute("role"), alt: el.getAttribute("aria-label") || ""}))
    .concat(Array.from(article.querySelectorAll("img"),
      (el) => ({id: el.getAttribute("src"), role: "figure", alt: el.getAttribute("alt") || ""})))
    .concat(Array.from(article.querySelectorAll("figure.cnn-tutorial-diagram"),
      (el) => ({id: "diagram", role: el.getAttribute("role"), alt: el.getAttribute("aria-label") || ""})));
  const explorers = window.Bokeh && Bokeh.documents ? Bokeh.documents.filter((doc) =>
    Array.from(doc.all_models).some((model) => model.type === "CustomJS")).length : 0;
  const diagrams = article.querySelectorAll(
    "figure.cnn-tutorial-diagram, img.cnn-tutorial-diagram.only-light").length;
  return {scrolling, wide, assertOnly, figures, folded, altInCode, explorers, diagrams,
          exercises: article.querySelectorAll("div.exercise").length};
}"""

SAME_ORIGIN_LINKS_JS = """() => Array.from(document.querySelectorAll("a[href]"), (a) => a.href)
  .filter((href) => new URL(href).origin === location.origin)"""


@dataclass
class PageRecord:
    """What the browser saw on one page."""

    console_errors: list[str] = field(default_factory=list)
    offsite_requests: list[str] = field(default_factory=list)
    plots: list[dict] = field(default_factory=list)
    links: list[str] = field(default_factory=list)
    reader_view: dict = field(default_factory=dict)  # READER_VIEW_JS
    phone_view: dict = field(default_factory=dict)  # PHONE_VIEW_JS, dark theme, 390 px


# On a phone (390 px), dark theme: figures and tables whose box runs past the screen's right edge
# (a figure wider than the column must scroll inside its own box, and say so under it: a phone
# shows no scroll bar), and figures drawn through a CSS filter (the theme restyles, never inverts).
PHONE_VIEW_JS = """() => {
  const article = document.querySelector("article.bd-article");
  const seen = (el) => el.checkVisibility({visibilityProperty: true});
  const figures = Array.from(article.querySelectorAll(
    ".cnn-tutorial-bokeh, .cnn-tutorial-diagram, img, table, .cell_output pre")).filter(seen);
  const box = (el) => {  // the element, or the box it scrolls in
    for (let node = el; node && node !== article; node = node.parentElement) {
      const style = getComputedStyle(node);
      if (style.overflowX === "auto" || style.overflowX === "scroll") return node;
    }
    return el;
  };
  const name = (el) => `${el.tagName.toLowerCase()}.${el.className}`.slice(0, 80);
  const cut = figures.filter((el) => box(el).getBoundingClientRect().right > innerWidth + 1).map(name);
  const unmarked = figures.filter((el) => el.tagName !== "PRE").map(box)
    .filter((el) => el.scrollWidth > el.clientWidth + 1
      && !getComputedStyle(el, "::after").content.includes("swipe sideways")).map(name);
  const filtered = figures.filter((el) => /cnn-tutorial|IMG/.test(el.className + el.tagName))
    .filter((el) => getComputedStyle(el).filter !== "none").map(name);
  return {cut, unmarked: [...new Set(unmarked)], filtered, theme: document.documentElement.dataset.theme};
}"""
PHONE = {"width": 390, "height": 844}


@pytest.fixture(scope="session")
def book_html(tmp_path_factory) -> Path:
    """The book built from the repository into a temporary folder by the Makefile's one build
    command (``make html``: warnings are errors), with this interpreter's environment."""
    out = tmp_path_factory.mktemp("book")
    command = ["make", "--no-print-directory", "html", f"VENV={sys.prefix}", f"BOOK_OUT={out}"]
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True)
    if result.returncode != 0:
        pytest.fail(f"jupyter-book build failed:\n{result.stdout[-6000:]}\n{result.stderr[-6000:]}")
    return out / "_build" / "html"


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002  (the base class's name)
        pass


@pytest.fixture(scope="session")
def book_url(book_html):
    """Base URL of the built book, served by a thread on an ephemeral port."""
    handler = functools.partial(_QuietHandler, directory=str(book_html))
    server = http.server.ThreadingHTTPServer((HOST, 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://{HOST}:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


def _watch(page, record: PageRecord) -> None:
    """Record the page's console errors, and abort and record its requests to other hosts."""

    def on_request(route):
        if urlsplit(route.request.url).hostname == HOST:
            route.continue_()
        else:
            record.offsite_requests.append(route.request.url)
            route.abort()

    def on_console(message):
        if message.type == "error":
            record.console_errors.append(message.text)

    def on_page_error(error):
        record.console_errors.append(f"uncaught: {error}")

    page.route("**/*", on_request)
    page.on("console", on_console)
    page.on("pageerror", on_page_error)


@pytest.fixture(scope="session")
def records(browser, book_url) -> dict[str, PageRecord]:
    """Open every page of the table of contents once; what the browser saw, by page."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    seen: dict[str, PageRecord] = {}
    for name in PAGES:
        record = seen[name] = PageRecord()
        page = browser.new_page(viewport=VIEWPORT)
        _watch(page, record)
        page.goto(f"{book_url}{name}.html", wait_until="networkidle")
        try:
            page.wait_for_function(
                f"({PLOTS_JS})().every((plot) => plot.drawn)", timeout=RENDER_TIMEOUT_MS
            )
        except PlaywrightTimeout:
            pass  # recorded below; test_bokeh_plots_drew says which figure
        record.plots = page.evaluate(PLOTS_JS)
        record.links = page.evaluate(SAME_ORIGIN_LINKS_JS)
        record.reader_view = page.evaluate(READER_VIEW_JS)
        page.close()

        phone = browser.new_page(viewport=PHONE, has_touch=True, is_mobile=True)
        phone.add_init_script(
            "localStorage.setItem('mode', 'dark'); localStorage.setItem('theme', 'dark');"
        )
        phone.goto(f"{book_url}{name}.html", wait_until="networkidle")
        try:
            phone.wait_for_function(
                f"({PLOTS_JS})().every((plot) => plot.drawn)", timeout=RENDER_TIMEOUT_MS
            )
        except PlaywrightTimeout:
            pass
        record.phone_view = phone.evaluate(PHONE_VIEW_JS)
        phone.close()
    return seen


class _Anchors(HTMLParser):
    """Collects the ``id`` (and ``<a name>``) values of an HTML page: the targets of ``#fragment``."""

    def __init__(self):
        super().__init__()
        self.ids: set[str] = set()

    def handle_starttag(self, tag, attrs):
        for key, value in attrs:
            if value and (key == "id" or (tag == "a" and key == "name")):
                self.ids.add(value)


@functools.cache
def _fetch_anchors(url: str) -> set[str] | str:
    """The anchor ids of the page at ``url``, or an error message if it cannot be fetched."""
    try:
        with urllib.request.urlopen(url) as response:
            body = response.read()
            kind = response.headers.get_content_type()
    except urllib.error.URLError as error:
        return f"{error}"
    parser = _Anchors()
    if kind == "text/html":
        parser.feed(body.decode("utf-8", errors="replace"))
    return parser.ids


@pytest.mark.parametrize("page", PAGES)
def test_no_console_errors(records, page):
    assert records[page].console_errors == []


@pytest.mark.parametrize("page", PAGES)
def test_no_offsite_requests(records, page):
    assert records[page].offsite_requests == []


@pytest.mark.parametrize("page", PAGES)
def test_bokeh_plots_drew(records, page):
    undrawn = [plot for plot in records[page].plots if not plot["drawn"]]
    assert undrawn == []


CHAPTERS = [page for page in PAGES if (REPO / f"{page}.ipynb").is_file()]


@pytest.mark.parametrize("page", PAGES)
def test_code_fits_the_text_column(records, page):
    """No code block (cell, shown source, opened solution) scrolls sideways at a 1280 px window."""
    assert records[page].reader_view["scrolling"] == []


@pytest.mark.parametrize("page", PAGES)
def test_outputs_fit_the_text_column(records, page):
    assert records[page].reader_view["wide"] == []


@pytest.mark.parametrize("page", PAGES)
def test_no_visible_cell_only_asserts(records, page):
    """Checks that the notebook tests run are removed from the page (tag remove-cell)."""
    assert records[page].reader_view["assertOnly"] == []


@pytest.mark.parametrize("page", PAGES)
def test_every_figure_has_a_text_alternative(records, page):
    figures = records[page].reader_view["figures"]
    assert [
        figure for figure in figures if figure["role"] != "figure" or len(figure["alt"]) < 20
    ] == []


@pytest.mark.parametrize("page", PAGES)
def test_no_alt_text_in_visible_code(records, page):
    """A figure's description lives in its cell's metadata, not in the code a reader sees."""
    assert records[page].reader_view["altInCode"] == []


@pytest.mark.parametrize("page", PAGES)
def test_nothing_cut_at_the_right_edge_of_a_phone(records, page):
    view = records[page].phone_view
    assert view["theme"] == "dark"
    assert view["cut"] == []
    assert view["unmarked"] == [], "a box scrolls sideways without saying so"


@pytest.mark.parametrize("page", PAGES)
def test_no_figure_is_drawn_through_a_css_filter(records, page):
    assert records[page].phone_view["filtered"] == []


def test_book_has_explorers_and_diagrams(records):
    views = [record.reader_view for record in records.values()]
    assert sum(view["explorers"] for view in views) >= 4
    assert sum(view["diagrams"] for view in views) >= 2


@pytest.mark.parametrize("page", CHAPTERS)
def test_chapter_has_exercises_with_folded_solutions(records, page):
    view = records[page].reader_view
    assert view["exercises"] >= 3
    assert len(view["folded"]) >= view["exercises"]  # a solution for every exercise
    assert all(view["folded"]), "a solution is open before the reader opens it"


@pytest.mark.parametrize("theme, dark", [("light", False), ("dark", True)])
@pytest.mark.parametrize(
    "chapter, selector",
    [
        ("backprop", ".cnn-tutorial-bokeh"),
        ("distributed", "img.cnn-tutorial-diagram:visible"),
        ("backprop", "figure.cnn-tutorial-diagram"),
        ("backprop", "div.output.text_html:has(> .cnn-tutorial-full-source)"),
    ],
    ids=["Bokeh figure", "SVG diagram", "inline SVG diagram", "source view"],
)
def test_figures_follow_the_theme(browser, book_url, theme, dark, chapter, selector):
    """A figure (Bokeh, or a chapter's SVG diagram) and the package's source, as show_source
    shows it, are light on the light theme and dark on the dark one (not a white box)."""
    from PIL import Image, ImageStat

    page = browser.new_page(viewport=VIEWPORT)
    page.add_init_script(
        f"localStorage.setItem('mode', '{theme}'); localStorage.setItem('theme', '{theme}');"
    )
    page.goto(f"{book_url}book/{chapter}.html", wait_until="networkidle")
    page.wait_for_function(f"({PLOTS_JS})().every((plot) => plot.drawn)", timeout=RENDER_TIMEOUT_MS)
    assert page.evaluate("document.documentElement.dataset.theme") == theme
    figure = page.locator(selector).first
    figure.scroll_into_view_if_needed()
    image = Image.open(io.BytesIO(figure.screenshot())).convert("L")
    page.close()
    brightness = ImageStat.Stat(image).mean[0]
    assert (brightness < 100) if dark else (brightness > 155), brightness


# The interactive figures (cnn_tutorial.figures.explorers) on their chapter pages, found by model name
# among the page's Bokeh documents.
FIND_MODEL_JS = """(name) => {
  for (const doc of Bokeh.documents) { const model = doc.get_model_by_name(name); if (model) return model; }
  return null;
}"""
EXPLORER_STATE_JS = f"""() => {{
  const find = {FIND_MODEL_JS};
  const image = find("conv_output_source").data.image[0];
  return {{value: find("conv_position").value, readout: find("conv_readout").text,
          shown: Array.from(image).filter((v) => !Number.isNaN(v)).length}};
}}"""
POOL_STATE_JS = f"""() => {{
  const find = {FIND_MODEL_JS};
  return {{index: find("pool_cell").data.index[0], winner: find("pool_winner").data.x[0],
          readout: find("pool_readout").text}};
}}"""
POOL_CELL_JS = f"""([row, col]) => {{
  const view = Bokeh.index.find_one(({FIND_MODEL_JS})("pool_output"));
  view.el.scrollIntoView({{block: "center", inline: "center"}});
  const canvas = view.canvas_view.el.getBoundingClientRect();
  return [canvas.left + view.frame.x_scale.compute(col + 0.5),
          canvas.top + view.frame.y_scale.compute(row + 0.5)];
}}"""


def _open_chapter(browser, book_url, chapter, phone=False):
    """A chapter page with its figures drawn; ``phone``: a 390 px touch screen."""
    page = (
        browser.new_page(viewport=PHONE, has_touch=True, is_mobile=True)
        if phone
        else browser.new_page(viewport=VIEWPORT)
    )
    record = PageRecord()
    _watch(page, record)
    page.goto(f"{book_url}book/{chapter}.html", wait_until="networkidle")
    page.wait_for_function(f"({PLOTS_JS})().every((plot) => plot.drawn)", timeout=RENDER_TIMEOUT_MS)
    return page, record


def test_the_convolution_slider_moves_the_window_in_the_book(browser, book_url):
    page, record = _open_chapter(browser, book_url, "forward_ops")
    before = page.evaluate(EXPLORER_STATE_JS)
    handle = page.locator(".noUi-handle").first  # the explorer's slider (noUiSlider)
    handle.scroll_into_view_if_needed()
    handle.focus()
    for _ in range(3):
        page.keyboard.press("ArrowLeft")
    page.wait_for_function(
        f"() => ({EXPLORER_STATE_JS})().value == {before['value'] - 3}", timeout=10_000
    )
    after = page.evaluate(EXPLORER_STATE_JS)
    page.close()
    assert before["shown"] == before["value"] + 1  # the output filled in up to the window
    assert after["shown"] == after["value"] + 1 == before["shown"] - 3
    assert after["readout"] != before["readout"]
    assert record.console_errors == []


def test_hovering_a_pooled_cell_traces_its_winner_in_the_book(browser, book_url):
    page, record = _open_chapter(browser, book_url, "backprop")
    states = []
    for row, col in [(1, 2), (3, 0)]:
        x, y = page.evaluate(POOL_CELL_JS, [row, col])
        page.mouse.move(x, y)
        page.wait_for_function(
            f"() => ({POOL_STATE_JS})().index == {row * 4 + col}", timeout=10_000
        )
        states.append(page.evaluate(POOL_STATE_JS))
    page.close()
    assert states[0]["readout"].startswith("out[1, 2]") and states[1]["readout"].startswith(
        "out[3, 0]"
    )
    assert states[0]["winner"] != states[1]["winner"]
    assert record.console_errors == []


def test_book_has_bokeh_plots(records):
    """Guards the test above from passing vacuously: some page must have drawn a figure."""
    assert any(plot["drawn"] for record in records.values() for plot in record.plots)


@pytest.mark.parametrize("page", PAGES)
def test_internal_links_resolve(records, page):
    broken = []
    for link in sorted(set(records[page].links)):
        target, fragment = urldefrag(link)
        anchors = _fetch_anchors(target)
        if isinstance(anchors, str):
            broken.append(f"{link}: {anchors}")
        elif fragment and unquote(fragment) not in anchors:
            broken.append(f"{link}: no element with id {unquote(fragment)!r}")
    assert records[page].links, "a page of the book with no internal links at all"
    assert broken == []


def open_notebook_page(browser, body: str, viewport: dict | None = None):
    """A page as a live notebook shows ``body`` (``show()`` outputs), with no BokehJS of its own.

    The CDN is played by the installed bokeh package: requests to it are answered with the local
    files, so nothing leaves the machine; every other request is aborted. Returns ``(page, errors,
    fetched)``: console errors and uncaught exceptions, and the CDN URLs requested, in order.
    """
    from bokeh import __version__ as version

    from cnn_tutorial.figures.display import installed_bokehjs

    notebook = f"<!doctype html><html><head></head><body>{body}</body></html>"
    local = {f"{name}.min.js": path for name, path in installed_bokehjs().items()}
    fetched, errors = [], []

    def serve(route):
        url = route.request.url
        if url == "http://notebook.test/":
            route.fulfill(body=notebook, content_type="text/html")
        elif url.startswith("https://cdn.bokeh.org/"):
            fetched.append(url)
            # bokeh-widgets-3.9.2.min.js on the CDN is bokeh-widgets.min.js in the package
            name = url.rsplit("/", 1)[-1].replace(f"-{version}", "")
            route.fulfill(path=local[name], content_type="text/javascript")
        else:
            route.abort()

    page = browser.new_page(viewport=viewport or VIEWPORT)
    page.route("**/*", serve)
    page.on("console", lambda message: message.type == "error" and errors.append(message.text))
    page.on("pageerror", lambda error: errors.append(f"uncaught: {error}"))
    page.goto("http://notebook.test/", wait_until="load")
    return page, errors, fetched


def test_show_fetches_bokehjs_in_a_live_notebook(browser):
    """Without BokehJS on the page (Jupyter, Colab), show()'s output loads it from Bokeh's CDN,
    and two figures on one page load each file only once."""
    from bokeh import __version__ as version
    from bokeh.layouts import column
    from bokeh.models import Slider
    from bokeh.plotting import figure
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    from cnn_tutorial.figures.display import figure_html

    plots = []
    for title in ("first", "second"):
        plot = figure(width=300, height=200, title=title)
        plot.line([0, 1, 2], [2, 0, 1], line_width=3)
        plots.append(column(plot, Slider(start=0, end=1, value=0.5, step=0.1)))  # + bokeh-widgets
    page, errors, fetched = open_notebook_page(browser, "".join(map(figure_html, plots)))
    try:
        page.wait_for_function(
            f"({PLOTS_JS})().every((plot) => plot.drawn)", timeout=RENDER_TIMEOUT_MS
        )
    except PlaywrightTimeout:
        pass  # reported by the asserts below
    drawn = [plot["drawn"] for plot in page.evaluate(PLOTS_JS)]
    page.close()
    assert errors == []
    assert drawn == [True, True]
    assert [url.rsplit("/", 1)[-1] for url in fetched] == [
        f"bokeh-{version}.min.js",
        f"bokeh-widgets-{version}.min.js",
    ]


@pytest.mark.parametrize("page", CHAPTERS)
def test_launch_buttons_open_the_chapter_at_its_real_path(book_html, page):
    """Binder and Colab open ``book/<chapter>.ipynb`` of the repository and branch of _config.yml."""
    repository = yaml.safe_load((REPO / "_config.yml").read_text())["repository"]
    owner_repo = repository["url"].rstrip("/").removeprefix("https://github.com/")
    html = (book_html / f"{page}.html").read_text()
    binder = f"https://mybinder.org/v2/gh/{owner_repo}/{repository['branch']}?urlpath=lab/tree/{page}.ipynb"
    colab = f"https://colab.research.google.com/github/{owner_repo}/blob/{repository['branch']}/{page}.ipynb"
    assert binder in html and colab in html


# The first diverging image on a page (a colour mapper from below zero to above it) that has a zero:
# its rectangle on the page, in CSS pixels, after scrolling it into view.
DIVERGING_IMAGE_JS = """() => {
  for (const doc of Bokeh.documents) {
    for (const renderer of doc.all_models) {
      if (renderer.type !== "GlyphRenderer" || renderer.glyph.type !== "Image") continue;
      const mapper = renderer.glyph.color_mapper;
      const data = renderer.data_source.data;
      if (!(mapper.low < 0 && mapper.high > 0) || !Array.from(data.image[0]).includes(0)) continue;
      const plot = Array.from(doc.all_models)
        .find((m) => m.type === "Figure" && m.renderers.includes(renderer));
      const view = Bokeh.index.find_one(plot);
      view.el.scrollIntoView({block: "center"});
      const canvas = view.canvas_view.el.getBoundingClientRect();
      const [x, y, dw, dh] = [data.x[0], data.y[0], data.dw[0], data.dh[0]];
      const xs = [x, x + dw].map((v) => canvas.left + view.frame.x_scale.compute(v));
      const ys = [y, y + dh].map((v) => canvas.top + view.frame.y_scale.compute(v));
      return {x: Math.min(...xs) + 2, y: Math.min(...ys) + 2,
              width: Math.abs(xs[1] - xs[0]) - 4, height: Math.abs(ys[1] - ys[0]) - 4};
    }
  }
  return null;
}"""


def test_a_diverging_figure_keeps_its_colours_in_the_dark_theme(browser, book_url):
    """The hand-made filters of the forward chapter (blue negative, white zero, red positive): the
    image's pixels are the same in both themes, white zero included."""
    from PIL import Image, ImageChops

    shots = {}
    for theme in ("light", "dark"):
        page = browser.new_page(viewport=VIEWPORT)
        page.add_init_script(
            f"localStorage.setItem('mode', '{theme}'); localStorage.setItem('theme', '{theme}');"
        )
        page.goto(f"{book_url}book/forward_ops.html", wait_until="networkidle")
        page.wait_for_function(
            f"({PLOTS_JS})().every((plot) => plot.drawn)", timeout=RENDER_TIMEOUT_MS
        )
        clip = page.evaluate(DIVERGING_IMAGE_JS)
        assert clip is not None and clip["width"] > 20 and clip["height"] > 20
        page.wait_for_timeout(300)
        shots[theme] = Image.open(io.BytesIO(page.screenshot(clip=clip))).convert("RGB")
        page.close()
    light, dark = shots["light"], shots["dark"]
    assert light.size == dark.size
    assert max(high for _, high in ImageChops.difference(light, dark).getextrema()) <= 2
    assert dark.convert("L").getextrema()[1] >= 245  # the white zero


def test_the_book_explorers_answer_a_touch_on_a_phone(browser, book_url):
    """On a 390 px touch screen: tapping a unit of the receptive-field explorer (forward chapter) and
    a pixel of the convolution-backward explorer (backprop) changes what they show."""
    readouts = {
        "forward_ops": ("rf_readout", "rf_conv1", 3, 3, "(3, 3)"),
        "backprop": ("bwd_readout", "bwd_dy", 2, 1, "dy[2, 1]"),
    }
    for chapter, (readout, plot, row, col, picked) in readouts.items():
        page, _ = _open_chapter(browser, book_url, chapter, phone=True)
        find = f"({FIND_MODEL_JS})"
        before = page.evaluate(f"() => {find}({readout!r}).text")
        point = page.evaluate(f"""() => {{
          const view = Bokeh.index.find_one({find}({plot!r}));
          view.el.scrollIntoView({{block: "center", inline: "center"}});
          const canvas = view.canvas_view.el.getBoundingClientRect();
          return [canvas.left + view.frame.x_scale.compute({col} + 0.5),
                  canvas.top + view.frame.y_scale.compute({row} + 0.5)];
        }}""")
        page.wait_for_timeout(300)
        page.touchscreen.tap(*point)
        page.wait_for_function(f"() => {find}({readout!r}).text !== {before!r}", timeout=10_000)
        assert picked in page.evaluate(f"() => {find}({readout!r}).text")
        page.close()


def test_tapping_a_pooled_cell_traces_its_winner_on_a_phone(browser, book_url):
    """The max-pool explorer, driven by touch: a tap does what hovering does with a mouse."""
    page, _ = _open_chapter(browser, book_url, "backprop", phone=True)
    for row, col in [(1, 2), (3, 0)]:
        page.evaluate(POOL_CELL_JS, [row, col])  # scrolls the explorer into view
        page.wait_for_timeout(400)  # two taps within 300 ms are a double tap
        page.touchscreen.tap(*page.evaluate(POOL_CELL_JS, [row, col]))
        page.wait_for_function(
            f"() => ({POOL_STATE_JS})().index == {row * 4 + col}", timeout=10_000
        )
        assert page.evaluate(POOL_STATE_JS)["readout"].startswith(f"out[{row}, {col}]")
    page.close()
