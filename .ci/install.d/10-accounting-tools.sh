#!/usr/bin/env bash
# Installs hledger and beancount (bean-check, bean-query) from Debian, which the export tests of
# fiscus-ledger (ledger/tests/export.rs) load Fiscus's exports into. Idempotent: does nothing when
# both tools are already on PATH; runs `apt-get update` only when something is missing.
# Needs root (or sudo) on a Debian or Ubuntu machine.
set -euo pipefail

have() { command -v "$1" >/dev/null 2>&1; }

if have hledger && have bean-check && have bean-query; then
    echo "accounting tools present: $(hledger --version | head -n1); $(bean-check --version 2>&1 | head -n1)"
    exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if have sudo; then
        SUDO="sudo"
    else
        echo "10-accounting-tools: need root or sudo to apt-get install hledger beancount" >&2
        exit 1
    fi
fi

export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends hledger beancount

for tool in hledger bean-check bean-query; do
    if ! have "$tool"; then
        echo "10-accounting-tools: $tool is still missing after apt-get install" >&2
        exit 1
    fi
done
echo "accounting tools installed: $(hledger --version | head -n1); $(bean-check --version 2>&1 | head -n1)"
