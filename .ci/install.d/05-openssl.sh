#!/usr/bin/env bash
# Installs the openssl command line from Debian: tests/it/tls_recipe.rs runs the certificate recipe
# of daemon/README.md ("TLS") with it, as an operator would. Idempotent: does nothing when openssl
# is on PATH; runs `apt-get update` only when it is missing. Needs root (or sudo) on a Debian or
# Ubuntu machine.
set -euo pipefail

have() { command -v "$1" >/dev/null 2>&1; }

if have openssl; then
    echo "openssl present: $(openssl version)"
    exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if have sudo; then
        SUDO="sudo"
    else
        echo "05-openssl: need root or sudo to apt-get install openssl" >&2
        exit 1
    fi
fi

export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends openssl

if ! have openssl; then
    echo "05-openssl: openssl is still missing after apt-get install" >&2
    exit 1
fi
echo "openssl installed: $(openssl version)"
