#!/usr/bin/env bash
# The whole pipeline on this machine, no AWS account: simulate stores, plan twice, dispatch trucks.
#
#   scripts/demo.sh                 # debug build (shares the test build; fast to compile)
#   DEMO_PROFILE=release scripts/demo.sh
#
# Data goes to $STORE_DATA_DIR (default ./store-data/demo), which is emptied first.
set -euo pipefail
cd "$(dirname "$0")/.."

profile=${DEMO_PROFILE:-dev}
data=${STORE_DATA_DIR:-./store-data/demo}
target=$([ "$profile" = release ] && echo release || echo debug)
bin="${CARGO_TARGET_DIR:-target}/$target"

now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
secs() { printf '%d.%01d' $(( $1 / 1000 )) $(( ($1 % 1000) / 100 )); }
build_start=$(now_ms)
echo "== build ($profile profile)"
cargo build --profile "$profile" --bins --locked
build_ms=$(( $(now_ms) - build_start ))

rm -rf "$data"
mkdir -p "$data"
export STORE_DATA_DIR="$data"
run_start=$(now_ms)

echo
echo "== store-app simulate: 10 stores x 5 products, a 1,000-reading history ending now"
"$bin/store-app" simulate --count 1000 --rate 0 --seed 42 2>&1 | tee "$data/store-app.log"

echo
echo "== store-planning-app invoke '{}'   (result JSON in $data/plan-1.json)"
"$bin/store-planning-app" invoke --data '{}' > "$data/plan-1.json"

echo
echo "== store-planning-app invoke '{}' again: nothing new, so nothing is sent"
"$bin/store-planning-app" invoke --data '{}' > "$data/plan-2.json"

echo
echo "== store-truck-app watch (stopped with Ctrl-C once the queue is drained)"
"$bin/store-truck-app" watch --wait-seconds 1 > "$data/trucks.log" 2>&1 &
truck=$!
for _ in $(seq 1 60); do
  sleep 0.5
  if "$bin/store-truck-app" status | grep -q "queue: 0 waiting, 0 in flight"; then
    break
  fi
done
kill -INT "$truck"
wait "$truck" || true
head -n 12 "$data/trucks.log"
echo "…"
tail -n 1 "$data/trucks.log"

field() { grep -o "\"$1\": *[0-9]*" "$2" | head -1 | grep -o '[0-9]*$'; }
readings=$(grep -o '[0-9]* readings delivered' "$data/store-app.log" | grep -o '^[0-9]*')
dispatches=$(find "$data/s3/store-inventory-lake/ledger/dispatches" -name '*.json' 2>/dev/null | wc -l)
run_ms=$(( $(now_ms) - run_start ))

cat <<SUMMARY

== summary
readings written              $readings  ($(find "$data/s3/store-inventory-lake/readings" -type f | wc -l) object(s) under readings/dt=…/)
alerts sent, first invoke     $(field alerts_sent "$data/plan-1.json")
alerts sent, second invoke    $(field alerts_sent "$data/plan-2.json")  ($(field alerts_suppressed "$data/plan-2.json") suppressed as already alerted)
dispatches recorded           $dispatches
build $(secs "$build_ms") s, pipeline $(secs "$run_ms") s; data in $data
SUMMARY
