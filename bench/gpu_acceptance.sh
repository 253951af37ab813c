#!/usr/bin/env bash
# GPU acceptance: every check a CPU cannot make, in one command, one JSON summary (see bench/gpu_acceptance.py).
#   bash bench/gpu_acceptance.sh                                   # on a GPU machine (< 10 minutes)
#   bash bench/gpu_acceptance.sh --out runs/gpu_day.json          # summary elsewhere
#   bash bench/gpu_acceptance.sh --device cpu --tiny              # the same stages, tiny, anywhere
#   PYTHON=/path/to/venv/bin/python bash bench/gpu_acceptance.sh  # an interpreter other than `python` on PATH
set -euo pipefail
cd "$(dirname "$0")/.."
exec "${PYTHON:-python}" bench/gpu_acceptance.py "$@"
