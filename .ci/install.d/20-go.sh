#!/usr/bin/env bash
# Installs Go and Debian's copy of golang.org/x/mod (sumdb/note, sumdb/tlog), the independent
# reference code that fiscus-tlog's interop test (tlog/tests/go_interop.rs) checks Fiscus's
# checkpoints, signatures and proofs with, offline (GOPATH=/usr/share/gocode GO111MODULE=off).
# Idempotent: does nothing when both are present; runs `apt-get update` only when something is
# missing. Needs root (or sudo) on a Debian or Ubuntu machine.
set -euo pipefail

have() { command -v "$1" >/dev/null 2>&1; }
MOD_DIR=/usr/share/gocode/src/golang.org/x/mod/sumdb

if have go && [ -d "$MOD_DIR/note" ] && [ -d "$MOD_DIR/tlog" ]; then
    echo "go present: $(go version)"
    exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if have sudo; then
        SUDO="sudo"
    else
        echo "20-go: need root or sudo to apt-get install golang-go golang-golang-x-mod-dev" >&2
        exit 1
    fi
fi

export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends golang-go golang-golang-x-mod-dev

if ! have go || [ ! -d "$MOD_DIR/note" ] || [ ! -d "$MOD_DIR/tlog" ]; then
    echo "20-go: go or golang.org/x/mod/sumdb is still missing after apt-get install" >&2
    exit 1
fi
echo "go installed: $(go version)"
