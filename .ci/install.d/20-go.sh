#!/usr/bin/env bash
# Installs Go and Debian's copy of golang.org/x/mod (sumdb/note, sumdb/tlog), the independent
# reference code that fiscus-tlog's interop test (tlog/tests/go_interop.rs) checks Fiscus's
# checkpoints, signatures and proofs with, offline (GOPATH=/usr/share/gocode GO111MODULE=off).
# Idempotent: does nothing when both are present; runs `apt-get update` only when something is
# missing. Needs root (or sudo) on a Debian or Ubuntu machine.
set -euo pipefail

# shellcheck source=../lib/apt.sh
source "$(dirname "$0")/../lib/apt.sh"
MOD_DIR=/usr/share/gocode/src/golang.org/x/mod/sumdb

if have go && [ -d "$MOD_DIR/note" ] && [ -d "$MOD_DIR/tlog" ]; then
    echo "go present: $(go version)"
    exit 0
fi

apt_install 20-go golang-go golang-golang-x-mod-dev

if ! have go || [ ! -d "$MOD_DIR/note" ] || [ ! -d "$MOD_DIR/tlog" ]; then
    echo "20-go: go or golang.org/x/mod/sumdb is still missing after apt-get install" >&2
    exit 1
fi
echo "go installed: $(go version)"
