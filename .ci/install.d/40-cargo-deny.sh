#!/usr/bin/env bash
# Installs cargo-deny (supply-chain checks: advisories, licenses, sources, duplicate versions; see
# deny.toml and .ci/deny). Idempotent: does nothing when the pinned version is on PATH. Building it
# takes a few minutes on a fresh machine, once.
set -euo pipefail

VERSION=0.20.2

if command -v cargo-deny >/dev/null 2>&1 && cargo deny --version 2>/dev/null | grep -q " $VERSION\$"; then
    echo "cargo-deny present: $(cargo deny --version)"
    exit 0
fi
cargo install --locked "cargo-deny@$VERSION"
echo "cargo-deny installed: $(cargo deny --version)"
