#!/usr/bin/env bash
# Build the HTML book into _build/html/, failing on any Sphinx warning.
#   scripts/build_book.sh              (with the project's virtual environment active)
# --all rebuilds every page, so a warning in a page that did not change is not hidden by
# Sphinx's incremental build. The notebooks are not executed (execute_notebooks: "off").
set -euo pipefail
cd "$(dirname "$0")/.."
exec jupyter-book build . -W --keep-going --all "$@"
