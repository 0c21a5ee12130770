"""Fixtures shared by the test modules, and the test tiers.

Tiers are the markers declared in pyproject.toml; ``make quick`` leaves them out. ``mnist`` and
``browser`` follow from the fixtures a test asks for (``TIER_OF_FIXTURE``), so a new test lands in
its tier by itself; ``torchrun`` and ``venv`` are written on the few tests that start those.
Where the real MNIST files or Chromium are missing, these tests skip, except in CI (``CI=true``),
where they fail.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from cnn_tutorial import data, mnist_files

# Headless Chromium for the browser tests (test_book_browser.py, test_interactive.py): no sandbox as
# root, no GPU, and none of its own connections to Google (this machine's network is closed).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
]

TIER_OF_FIXTURE = {
    "mnist_root": "mnist",
    "mnist_root_for_torchvision": "mnist",
    "chromium": "browser",
}


def pytest_collection_modifyitems(items):
    for item in items:
        # fixturenames holds every fixture the test needs, those of its fixtures included.
        for tier in {
            TIER_OF_FIXTURE[name]
            for name in getattr(item, "fixturenames", ())
            if name in TIER_OF_FIXTURE
        }:
            item.add_marker(tier)


def skip_or_fail_in_ci(reason: str):
    """Skip the test here; in CI, where everything must run, fail it."""
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"cannot run in CI: {reason}")
    pytest.skip(reason)


def _real_mnist_root(uncompressed_only: bool) -> Path:
    """``$CNN_TUTORIAL_DATA`` when it holds all four MNIST files; otherwise the test skips (fails in CI)."""
    root = os.environ.get(data.DATA_ENV_VAR, "")
    if not root:
        skip_or_fail_in_ci(
            f"{data.DATA_ENV_VAR} is not set; point it at a folder holding MNIST/raw/ to run this"
        )
    raw_dir = Path(root) / "MNIST" / "raw"
    names = [name for names in data.MNIST_FILES.values() for name in names]
    if uncompressed_only:
        missing = [name for name in names if not (raw_dir / name).is_file()]
    else:
        missing = [name for name in names if mnist_files._find(raw_dir, name) is None]
    if missing:
        skip_or_fail_in_ci(f"{data.DATA_ENV_VAR}={root}, but {raw_dir} lacks {', '.join(missing)}")
    return Path(root)


@pytest.fixture(scope="session")
def mnist_root() -> Path:
    """The real MNIST root (idx files raw or gzipped); tests that use it skip without it (fail in CI)."""
    return _real_mnist_root(uncompressed_only=False)


@pytest.fixture(scope="session")
def mnist_root_for_torchvision() -> Path:
    """The real MNIST root with uncompressed idx files, which ``torchvision.datasets.MNIST`` needs offline."""
    return _real_mnist_root(uncompressed_only=True)


@pytest.fixture(scope="session")
def mnist_train(mnist_root):
    """The 60,000 real training images, normalised, float32 (60000, 1, 28, 28), and their labels (60000,)."""
    images, labels = data.load_mnist("train", root=mnist_root, download=False)
    return data.normalize(images), labels


@pytest.fixture(scope="session")
def chromium() -> str:
    """Path of Debian's chromium, with Playwright importable; skip locally, fail in CI."""
    missing = []
    path = shutil.which("chromium")
    if path is None:
        missing.append("chromium is not installed (apt-get install chromium)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        missing.append("playwright is not installed (pip install playwright)")
    if missing:
        skip_or_fail_in_ci("; ".join(missing))
    return path


@pytest.fixture(scope="session")
def browser(chromium):
    """One headless Chromium for the whole session."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        yield browser
        browser.close()
