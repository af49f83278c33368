#!/usr/bin/env bash
# Installs hledger, beancount (bean-check, bean-query) and ledger (ledger-cli) from Debian, which
# the export tests of
# fiscus-ledger (ledger/tests/export.rs) load Fiscus's exports into. Idempotent: does nothing when
# every tool is already on PATH; runs `apt-get update` only when something is missing.
# Needs root (or sudo) on a Debian or Ubuntu machine.
set -euo pipefail

# shellcheck source=../lib/apt.sh
source "$(dirname "$0")/../lib/apt.sh"

if have hledger && have bean-check && have bean-query && have ledger; then
    echo "accounting tools present: $(hledger --version | head -n1); $(bean-check --version 2>&1 | head -n1); $(ledger --version | head -n1)"
    exit 0
fi

apt_install 10-accounting-tools hledger beancount ledger

for tool in hledger bean-check bean-query ledger; do
    if ! have "$tool"; then
        echo "10-accounting-tools: $tool is still missing after apt-get install" >&2
        exit 1
    fi
done
echo "accounting tools installed: $(hledger --version | head -n1); $(bean-check --version 2>&1 | head -n1); $(ledger --version | head -n1)"
