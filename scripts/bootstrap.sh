#!/usr/bin/env bash
# Set up evalsuite from scratch in ./.venv: the CPU torch wheel first (a bare
# `pip install torch` would pull several GB of CUDA packages), then the
# project with every extra the test suite exercises. With --tests it also
# installs Debian's chromium, which the leaderboard's browser tests drive, and
# the served-model tests' server: llama-cpp-python[server] (built from its sdist,
# ~20 minutes the first time; pip's wheel cache keeps the wheel) and gguf.
# Safe to run again; it only adds what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet "torch==2.13.0"
.venv/bin/python -m pip install --quiet -e ".[dev]"
if [ "${1:-}" = "--tests" ] && [ ! -x /usr/bin/chromium ]; then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get install -y --no-install-recommends chromium >/dev/null 2>&1 \
    || { $SUDO apt-get update >/dev/null && $SUDO apt-get install -y --no-install-recommends chromium >/dev/null; }
fi
if [ "${1:-}" = "--tests" ] && ! .venv/bin/python -c "import llama_cpp.server, gguf" >/dev/null 2>&1; then
  .venv/bin/python -m pip install --quiet "llama-cpp-python[server]==0.3.36" "gguf==0.19.0"
fi
