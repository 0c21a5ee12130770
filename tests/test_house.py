"""The package's layering: lower floors never import higher ones (see DESIGN.md, "The house")."""

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "cnn_tutorial"


def test_lower_floors_do_not_import_higher_ones():
    """The readable loops stand alone; the math kernels never import the data module; the numpy
    core never imports the figures or the PyTorch side (only the command line reaches up)."""
    graph = import_graph()
    assert graph["cnn_tutorial.loops"] <= {"cnn_tutorial.checks", "cnn_tutorial.params"}
    for kernel in (
        "ops",
        "layers",
        "pooling",
        "losses",
        "optimizer",
        "fast.conv",
        "fast.fourier",
        "pytorch.numpy_convnet",
    ):
        assert "cnn_tutorial.data" not in graph[f"cnn_tutorial.{kernel}"], kernel
    core = (
        "loops",
        "ops",
        "layers",
        "pooling",
        "losses",
        "data",
        "mnist_files",
        "numpy_net",
        "optimizer",
        "gradcheck",
        "checks",
        "batching",
        "files",
        "seeds",
        "history",
        "dense",
        "descent",
    )
    for module in core:
        upward = {
            t
            for t in graph[f"cnn_tutorial.{module}"]
            if t.startswith(("cnn_tutorial.figures", "cnn_tutorial.pytorch"))
        }
        assert upward == set(), module


def test_three_sub_packages_show_the_parts():
    """The speed work, the PyTorch side and the figures each have their own folder."""
    packages = {path.parent.name for path in PACKAGE.glob("*/__init__.py")}
    assert packages == {"fast", "pytorch", "figures"}


def _third_party_imports() -> dict[str, set[str]]:
    """Top-level names of the non-standard-library modules each package module imports (anywhere in it)."""
    import sys

    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
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
    declared = {
        re.split(r"[<>=!~ \[;]", requirement)[0].lower()
        for requirement in project["dependencies"] + project["optional-dependencies"]["torch"]
    }
    # Imported only where a notebook runs (display) or a package's own name differs from the import.
    provided_elsewhere = {"IPython": "ipykernel (the notebooks' kernel)"}
    missing = {
        name: files
        for name, files in _third_party_imports().items()
        if name.lower() not in declared and name not in provided_elsewhere
    }
    assert not missing, f"imported but not in pyproject.toml's dependencies: {missing}"


def import_graph() -> dict[str, set[str]]:
    """Every package module (``cnn_tutorial.ops``, ``cnn_tutorial.figures.plots``, ...) and the
    package modules it imports, anywhere in its source (relative and absolute imports)."""
    graph = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        module = ".".join(parts[:-1] if is_package else parts)
        here = parts[:-1]  # the package this file is in (a package's own __init__: itself)
        targets = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                base = here[: len(here) - node.level + 1] if node.level else []
                stem = ".".join(base + ([node.module] if node.module else []))
                for alias in node.names:
                    targets.update([stem, f"{stem}.{alias.name}"])
            elif isinstance(node, ast.Import):
                targets.update(alias.name for alias in node.names)
        graph[module] = targets
    return {
        module: {t for t in targets if t in graph and t != module}
        for module, targets in graph.items()
    }


def test_no_import_cycle_in_the_package():
    """A module never imports, directly or through others, a module that imports it."""
    graph = import_graph()
    # A package's __init__ re-exports its modules; a module importing a sibling through the package
    # would be a cycle too, so __init__ files count like any module, except that importing a
    # package's own submodules is how a package is made.
    edges = {m: {t for t in ts if not t.startswith(m + ".")} for m, ts in graph.items()}
    done, on_path, cycles = set(), [], []

    def visit(module):
        if module in on_path:
            cycles.append(on_path[on_path.index(module) :] + [module])
            return
        if module in done:
            return
        on_path.append(module)
        for target in sorted(edges[module]):
            visit(target)
        on_path.pop()
        done.add(module)

    for module in sorted(edges):
        visit(module)
    assert cycles == []


def _function_bodies():
    """(module, function, lines of body after its docstring) for every function of the package."""
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                body = node.body
                has_docstring = (
                    isinstance(body[0], ast.Expr)
                    and isinstance(body[0].value, ast.Constant)
                    and isinstance(body[0].value.value, str)
                )
                if has_docstring and len(body) == 1:
                    continue
                start = body[1].lineno if has_docstring else body[0].lineno
                yield path.relative_to(PACKAGE.parent), node.name, node.end_lineno - start + 1


def test_size_is_kept_as_a_budget():
    """No module over 500 lines, no function body over 80, counted on the formatted code."""
    long_modules = {
        str(path.relative_to(PACKAGE.parent)): lines
        for path in PACKAGE.rglob("*.py")
        if (lines := path.read_text().count("\n")) > 500
    }
    long_functions = [(str(m), f, n) for m, f, n in _function_bodies() if n > 80]
    assert long_modules == {} and long_functions == []


def test_no_tool_edits_the_import_path():
    """scripts/ and tests/ are packages; nothing reaches for another folder through sys.path."""
    repo = PACKAGE.parent
    files = [repo / "conftest.py", *repo.glob("scripts/*.py"), *repo.glob("tests/*.py")]
    files += [*repo.glob("benchmarks/*.py"), *PACKAGE.rglob("*.py")]
    edits = [
        f"{path.relative_to(repo)}:{number}"
        for path in files
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if "sys.path" in line and path.name != "test_house.py"
    ]
    assert edits == []
