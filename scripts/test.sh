#!/usr/bin/env bash
# The test command: install what the tests need, then lint, type-check and test.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup-system.sh
python3 -m pip install --quiet --disable-pip-version-check --config-settings editable_mode=strict -e '.[test]'

ruff check .
ruff format --check .
mypy
python3 -m pytest "$@"
