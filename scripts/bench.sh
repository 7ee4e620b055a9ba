#!/usr/bin/env bash
# The benchmark suite: planning (ours vs DuckDB, NDJSON and Parquet, 1M and 10M readings), ingest
# (vs `cat`), the Firehose client (vs one call per reading), the queue, and peak memory of each.
#
#   scripts/bench.sh            # release build; prints the table and saves bench/results/latest.md
#   scripts/bench.sh --quick    # small sizes on the debug build, as scripts/test.sh runs it
#
# Generated data is deterministic (seeded). DuckDB and moto come from the project's tools venv (scripts/tools.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

quick=false
[ "${1:-}" = "--quick" ] && quick=true
source scripts/tools.sh
source scripts/cargo-dir.sh
tools_use_venv
if $quick; then
  profile=dev; bin="$(cargo_target_dir)/debug"; out=target/bench-quick.md
else
  profile=release; bin="$(cargo_target_dir)/release"; out=bench/results/latest.md
fi
if $quick; then
  # The same build as scripts/test.sh's (same packages, same features): nothing to rebuild.
  cargo build --workspace --bins --locked
else
  cargo build --profile "$profile" --locked -p store-bench -p store-app -p store-infra --bins
fi
args=(--bin "$bin" --out "$out")
$quick && args+=(--quick)
python3 bench/run.py "${args[@]}"
