#!/usr/bin/env bash
# Installs the openssl command line from Debian: tests/it/tls_recipe.rs runs the certificate recipe
# of daemon/README.md ("TLS") with it, as an operator would. Idempotent: does nothing when openssl
# is on PATH; runs `apt-get update` only when it is missing. Needs root (or sudo) on a Debian or
# Ubuntu machine.
set -euo pipefail

# shellcheck source=../lib/apt.sh
source "$(dirname "$0")/../lib/apt.sh"

if have openssl; then
    echo "openssl present: $(openssl version)"
    exit 0
fi

apt_install 05-openssl openssl

if ! have openssl; then
    echo "05-openssl: openssl is still missing after apt-get install" >&2
    exit 1
fi
echo "openssl installed: $(openssl version)"
