"""Prose words and visible code lines of each chapter page of a built book, as Chromium renders it.

    python -m scripts.page_words _build/html              # every page of _toc.yml
    python -m scripts.page_words OTHER/_build/html --toc OTHER/_toc.yml

What a reader sees at 1280 px with every fold closed: prose is the rendered text (``innerText``,
which skips what is hidden) of the article with code cells, their outputs and code blocks left
out; visible code is the lines of the visible code-cell inputs plus the package source that
``show_source`` shows (its full source stays folded). Also lists which of the speed and scale-out
names of scripts/prose_words.py appear in that visible code. Needs Debian's ``chromium`` and
Playwright for Python.
"""

from __future__ import annotations

import argparse
import re
import shutil
import sys
from pathlib import Path

import yaml

from scripts.prose_words import MACHINERY

REPO = Path(__file__).resolve().parents[1]

PAGE_JS = """() => {
  const article = document.querySelector("article.bd-article");
  const visible = (el) => el.checkVisibility({visibilityProperty: true});
  const code = [];
  article.querySelectorAll("div.cell_input pre").forEach((pre) => {
    if (visible(pre)) code.push(pre.innerText);
  });
  article.querySelectorAll("div.cell_output div.highlight pre").forEach((pre) => {
    if (visible(pre) && !pre.closest("details")) code.push(pre.innerText);
  });
  const clone = article.cloneNode(true);
  // innerText of a detached clone ignores CSS, so mark what is hidden in the page first.
  const hidden = new Set();
  article.querySelectorAll("*").forEach((el, i) => { if (!visible(el)) hidden.add(i); });
  Array.from(clone.querySelectorAll("*")).forEach((el, i) => {
    if (hidden.has(i)) el.setAttribute("data-hidden", "");
  });
  clone.querySelectorAll("[data-hidden], div.cell, div.highlight, pre, .headerlink, "
                         + "mjx-assistive-mml, script, style")
    .forEach((el) => el.remove());
  document.body.appendChild(clone);
  const text = clone.innerText;
  clone.remove();
  return {text, code};
}"""


def toc_pages(toc_path: Path) -> list[str]:
    toc = yaml.safe_load(toc_path.read_text())
    pages = [toc["root"]]
    for part in toc.get("parts", []) + [{"chapters": toc.get("chapters", [])}]:
        pages += [entry["file"] for entry in part["chapters"]]
    return pages


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("html", type=Path, help="the built book's html folder")
    parser.add_argument("--toc", type=Path, default=REPO / "_toc.yml")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium")
    if chromium is None:
        print("error: Debian's chromium is not installed", file=sys.stderr)
        return 1
    flags = [
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
    ]
    print(f"{'page':28s} {'prose words':>11s} {'code lines':>10s}  machinery in visible code")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=flags)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        for name in toc_pages(args.toc):
            path = args.html / f"{name}.html"
            if not path.is_file():
                continue
            page.goto(path.resolve().as_uri())
            seen = page.evaluate(PAGE_JS)
            words = len(re.findall(r"\S+", seen["text"]))
            lines = sum(1 for block in seen["code"] for line in block.splitlines() if line.strip())
            found = sorted(
                {
                    word
                    for block in seen["code"]
                    for word in MACHINERY
                    if re.search(rf"\b{re.escape(word)}", block)
                }
            )
            print(f"{Path(name).name:28s} {words:11,d} {lines:10d}  {', '.join(found)}", flush=True)
        browser.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
