"""Re-execute the book's chapters in place, so that their stored outputs are fresh.

    python scripts/refresh_notebooks.py                  # every book/*.ipynb
    python scripts/refresh_notebooks.py forward_ops      # only the chapters named
    python scripts/refresh_notebooks.py book/backprop.ipynb --timeout 7200

Each notebook runs top to bottom in a fresh kernel of *this* Python environment (whatever kernel
the notebook names), with ``book/`` as working directory and the same seeded environment that
``pytest --nbval book/`` gives its kernels (``PYTHONHASHSEED=0``, see ``conftest.py``).
``CNN_TUTORIAL_DATA`` and the rest of the environment pass through. A notebook is rewritten only
if every cell succeeded; the first failing chapter stops the script with exit status 1.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import nbformat
from jupyter_client.kernelspec import KernelSpec
from jupyter_client.manager import KernelManager
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

REPO = Path(__file__).resolve().parents[1]
BOOK = REPO / "book"
sys.path.insert(0, str(REPO))
from cnn_tutorial.files import atomic_write  # noqa: E402  (the repository's package, installed or not)

# Same values conftest.py sets for nbval's kernels: refreshed outputs must match what nbval sees.
SEEDED_ENV = {"PYTHONHASHSEED": "0"}


class CurrentEnvKernelManager(KernelManager):
    """Starts ``python -m ipykernel_launcher`` of this interpreter, ignoring installed kernelspecs."""

    @property
    def kernel_spec(self) -> KernelSpec:
        return KernelSpec(
            argv=[sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
            display_name="Python (current environment)",
            language="python",
        )


def chapter_paths(names: list[str]) -> list[Path]:
    """``book/*.ipynb`` when ``names`` is empty, else each name as a path or a chapter name."""
    if not names:
        return sorted(BOOK.glob("*.ipynb"))
    paths = []
    for name in names:
        path = Path(name) if name.endswith(".ipynb") else BOOK / f"{name}.ipynb"
        if not path.is_file():
            raise SystemExit(f"no notebook {path}")
        paths.append(path.resolve())
    return paths


def refresh(path: Path, timeout: int) -> None:
    """Execute the notebook at ``path`` and overwrite it with its new outputs."""
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(
        notebook,
        km=CurrentEnvKernelManager(),
        timeout=timeout,
        resources={"metadata": {"path": str(path.parent)}},  # the kernel's working directory
        record_timing=False,  # no timestamps in cell metadata: they would churn every diff
    )
    client.execute()
    mode = path.stat().st_mode
    with atomic_write(path, "w") as handle:
        nbformat.write(notebook, handle)
    path.chmod(mode)  # the temporary file atomic_write renames into place is private (0600)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("chapters", nargs="*", help="chapter names or notebook paths (default: all)")
    parser.add_argument("--timeout", type=int, default=3600, help="seconds allowed per cell")
    args = parser.parse_args(argv)
    os.environ.update(SEEDED_ENV)  # inherited by the kernels started below
    for path in chapter_paths(args.chapters):
        start = time.perf_counter()
        print(f"{path.name}: running ...", flush=True)
        try:
            refresh(path, args.timeout)
        except CellExecutionError as error:
            print(f"{path.name}: FAILED, left unchanged\n{error}", file=sys.stderr)
            return 1
        print(f"{path.name}: refreshed in {time.perf_counter() - start:.1f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
