#!/usr/bin/env bash
# Installs the Python client (clients/python, package `fiscus`) with its test tools (pytest, mypy,
# the stub generators, the stock reflection and health clients) into a virtualenv at .venv in the
# repository (ignored by git), for .ci/test.d/20-python.sh. Needs CPython 3.11 or later as python3.
# Idempotent: does nothing when .venv already holds the package installed from the same
# pyproject.toml; installs python3-venv from Debian (apt-get update first) only when venv is missing.
set -euo pipefail
cd "$(dirname "$0")/../.."

# shellcheck source=../lib/apt.sh
source "$(dirname "$0")/../lib/apt.sh"
VENV=.venv
STAMP="$VENV/.fiscus-pyproject.sha256"
WANT="$(sha256sum clients/python/pyproject.toml | cut -d' ' -f1)"

if ! have python3; then
    echo "30-python: python3 (CPython 3.11 or later) is missing" >&2
    exit 1
fi
if ! python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
    echo "30-python: python3 is $(python3 --version 2>&1); the fiscus package needs 3.11 or later" >&2
    exit 1
fi

if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$WANT" ] \
    && "$VENV/bin/python" -c 'import fiscus, pytest, mypy, grpc_tools, grpc_reflection' 2>/dev/null; then
    echo "python client present: $("$VENV/bin/python" --version) in $VENV"
    exit 0
fi

if [ ! -x "$VENV/bin/python" ]; then
    if ! python3 -m venv "$VENV" 2>/dev/null; then
        # Debian splits ensurepip (and so venv) into python3-venv.
        rm -rf "$VENV"
        apt_install 30-python python3-venv
        python3 -m venv "$VENV"
    fi
fi

"$VENV/bin/python" -m pip install -q --upgrade pip
"$VENV/bin/python" -m pip install -q -e "./clients/python[test]"
echo "$WANT" > "$STAMP"
echo "python client installed: $("$VENV/bin/python" --version), fiscus $("$VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("fiscus"))') in $VENV"
