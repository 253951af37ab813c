#!/usr/bin/env bash
# Install the project with its test dependencies and run the whole test suite, fast and slow tiers (CPU only).
# Extra arguments go to pytest (a later -m replaces the one here).
# This is the README's test command; CI (.ci/run) runs exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."
python -m pip install --quiet --disable-pip-version-check torch==2.13.0
python -m pip install --quiet --disable-pip-version-check -e ".[test]"
python -m ruff check .              # the linter: pyproject.toml [tool.ruff]
python -m pytest -q -m "" "$@"   # -m "": both tiers (pyproject.toml's addopts deselect the slow one)
