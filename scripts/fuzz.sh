#!/usr/bin/env bash
# Runs every fuzz target of the parsers at the door (fuzz/fuzz_targets/) for SECONDS each
# (default 10: the smoke run of scripts/test.sh; try 600 or more for a real search).
# libFuzzer needs a nightly toolchain; cargo-fuzz is installed from crates.io when missing.
# A crash stops the run and leaves the input under fuzz/artifacts/<target>/.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-10}"

if ! rustup run nightly rustc --version >/dev/null 2>&1; then
  echo "fuzz: installing the nightly toolchain (libFuzzer needs it)"
  rustup toolchain install nightly --profile minimal || {
    echo "fuzz: no nightly toolchain, and it could not be installed: run \`rustup toolchain install nightly\`" >&2
    exit 1
  }
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
  cargo install cargo-fuzz --locked
fi

cd fuzz
cargo +nightly fuzz build
for target in $(cargo +nightly fuzz list); do
  mkdir -p "corpus/$target"
  # Inputs up to 4 KiB, 1 GiB of memory: a parser that needs more is a finding.
  log="target/fuzz-$target.log"
  mkdir -p target
  status=0
  # Seeds kept in the repository (seeds/<target>/) start the search; findings go to corpus/.
  seeds=()
  [ -d "seeds/$target" ] && seeds=("seeds/$target")
  cargo +nightly fuzz run "$target" "corpus/$target" "${seeds[@]}" -- \
    -max_total_time="$seconds" -max_len=4096 -rss_limit_mb=1024 >"$log" 2>&1 || status=$?
  if [ "$status" -ne 0 ]; then
    tail -40 "$log" >&2
    echo "fuzz: $target failed (exit $status); the input is in fuzz/artifacts/$target/, the log in fuzz/$log" >&2
    exit "$status"
  fi
  grep -E '^Done' "$log" || true
  echo "fuzz: $target: no crash in ${seconds} s"
done
