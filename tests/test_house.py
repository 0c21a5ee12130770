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
