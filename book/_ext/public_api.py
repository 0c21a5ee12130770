"""``public-api`` directive: an autosummary table of a package's ``__all__``.

The top-level API of ``cnn_tutorial`` is re-exports only, so documenting it in full would repeat
the module sections below it. Instead each name in ``__all__`` becomes an autosummary row (name and
first docstring line) linked to where it is defined, e.g. ``conv2d`` -> ``cnn_tutorial.ops.conv2d``.
Built from ``__all__`` at build time, the table cannot drift from the package.

Usage in MyST (inside ``{eval-rst}``, since autosummary's table is written in reStructuredText)::

    ```{eval-rst}
    .. public-api:: cnn_tutorial
    ```
"""

from __future__ import annotations

import importlib

from docutils.statemachine import StringList
from sphinx.ext.autosummary import Autosummary
from sphinx.util import logging

logger = logging.getLogger(__name__)


def defining_name(package, name: str) -> str:
    """Dotted path of ``package.name`` where it is defined (the package itself for constants)."""
    obj = getattr(package, name)
    module = getattr(obj, "__module__", None)
    qualname = getattr(obj, "__qualname__", None)
    if module and qualname and module.startswith(package.__name__):
        return f"{module}.{qualname}"
    return f"{package.__name__}.{name}"


class PublicApi(Autosummary):
    """Autosummary of ``__all__`` of the package named in the argument."""

    required_arguments = 1
    has_content = False

    def run(self):
        package = importlib.import_module(self.arguments[0])
        names = getattr(package, "__all__", None)
        if not names:
            logger.warning(
                f"{package.__name__} has no __all__ to list", location=self.get_location()
            )
            return []
        # Autosummary wants names relative to the current module (set by a preceding automodule).
        current = self.env.ref_context.get("py:module")
        paths = [defining_name(package, name) for name in names]
        if current:
            paths = [path.removeprefix(f"{current}.") for path in paths]
        # "~" shows the short name in the table; the link still goes to the full path.
        self.content = StringList([f"~{path}" for path in paths])
        self.options["nosignatures"] = None  # a compact table; signatures are in the sections below
        return super().run()


def setup(app):
    app.setup_extension("sphinx.ext.autosummary")
    app.add_directive("public-api", PublicApi)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
