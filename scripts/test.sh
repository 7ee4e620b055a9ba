#!/usr/bin/env bash
# Every check and every test of the workspace, as CI runs them. Safe on a fresh machine: it
# installs what it needs first (only from the package registries).
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n== %s\n' "$*"; }

step "tools"
for component in rustfmt clippy; do
  if ! rustup component list --installed 2>/dev/null | grep -q "^${component}"; then
    rustup component add "$component"
  fi
done
if ! cargo nextest --version >/dev/null 2>&1; then
  cargo install cargo-nextest --locked
fi

step "format"
cargo fmt --all -- --check

step "lint"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "build"
# The end-to-end tests run the real binaries of every app.
cargo build --workspace --bins --locked

step "tests"
cargo nextest run --workspace --locked --no-fail-fast
