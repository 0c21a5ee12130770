"""The package's layering: lower floors never import higher ones (see DESIGN.md, "The house")."""

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "cnn_tutorial"


def _imported_modules(module: str) -> set[str]:
    """The package modules that ``cnn_tutorial/<module>.py`` imports (relative imports only)."""
    tree = ast.parse((PACKAGE / f"{module}.py").read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            names.update([node.module] if node.module else [alias.name for alias in node.names])
    return names


def test_lower_floors_do_not_import_higher_ones():
    """The readable loops stand alone; the math kernels never import the data module."""
    assert _imported_modules("loops") <= {"checks"}
    for kernel in ("ops", "fast_conv", "fourier", "numpy_convnet"):
        assert "data" not in _imported_modules(kernel), kernel


def _third_party_imports() -> dict[str, set[str]]:
    """Top-level names of the non-standard-library modules each package module imports (anywhere in it)."""
    import sys

    found = {}
    for path in sorted(PACKAGE.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top not in sys.stdlib_module_names and top != "cnn_tutorial":
                    found.setdefault(top, set()).add(path.name)
    return found


def test_every_third_party_import_is_declared_in_pyproject():
    """`pip install .` (or `.[torch]`) must bring everything the package imports."""
    import re
    import tomllib

    project = tomllib.loads((PACKAGE.parent / "pyproject.toml").read_text())["project"]
    declared = {re.split(r"[<>=!~ \[;]", requirement)[0].lower()
                for requirement in project["dependencies"] + project["optional-dependencies"]["torch"]}
    # Imported only where a notebook runs (display) or a package's own name differs from the import.
    provided_elsewhere = {"IPython": "ipykernel (the notebooks' kernel)"}
    missing = {name: files for name, files in _third_party_imports().items()
               if name.lower() not in declared and name not in provided_elsewhere}
    assert not missing, f"imported but not in pyproject.toml's dependencies: {missing}"
