#!/usr/bin/env bash
# Creates .venv and installs fourreal with every dependency, in the order
# docs/install.md gives for CPU machines (torch pin first, pyopengl last).
set -euo pipefail
cd "$(dirname "$0")/.."

SYSTEM_PKGS="libosmesa6 libegl1 libegl-mesa0 libgl1-mesa-dri ffmpeg chromium"
missing=""
for p in $SYSTEM_PKGS; do
  dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"
done
if [ -n "$missing" ]; then
  if [ "$(id -u)" = "0" ]; then
    echo "[install] apt-get install:$missing"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null
  else
    echo "[install] WARNING: system packages missing:$missing" >&2
    echo "[install] run as root, or: sudo apt-get install -y$missing" >&2
    echo "[install] (headless rendering needs libosmesa6; the UI test needs chromium)" >&2
  fi
fi

if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
PIP=".venv/bin/pip --disable-pip-version-check -q"
stamp=.venv/.fourreal-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  $PIP install torch==2.13.0
  $PIP install -e ".[dev]"
  # pyrender pins PyOpenGL 3.1.0, which lacks OSMesaCreateContextAttribs:
  # upgrade in a separate call so pip keeps pyrender 0.1.45 (docs/install.md#the-install-in-order).
  $PIP install pyopengl==3.1.10
  touch "$stamp"
fi
echo "[install] ok: $(.venv/bin/python -c 'import torch,prefect,ray;print("torch",torch.__version__,"prefect",prefect.__version__,"ray",ray.__version__)')"
