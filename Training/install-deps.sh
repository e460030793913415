#!/usr/bin/env bash
# Installs Training/'s Python requirements. PyTorch: a local CPU wheel if the machine has one, else PyPI's.
set -euo pipefail
cd "$(dirname "$0")"
export PIP_BREAK_SYSTEM_PACKAGES=1  # Debian 12 system Python marks itself externally managed
pip_install() { python3 -m pip install -q --disable-pip-version-check --root-user-action=ignore "$@"; }
if ! python3 -c "import torch" 2>/dev/null; then
    wheel=$(ls /opt/wheels/torch-*cpu*.whl 2>/dev/null | head -n 1 || true)
    if [ -n "$wheel" ]; then pip_install "$wheel"; else pip_install -r requirements-torch.txt; fi
fi
pip_install -r requirements.txt
pip_install ruff==0.17.6  # the Python linter `make lint` runs (settings in ruff.toml)
