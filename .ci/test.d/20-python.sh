#!/usr/bin/env bash
# The Python client's suite (clients/python): its gRPC stubs generated again from proto/, mypy
# --strict over the package, its tests and its examples, then pytest against the real fiscusd
# (built here first; the tests start it on loopback ports picked at run time). Needs .ci/install.d/30-python.sh to have run. pytest finding no test
# (exit 5) fails like any other failure.
set -euo pipefail
cd "$(dirname "$0")/../.."

VENV="$PWD/.venv"
cargo build -q -p fiscus-daemon
export FISCUSD="${CARGO_TARGET_DIR:-$PWD/target}/debug/fiscusd"

cd clients/python
# The stubs follow the .proto files of this checkout, even when they changed since the install.
"$VENV/bin/python" generate_stubs.py >/dev/null
echo "== mypy --strict (clients/python)"
"$VENV/bin/python" -m mypy --strict
echo "== pytest (clients/python)"
status=0
"$VENV/bin/python" -m pytest -q -p no:cacheprovider || status=$?
if [ "$status" -eq 5 ]; then
    echo "20-python: pytest collected no test" >&2
    exit 1
fi
exit "$status"
