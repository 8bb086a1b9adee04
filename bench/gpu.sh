#!/usr/bin/env bash
# The GPU path in one device script (bench/gpu.py says what each printed line is).
#   bash bench/gpu.sh               paper preset on CUDA, <= 8 min on one H100/H200
#   bash bench/gpu.sh --cpu-smoke   the same code at the tiny preset on CPU (<= 3 min)
# PYTHON picks the interpreter (default: the project's .venv, else python3).
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ -z "${PYTHON:-}" ]]; then
    if [[ -x .venv/bin/python ]]; then PYTHON=.venv/bin/python; else PYTHON=python3; fi
fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
exec "$PYTHON" -m bench.gpu "$@"
