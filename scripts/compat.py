"""Check the version ranges that pyproject.toml claims, beyond the pinned versions the book uses.

    python -m scripts.compat            # both checks below
    python -m scripts.compat lowest     # or: colab

``lowest``: a virtual environment ``.venv-compat-lowest`` (Python 3.11) with every dependency of
the package, and the ``torch`` extra, at the floor ``pyproject.toml`` gives it (``numpy>=1.26``
installs numpy 1.26.0, ``torch>=2.2`` torch 2.2.0, and so on); the test tools come from ``.venv``
(requirements.txt's versions), read through a ``.pth`` file behind the floors. Then the unit tests
run there, except the tests of the repository's own scripts and of Binder's postBuild, which use
requirements.txt's tools and not the package's floors. The newest releases are requirements.txt's
own pins, which every other test run uses.

``colab``: what Google Colab shipped in late 2026, in ``.venv-compat-colab``: Python 3.13, torch
2.11, torchvision 0.26, numpy 2.1, bokeh 3.8, and the test tools. The unit tests run there (the same
selection as above), then every chapter, top to bottom, with ``--nbval-lax``: each cell must run
without an error; the outputs are not compared (they were stored with requirements.txt's versions).

torch comes from PyPI, the CUDA build on Linux (a few GB per environment, nothing of which runs on a
GPU here). Needs the registry (PyPI); prints each environment's versions.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import sysconfig
from pathlib import Path

import tomllib

REPO = Path(__file__).resolve().parents[1]
COLAB = [
    "torch==2.11.*",
    "torchvision==0.26.*",
    "numpy==2.1.*",
    "bokeh==3.8.*",
    "tqdm",
    "threadpoolctl",
    "ipykernel",
]
TEST_TOOLS = ["pytest", "pytest-timeout", "nbval", "nbclient", "hypothesis", "pyyaml"]
# The unit tests that check the package (not the repository's scripts, not Binder's postBuild).
UNIT_TESTS = [
    "-m",
    "pytest",
    "-q",
    "-p",
    "no:cacheprovider",
    "-m",
    "not browser",
    "tests",
    "--ignore",
    "tests/test_book_scripts.py",
    "-k",
    "not post_build",
]
VERSIONS = """import sys, numpy, bokeh, tqdm, threadpoolctl, torch, torchvision
print("python", sys.version.split()[0], "numpy", numpy.__version__, "bokeh", bokeh.__version__,
      "tqdm", tqdm.__version__, "threadpoolctl", threadpoolctl.__version__,
      "torch", torch.__version__, "torchvision", torchvision.__version__, flush=True)"""


def floors() -> list[str]:
    """``name==version`` for every ``name>=version`` dependency of the package and its torch extra."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    pins = []
    for requirement in project["dependencies"] + project["optional-dependencies"]["torch"]:
        match = re.fullmatch(r"\s*([A-Za-z0-9_.\-]+)\s*>=\s*([0-9.]+)\s*", requirement)
        if not match:
            raise SystemExit(f"pyproject.toml: {requirement!r} is not of the form name>=version")
        pins.append(f"{match[1]}=={match[2]}")
    return pins


def make_venv(name: str, python: str, packages: list[str], parent_env: bool) -> Path:
    """A fresh virtual environment ``REPO/name`` with ``packages``; with ``parent_env``, ``.venv``'s
    packages behind its own (a ``.pth`` file)."""
    venv = REPO / name
    subprocess.run([python, "-m", "venv", "--clear", str(venv)], check=True)
    venv_python = venv / "bin" / "python"
    subprocess.run([venv_python, "-m", "pip", "install", "--quiet", *packages], check=True)
    if parent_env:
        site = subprocess.run(
            [venv_python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        Path(site, "parent_env.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return venv_python


def lowest() -> int:
    pins = floors()
    print("lowest:", " ".join(pins), flush=True)
    python = make_venv(".venv-compat-lowest", sys.executable, pins, parent_env=True)
    subprocess.run([python, "-c", VERSIONS], check=True)
    return subprocess.run([python, *UNIT_TESTS], cwd=REPO).returncode


def find_python(version: str) -> str:
    """A working ``python<version>``: on PATH, or one that pyenv installed."""
    candidates = [
        f"python{version}",
        *map(str, sorted(Path.home().glob(f".pyenv/versions/{version}*/bin/python{version}"))),
    ]
    for candidate in candidates:
        try:
            if subprocess.run([candidate, "--version"], capture_output=True).returncode == 0:
                return candidate
        except OSError:
            continue
    raise SystemExit(f"no working python{version} (tried {candidates})")


def colab() -> int:
    python = find_python("3.13")
    print("colab:", python, " ".join(COLAB), flush=True)
    venv_python = make_venv(".venv-compat-colab", python, COLAB + TEST_TOOLS, parent_env=False)
    subprocess.run([venv_python, "-c", VERSIONS], check=True)
    env = dict(
        os.environ, PYTHONPATH=str(REPO)
    )  # the package from this checkout, as Colab's install
    unit = subprocess.run([venv_python, *UNIT_TESTS], cwd=REPO, env=env).returncode
    chapters = subprocess.run(
        [venv_python, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--nbval-lax", "book/"],
        cwd=REPO,
        env=env,
    ).returncode
    return unit or chapters


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "checks", nargs="*", choices=["lowest", "colab"], default=["lowest", "colab"]
    )
    args = parser.parse_args(argv)
    failed = [name for name in args.checks if {"lowest": lowest, "colab": colab}[name]() != 0]
    print("compat:", "failed: " + ", ".join(failed) if failed else "passed", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
