"""The Binder environment (binder/): the root's pins, only what the chapters need, and a postBuild
that installs the package editable and puts MNIST in the package's cache.

Binder itself, and PyTorch's CPU wheel index that binder/requirements.txt names, cannot be reached
from the machines that run these tests; what can be checked here is checked."""

from __future__ import annotations

import gzip
import os
import re
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
BINDER = REPO / "binder"
# Book-building and test tools: a reader running chapters in Binder needs none of them.
NOT_FOR_READERS = ("jupyter-book", "sphinx", "pytest", "nbval", "playwright", "hypothesis")


def _requirements(path: Path) -> tuple[dict[str, str], list[str]]:
    """``{name: version}`` of a requirements file's ``name==version`` lines, and its other lines."""
    pins, other = {}, []
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        match = re.fullmatch(r"([A-Za-z0-9_.\-\[\]]+)==(\S+)", line)
        if match:
            pins[match[1].lower()] = match[2]
        else:
            other.append(line)
    return pins, other


def test_binder_pins_are_the_roots_with_cpu_only_torch():
    root, _ = _requirements(REPO / "requirements.txt")
    binder, other = _requirements(BINDER / "requirements.txt")
    for name, version in binder.items():
        assert name in root, f"binder/requirements.txt pins {name}, which requirements.txt does not"
        assert version.split("+")[0] == root[name], f"{name}: binder {version}, root {root[name]}"
    assert binder["torch"].endswith("+cpu") and binder["torchvision"].endswith("+cpu")
    assert other == ["--extra-index-url https://download.pytorch.org/whl/cpu"]
    # What the chapters import at run time, with the notebooks' kernel:
    assert {"torch", "torchvision", "numpy", "bokeh", "tqdm", "ipykernel", "threadpoolctl"} <= set(
        binder
    )


def test_binder_installs_nothing_a_reader_does_not_need():
    text = (BINDER / "requirements.txt").read_text().lower()
    lines = [line.split("#", 1)[0] for line in text.splitlines()]
    assert not any(tool in line for line in lines for tool in NOT_FOR_READERS)
    # No `-e .`: the package comes from postBuild, so this file (and the image layer it builds)
    # stays the same when the package changes.
    assert not any(line.strip().startswith(("-e", "--editable", ".")) for line in lines)


def test_binder_python_is_the_projects():
    """Binder's Python (binder/runtime.txt, the only runtime file) is the one the outputs were made with."""
    assert (BINDER / "runtime.txt").read_text().strip() == "python-3.11"
    assert not (REPO / "runtime.txt").exists()  # repo2docker reads binder/ alone


@pytest.mark.venv
def test_post_build_installs_the_package_editable_and_downloads_mnist(
    tmp_path, mnist_root_for_torchvision
):
    """Run binder/postBuild in a fresh environment, on a copy of the repository, with the download
    pointed at a local mirror of the real MNIST files; then import the package and look in the cache."""
    tracked = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
        check=True,
    ).stdout
    copy = tmp_path / "repo"
    for name in filter(None, tracked.decode().split("\0")):
        if name.startswith("book/") and name.endswith(".ipynb"):
            continue  # not needed to install the package
        target = copy / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes((REPO / name).read_bytes())
        target.chmod((REPO / name).stat().st_mode)
    # A fresh environment whose only third-party packages are this one's, read through a .pth file
    # (pip and setuptools included), so that nothing is downloaded.
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    site = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    Path(site, "parent_env.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    for path in (mnist_root_for_torchvision / "MNIST" / "raw").iterdir():
        (mirror / f"{path.name}.gz").write_bytes(gzip.compress(path.read_bytes()))
    env = {key: value for key, value in os.environ.items() if key != "CNN_TUTORIAL_DATA"}
    env.update(
        PATH=f"{venv / 'bin'}{os.pathsep}{env['PATH']}",
        XDG_CACHE_HOME=str(tmp_path / "cache"),
        CNN_TUTORIAL_MNIST_URL=mirror.as_uri(),
        PIP_NO_INDEX="1",
        PIP_NO_BUILD_ISOLATION="0",
        HOME=str(tmp_path / "home"),
    )
    result = subprocess.run(
        ["bash", str(copy / "binder" / "postBuild")],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    # The package imports from the copy (an edit there takes effect), and loads MNIST from the cache
    # without a network or CNN_TUTORIAL_DATA.
    check = (
        "import cnn_tutorial, cnn_tutorial.data as d; print(cnn_tutorial.__file__); "
        "print(d.resolve_root()); print(len(d.load_mnist('test', download=False)[0]))"
    )
    out = subprocess.run(
        [python, "-c", check], env=env, capture_output=True, text=True, cwd=tmp_path
    )
    assert out.returncode == 0, out.stderr
    package_file, root, test_images = out.stdout.split()
    assert Path(package_file).resolve().is_relative_to(copy.resolve())
    assert Path(root) == tmp_path / "cache" / "cnn_tutorial" and test_images == "10000"
    assert sorted(
        p.name for p in (Path(root) / "MNIST" / "raw").iterdir() if not p.name.endswith(".gz")
    ) == sorted(p.name for p in (mnist_root_for_torchvision / "MNIST" / "raw").iterdir())


@pytest.mark.parametrize("stray", ["setup.py", "environment.yml", "Pipfile"])
def test_nothing_at_the_root_would_make_repo2docker_change_course(stray):
    """With binder/ present repo2docker ignores root configuration; these files would still be
    confusing beside it, so there are none."""
    assert not (REPO / stray).exists()
