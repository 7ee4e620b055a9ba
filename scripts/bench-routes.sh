#!/usr/bin/env bash
# Route quality and speed: our planner against Google OR-Tools on generated instances.
#
#   scripts/bench-routes.sh            # 10, 50 and 200 stops, seeds 1-3, OR-Tools at 10 s
#   ORTOOLS_SECONDS=2 SEEDS="1" scripts/bench-routes.sh
#
# Each instance: stores around Ho Chi Minh City, demands of 1-40 units (most small), trucks of
# 100 units at one depot, great-circle distances. OR-Tools runs guided local search for the time
# limit; ours runs its default effort (the median of 15 runs is reported). The table is printed
# and saved to bench/results/routes.md.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${ORTOOLS_SECONDS:-10}
seeds=${SEEDS:-"1 2 3"}
source scripts/tools.sh
source scripts/cargo-dir.sh
tools_use_venv
cargo build --release --locked -p store-model --example route_bench
bin="$(cargo_target_dir)/release/examples/route_bench"
mkdir -p bench/results
out=bench/results/routes.md
{
  echo "Routes on $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)), $(date -u +%Y-%m-%d)"
  echo
  echo "| stops | seed | OR-Tools km (${seconds} s) | ours km | gap | ours median ms | ours max ms | routes (OR-Tools / ours) |"
  echo "|---:|---:|---:|---:|---:|---:|---:|---|"
  for stops in 10 50 200; do
    for seed in $seeds; do
      "$bin" "$stops" "$seed" 100 | python3 bench/ortools_vrp.py "$seconds" --row
    done
  done
} | tee "$out"
echo
echo "saved to $out"
