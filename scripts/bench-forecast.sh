#!/usr/bin/env bash
# Forecast accuracy: the planner's demand forecaster against statsforecast's CrostonSBA, TSB and
# AutoETS on the simulator's daily demand series, one week held out, scored by MASE.
#
#   scripts/bench-forecast.sh           # the chains below; table in bench/results/forecast.md
#   scripts/bench-forecast.sh --quick   # 5 stores x 5 products x 21 days (a smoke run)
#
# Accuracy does not depend on the build, so this uses the debug build. The references run from
# their own pinned environment (scripts/forecast-requirements.txt, target/forecast-venv).
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:-}

source scripts/tools.sh
source scripts/cargo-dir.sh
tools_venv_dir=${STORE_FORECAST_VENV:-target/forecast-venv}
tools_requirements=scripts/forecast-requirements.txt
tools_use_venv
cargo build --locked -p store-sim -p store-bench
target_dir="$(cargo_target_dir)/debug"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
horizon=7

# One set of series: LABEL, then store-sim's chain flags.
score() {
  local label=$1
  shift
  local dir="$work/$label"
  "$target_dir/store-sim" demand "$@" --out "$dir"
  "$target_dir/store-bench" forecast --input "$dir/daily-demand.csv" --horizon "$horizon" \
    --forecasts "$dir/ours.csv" > "$dir/ours.json"
  python3 bench/forecast_reference.py "$dir/daily-demand.csv" "$dir/ours.csv" "$dir/ours.json" \
    "$horizon" "$label" 2>"$dir/figures.json"
}

header() {
  echo "| series | class | series scored | ours (level, 96 h) | CrostonSBA | TSB (0.2, 0.2) | AutoETS (weekly) | best reference | ours / best |"
  echo "|---|---|---:|---:|---:|---:|---:|---|---:|"
}

if [[ "$mode" == "--quick" ]]; then
  header
  score quick --stores 5 --products 5 --days 21 --seed 3
  exit 0
fi

mkdir -p bench/results
out=bench/results/forecast.md
{
  echo "Forecast accuracy, MASE over a held-out week ($horizon days), $(date -u +%Y-%m-%d)"
  echo
  header
  score "finding.toml (30 x 20, 28 days)" --scenario config/scenarios/finding.toml
  score "finding.toml, 91 days" --scenario config/scenarios/finding.toml --days 91
  score "chain b (50 x 30, 28 days, seed 11)" --stores 50 --products 30 --days 28 --seed 11
  score "chain c (20 x 40, 21 days, seed 23)" --stores 20 --products 40 --days 21 --seed 23
  score "chain.toml (100 x 50, 28 days)" --scenario config/scenarios/chain.toml
} | tee "$out"
echo
echo "saved to $out"
