"""Write each inline ``<script>`` once per page (works around a Sphinx 7 bug).

Symptom: every page of a default Jupyter Book v1 logs
``SyntaxError: Identifier 'THEBE_JS_URL' has already been declared``.

Cause: sphinx-thebe (loaded by every Jupyter Book) adds ``const THEBE_JS_URL = ...`` with
``app.add_js_file(None, body=...)`` after the HTML builder started. Sphinx passes that script to the
builder with filename ``None``, then again from its registry with filename ``""``; the two compare
unequal, so the page gets the ``<script>`` twice and the second ``const`` throws. Fixed upstream in
sphinx-doc/sphinx#13402 (Sphinx 8.2), which Jupyter Book v1 cannot use. sphinx-togglebutton's inline
script is doubled the same way, harmlessly.

Fix: on every page, drop script entries equal to an earlier one once ``None`` and ``""`` are treated
alike. Launch buttons (Binder, Colab) and thebe stay as they are.
"""

from __future__ import annotations


def drop_duplicate_scripts(app, pagename, templatename, context, doctree) -> None:
    """``html-page-context``: keep the first of several identical script entries."""
    scripts = context.get("script_files")
    if not scripts:
        return
    seen = set()
    unique = []
    for script in scripts:
        key = (script.filename or "", script.priority, tuple(sorted(script.attributes.items())))
        if key not in seen:
            seen.add(key)
            unique.append(script)
    # In place: Sphinx restores this list before the next page.
    scripts[:] = unique


def setup(app):
    # Late priority: after every extension that adds page-specific scripts.
    app.connect("html-page-context", drop_duplicate_scripts, priority=900)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
