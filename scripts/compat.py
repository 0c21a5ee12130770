"""Check the version ranges that pyproject.toml claims, beyond the pinned versions the book uses.

    python scripts/compat.py            # both checks below
    python scripts/compat.py lowest     # or: colab

``lowest``: a virtual environment ``.venv-compat-lowest`` (Python 3.11) with every dependency of
the package at the floor ``pyproject.toml`` gives it (``numpy>=1.26`` installs numpy 1.26.0, and so
on); the test tools, torch and torchvision come from ``.venv`` (requirements.txt's versions),
read through a ``.pth`` file. Then the unit tests run there, except the tests of the repository's
own scripts and of Binder's postBuild, which use requirements.txt's tools and not the package's
floors. The newest releases are requirements.txt's own pins, which every other test run uses.

``colab``: what Google Colab shipped in late 2026, without torch (which Colab has and which this
machine cannot download as a CPU build): Python 3.13, numpy 2.1, bokeh 3.8, in
``.venv-compat-colab``; a smoke run imports the package, checks the batched convolution against
the loops, trains the numpy CNN for a few steps on two processes and draws the training plot.

Needs the registry (PyPI) for the floor versions; prints each environment's versions.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import sysconfig
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SMOKE = """
import numpy as np, bokeh, tqdm, threadpoolctl, sys
import cnn_tutorial as ct
from cnn_tutorial import loops, ops
from cnn_tutorial.numpy_net import NumpyCNN, fit
from cnn_tutorial.plotting import plot_history
print("python", sys.version.split()[0], "numpy", np.__version__, "bokeh", bokeh.__version__,
      "tqdm", tqdm.__version__, "threadpoolctl", threadpoolctl.__version__)
rng = np.random.default_rng(0)
x, w, b = rng.standard_normal((2, 3, 9, 9)), rng.standard_normal((4, 3, 3, 3)), rng.standard_normal(4)
for method in ("simple", "im2col", "fourier"):
    batched = ops.conv2d(x, w, b, method=method)
    assert np.allclose(batched[1], loops.convolution(x[1], w, b), atol=1e-10), method
images = rng.standard_normal((96, 1, 28, 28)).astype(np.float32)
labels = rng.integers(0, 10, 96)
history = fit(NumpyCNN.initialize(0), images[:64], labels[:64], images[64:], labels[64:], epochs=1,
              progress=False, workers=2)
assert len(history.step_loss) == 2 and np.isfinite(history.step_loss).all()
plot_history(history)
print("smoke run passed: ops equal the loops, two gradient workers trained, the plot was drawn")
"""


def floors() -> list[str]:
    """``name==version`` for every ``name>=version`` dependency of the package."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    pins = []
    for requirement in project["dependencies"]:
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
        site = subprocess.run([venv_python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                              capture_output=True, text=True, check=True).stdout.strip()
        Path(site, "parent_env.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return venv_python


def lowest() -> int:
    pins = floors()
    print("lowest:", " ".join(pins), flush=True)
    python = make_venv(".venv-compat-lowest", sys.executable, pins, parent_env=True)
    return subprocess.run([python, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-m", "not browser",
                           "tests", "--ignore", "tests/test_book_scripts.py", "-k", "not post_build"],
                          cwd=REPO).returncode


def find_python(version: str) -> str:
    """A working ``python<version>``: on PATH, or one that pyenv installed."""
    candidates = [f"python{version}", *map(str, sorted(Path.home().glob(f".pyenv/versions/{version}*/bin/python{version}")))]
    for candidate in candidates:
        try:
            if subprocess.run([candidate, "--version"], capture_output=True).returncode == 0:
                return candidate
        except OSError:
            continue
    raise SystemExit(f"no working python{version} (tried {candidates})")


def colab() -> int:
    python = find_python("3.13")
    packages = ["numpy==2.1.*", "bokeh==3.8.*", "tqdm", "threadpoolctl"]
    print("colab:", python, " ".join(packages), flush=True)
    venv_python = make_venv(".venv-compat-colab", python, packages, parent_env=False)
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.run([venv_python, "-c", SMOKE], cwd=REPO, env=env).returncode


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("checks", nargs="*", choices=["lowest", "colab"], default=["lowest", "colab"])
    args = parser.parse_args(argv)
    failed = [name for name in args.checks if {"lowest": lowest, "colab": colab}[name]() != 0]
    print("compat:", "failed: " + ", ".join(failed) if failed else "passed", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
