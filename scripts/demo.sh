#!/usr/bin/env bash
# The whole pipeline on this machine, no AWS account: live stores, planning, trucks, deliveries,
# and the loop closing: a low store is alerted, a truck brings stock, and it stops alerting.
#
#   scripts/demo.sh                 # debug build (shares the test build; fast to compile)
#   DEMO_PROFILE=release scripts/demo.sh
#
# Data goes to $STORE_DATA_DIR (default ./store-data/demo), which is emptied first. Trucks run
# 1,800 times faster than real time (an hour's trip takes two seconds). The live operations page
# is served on a free 127.0.0.1 port (DEMO_PAGE_LISTEN=127.0.0.1:8070 to choose one); its address
# is printed first, and on a terminal the demo keeps it open at the end until Enter.
set -euo pipefail
cd "$(dirname "$0")/.."

profile=${DEMO_PROFILE:-dev}
data=${STORE_DATA_DIR:-./store-data/demo}
target=$([ "$profile" = release ] && echo release || echo debug)
source scripts/prereq.sh
# (Without cargo the check below says how to install it.)
bin="$(cargo_target_dir 2>/dev/null || echo target)/$target"
# A first build needs several GiB; once this profile's apps are built (by scripts/test.sh, say),
# the demo needs little more than its data folder.
if [ -x "$bin/store-app" ] && [ -x "$bin/store-truck-app" ] && [ -x "$bin/store-planning-app" ]; then
  prereq_check 0
else
  prereq_check 8
fi

now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
secs() { printf '%d.%01d' $(( $1 / 1000 )) $(( ($1 % 1000) / 100 )); }
json() { python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print($2)" "$1"; }
build_start=$(now_ms)
echo "== build ($profile profile)"
cargo build --profile "$profile" --bins --locked
build_ms=$(( $(now_ms) - build_start ))

rm -rf "$data"
mkdir -p "$data"
export STORE_DATA_DIR="$data"
run_start=$(now_ms)
pids=()
cleanup() { for p in "${pids[@]}"; do kill -INT "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

echo
echo "== store-app simulate: 10 stores x 5 products stream live (a round every 2 s) in the background"
"$bin/store-app" --buffer-seconds 1 simulate --rate 25 --seed 42 --duration 300 \
  > "$data/store-app.out" 2> "$data/store-app.log" &
pids+=($!)
echo "== store-truck-app watch --time-scale 1800 in the background (log: $data/trucks.log)"
"$bin/store-truck-app" watch --wait-seconds 1 --batch-window 2 --time-scale 1800 \
  > "$data/trucks.log" 2>&1 &
pids+=($!)
"$bin/store-truck-app" serve --listen "${DEMO_PAGE_LISTEN:-127.0.0.1:0}" --allow-invoke --refresh-seconds 1 \
  > "$data/page.out" 2> "$data/page.log" &
pids+=($!)
page=""
for _ in $(seq 1 100); do
  page=$(grep -o 'http://[^ ]*' "$data/page.out" 2>/dev/null || true)
  [ -n "$page" ] && break
  sleep 0.1
done
[ -n "$page" ] || { echo "the operations page did not start" >&2; cat "$data/page.log" >&2; exit 1; }
echo "== operations page: $page   (open it to watch the stores, trucks and alerts live)"
sleep 8

echo
echo "== store-planning-app invoke '{}'   (result JSON in $data/plan-1.json)"
"$bin/store-planning-app" invoke --data '{}' > "$data/plan-1.json"
json "$data/plan-1.json" '"first alert: %s %s, stock %s, selling %s/h, out in %s h; %s" % (d["alerts"][0]["store_id"], d["alerts"][0]["product_id"], d["alerts"][0]["current_stock"], d["alerts"][0].get("sales_per_hour"), d["alerts"][0].get("hours_to_stockout"), d["alerts"][0]["explanation"]["rules"])'
store=$(json "$data/plan-1.json" 'd["alerts"][0]["store_id"]')
product=$(json "$data/plan-1.json" 'd["alerts"][0]["product_id"]')
name=$(json "$data/plan-1.json" 'd["alerts"][0]["product_name"]')

echo
echo "== store-planning-app invoke '{}' again: what is on its way is not ordered twice"
"$bin/store-planning-app" invoke --data '{}' > "$data/plan-2.json"
json "$data/plan-2.json" '"%d sent, %d suppressed" % (d["alerts_sent"], d["alerts_suppressed"])'

echo
echo "== waiting for a truck to restock $store with '$name'"
applied=""
for _ in $(seq 1 120); do
  applied=$(grep -o "delivery applied: $store $product .*" "$data/store-app.log" | head -1 || true)
  [ -n "$applied" ] && break
  sleep 0.5
done
[ -n "$applied" ] || { echo "no delivery reached $store in 60 s" >&2; tail -20 "$data/trucks.log" >&2; exit 1; }
echo "store-app: $applied"
sleep 6

echo
echo "== store-planning-app invoke for $store: it recovered, so no alert for '$name'"
"$bin/store-planning-app" invoke --data "{\"store_ids\": [\"$store\"]}" > "$data/plan-3.json"
again=$(json "$data/plan-3.json" "sum(1 for a in d['alerts'] if a['product_id'] == '$product')")
echo "alerts for $store $product: $again"
[ "$again" = 0 ] || { echo "the restocked shelf was alerted again" >&2; exit 1; }

echo
echo "== store-truck-app report --html $data/report.html"
"$bin/store-truck-app" report --html "$data/report.html"
echo
echo "== the fleet board (store-truck-app status)"
"$bin/store-truck-app" status

if [ -t 0 ] && [ -t 1 ]; then
  echo
  echo "== the operations page is still at $page (stores, trucks and store-app keep running); Enter stops everything"
  read -r _ || true
fi
cleanup
trap - EXIT
readings=$(grep -o '[0-9]* readings delivered' "$data/store-app.log" | grep -o '^[0-9]*' || echo "?")
dispatches=$(find "$data/s3/store-inventory-lake/ledger/dispatches" -name '*.json' 2>/dev/null | wc -l)
deliveries=$(find "$data/s3/store-inventory-lake/ledger/deliveries" -name '*.json' 2>/dev/null | wc -l)
run_ms=$(( $(now_ms) - run_start ))

cat <<SUMMARY

== summary
readings written              $readings
alerts sent, first invoke     $(json "$data/plan-1.json" 'd["alerts_sent"]')
alerts sent, second invoke    $(json "$data/plan-2.json" 'd["alerts_sent"]')  ($(json "$data/plan-2.json" 'd["alerts_suppressed"]') suppressed as already on their way)
dispatches / deliveries       $dispatches / $deliveries
restocked                     $store '$name': $applied
report                        $data/report.html
operations page               $page (served while the demo ran: store-truck-app serve)
build $(secs "$build_ms") s, pipeline $(secs "$run_ms") s; data in $data
SUMMARY
