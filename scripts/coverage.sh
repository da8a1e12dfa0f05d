#!/usr/bin/env bash
# The test suite under coverage, measured correctly, then the thresholds checked.
#
# `coverage run -m pytest` starts measuring before pytest loads the pytest11 plugin (which
# imports license_token); `patch = ["subprocess"]` (pyproject) measures the CLI subprocesses.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
rm -f .coverage .coverage.*
"$PY" -m coverage run -m pytest "$@"
"$PY" -m coverage combine -q
"$PY" -m coverage json -q -o coverage.json
"$PY" -m coverage report --skip-covered --sort=cover | tail -25
"$PY" scripts/coverage_check.py coverage.json
