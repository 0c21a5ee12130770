"""Re-execute the book's chapters in place, so that their stored outputs are fresh.

    python -m scripts.refresh_notebooks                  # every chapter, in _toc.yml order
    python -m scripts.refresh_notebooks forward_ops      # only the chapters named
    python -m scripts.refresh_notebooks book/backprop.ipynb --timeout 7200
    python -m scripts.refresh_notebooks --out /tmp/elsewhere     # executed copies, book/ untouched

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

from cnn_tutorial.checks import PROGRESS_ENV_VAR
from cnn_tutorial.files import atomic_write
from scripts.toc import chapter_notebooks

REPO = Path(__file__).resolve().parents[1]
BOOK = REPO / "book"

# conftest.py gives nbval's kernels these same values: refreshed outputs must match what nbval sees.
SEEDED_ENV = {
    "PYTHONHASHSEED": "0",
    PROGRESS_ENV_VAR: "0",
}  # and no progress bars in stored outputs


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
    """The chapters in reading order when ``names`` is empty, else each name as a path or a chapter name.

    Named chapters are refreshed in ``_toc.yml`` order too, whatever order they were named in: a
    chapter may load what an earlier one saved.
    """
    order = chapter_notebooks(REPO)
    if not names:
        return order
    paths = []
    for name in names:
        path = Path(name) if name.endswith(".ipynb") else BOOK / f"{name}.ipynb"
        if not path.is_file():
            raise SystemExit(f"no notebook {path}")
        paths.append(path.resolve())
    return sorted(paths, key=lambda path: order.index(path) if path in order else len(order))


def refresh(path: Path, timeout: int, target: Path | None = None) -> None:
    """Execute the notebook at ``path`` and write it with its new outputs to ``target`` (default: ``path``).

    The kernel runs in ``path``'s folder either way, so that the chapter finds what it reads there.
    """
    target = path if target is None else target
    notebook = nbformat.read(path, as_version=4)
    kernel = CurrentEnvKernelManager()
    client = NotebookClient(
        notebook,
        km=kernel,
        timeout=timeout,
        resources={"metadata": {"path": str(path.parent)}},  # the kernel's working directory
        record_timing=False,  # no timestamps in cell metadata: they would churn every diff
    )
    try:
        client.execute()
    finally:
        # nbclient leaves a kernel it was handed running: stop it, or every chapter's kernel (and
        # its memory) would stay alive until the last chapter is done.
        if kernel.has_kernel:
            kernel.shutdown_kernel(now=True)
    mode = path.stat().st_mode
    with atomic_write(target, "w") as handle:
        nbformat.write(notebook, handle)
    target.chmod(mode)  # keep the notebook's permissions as they were


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "chapters", nargs="*", help="chapter names or notebook paths (default: all)"
    )
    parser.add_argument("--timeout", type=int, default=3600, help="seconds allowed per cell")
    parser.add_argument(
        "--out",
        type=Path,
        metavar="DIR",
        help="write the executed chapters into DIR instead of in place (to compare them "
        "with scripts/compare_outputs.py)",
    )
    args = parser.parse_args(argv)
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
    os.environ.update(SEEDED_ENV)  # inherited by the kernels started below
    for path in chapter_paths(args.chapters):
        start = time.perf_counter()
        print(f"{path.name}: running ...", flush=True)
        try:
            refresh(path, args.timeout, None if args.out is None else args.out / path.name)
        except CellExecutionError as error:
            print(f"{path.name}: FAILED, left unchanged\n{error}", file=sys.stderr)
            return 1
        where = "" if args.out is None else f" into {args.out}"
        print(f"{path.name}: refreshed{where} in {time.perf_counter() - start:.1f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
