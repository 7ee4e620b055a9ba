#!/usr/bin/env bash
# The simulator's benchmark and the README's findings, release build, with the time and peak
# memory of each run:
#
#   scripts/sim.sh           # the findings on config/scenarios/finding.toml (30 x 20 x 28 days):
#                            # seed vs threshold vs forecast, then the forecast rule at service
#                            # levels 90/95/99%, threshold vs forecast on two more chains (other
#                            # seeds and sizes), and today's policy on chain.toml (100 x 50 x 28)
#   scripts/sim.sh --large   # also config/scenarios/large.toml (300 stores x 200 products x
#                            # 28 days), today's policy
#   scripts/sim.sh --quick   # 5 stores x 5 products x 3 days on the debug build (a smoke run)
#
# Results go to bench/results/sim/ (compare.json, compare.html, and sim.md with the figures;
# service-levels/, chain-b/ and chain-c/ for the other comparisons).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/cargo-dir.sh

mode=${1:-}
out=bench/results/sim
if [[ "$mode" == "--quick" ]]; then
  cargo build --locked -p store-sim
  bin="$(cargo_target_dir)/debug/store-sim"
  quick=$(mktemp -d)
  trap 'rm -rf "$quick"' EXIT
  "$bin" compare --policies seed,threshold,forecast --stores 5 --products 5 --days 3 --out "$quick"
  python3 - "$quick/compare.json" <<'PY'
import json, sys
runs = json.load(open(sys.argv[1]))
assert [r["policy"] for r in runs] == ["seed", "threshold", "forecast"], runs
for r in runs:
    t = r["totals"]
    assert t["demand_units"] == t["sold_units"] + t["lost_units"], t
    assert t["alerts_sent"] == t["alerts_delivered"] + t["alerts_pending"] + t["alerts_closed"], t
print("store-sim smoke run: invariants hold for", ", ".join(r["policy"] for r in runs))
PY
  exit 0
fi

mkdir -p "$out"
cargo build --release --locked -p store-sim
bin="$(cargo_target_dir)/release/store-sim"
timed() {
  # Wall seconds and peak resident memory of one command, from GNU time or /proc.
  if [[ -x /usr/bin/time ]]; then
    local log
    log=$(mktemp)
    /usr/bin/time -f '%e s, %M KiB peak' -o "$log" "$@"
    cat "$log"
    rm -f "$log"
  else
    local TIMEFORMAT='%R s (install GNU time for the peak memory)'
    time "$@"
  fi
}
export STORE_LOG=${STORE_LOG:-error}
{
  echo "store-sim on $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)), $(date -u +%Y-%m-%d)"
  echo
  echo "finding.toml (30 x 20 x 28 days, hourly planning), seed vs threshold vs forecast:"
  timed "$bin" compare --scenario config/scenarios/finding.toml --policies seed,threshold,forecast \
    --out "$out" 2>&1 | grep -v '^store-sim: .*: day '
  echo
  echo "finding.toml, the forecast rule at target service levels 90%, 95%, 99%:"
  levels=$(mktemp -d)
  policies=()
  for level in 0.90 0.95 0.99; do
    sed -e 's/^method = "threshold"/method = "forecast"/' \
      -e "s/^service_level = [0-9.]*/service_level = $level/" config/policy.toml \
      > "$levels/forecast-$level.toml"
    policies+=("$levels/forecast-$level.toml")
  done
  mkdir -p "$out/service-levels"
  timed "$bin" compare --scenario config/scenarios/finding.toml \
    --policies "$(IFS=,; echo "${policies[*]}")" --out "$out/service-levels" 2>&1 \
    | grep -v '^store-sim: .*: day ' | grep -E 'cycle service level|stock-out shelf-hours|avg on hand|km per unit|s, .* KiB'
  rm -rf "$levels"
  for chain in "b 50 30 28 11" "c 20 40 21 23"; do
    read -r name stores products days seed <<<"$chain"
    echo
    echo "chain $name ($stores x $products x $days days, seed $seed), threshold vs forecast:"
    mkdir -p "$out/chain-$name"
    timed "$bin" compare --policies threshold,forecast --stores "$stores" --products "$products" \
      --days "$days" --seed "$seed" --out "$out/chain-$name" 2>&1 | grep -v '^store-sim: .*: day '
  done
  echo
  echo "chain.toml (100 x 50 x 28 days, hourly planning), threshold:"
  chain=$(mktemp -d)
  timed "$bin" run --scenario config/scenarios/chain.toml --policy threshold --out "$chain" 2>&1 \
    | grep -v '^store-sim: .*: day '
  rm -rf "$chain"
  if [[ "$mode" == "--large" ]]; then
    echo
    echo "large.toml (300 x 200 x 28 days, hourly planning), threshold:"
    large=$(mktemp -d)
    timed "$bin" run --scenario config/scenarios/large.toml --policy threshold --out "$large" 2>&1 \
      | grep -v '^store-sim: .*: day '
    rm -rf "$large"
  fi
} | tee "$out/sim.md"
echo "saved to $out/"
