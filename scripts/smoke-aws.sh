#!/usr/bin/env bash
# First-deployment smoke test: after scripts/deploy.sh, streams a few hundred readings through the
# deployed stack, waits for Firehose to deliver them, invokes the deployed planner function, runs
# the truck app once, and prints one PASS/FAIL line per stage with what to look at when one fails.
#
#   AWS_REGION=ap-southeast-1 STORE_ENV_FILE=stack.env scripts/smoke-aws.sh
#
# With --local-server URL it runs against an AWS-compatible server instead (scripts/test.sh does,
# with moto): it provisions its own resources there, and since such a server runs neither Lambda
# nor Athena's SQL, the planning stage runs the same handler with `store-planning-app invoke` and
# DataFusion reading the bucket. Settings: STORE_STACK_NAME (default store-inventory),
# STORE_ENV_FILE (default ./stack.env), STORE_BIN_DIR (default cargo's target directory's debug/),
# STORE_SMOKE_READINGS (default 300).
set -euo pipefail
cd "$(dirname "$0")/.."

local_server=
if [[ "${1:-}" == "--local-server" ]]; then
  local_server=${2:?--local-server needs the server URL}
fi
source scripts/cargo-dir.sh
bin=${STORE_BIN_DIR:-$(cargo_target_dir)/debug}
readings=${STORE_SMOKE_READINGS:-300}
stack=${STORE_STACK_NAME:-store-inventory}
work=$(mktemp -d -t store-smoke.XXXXXX)
trap 'rm -rf "$work"' EXIT
failed=0

pass() { printf 'PASS  %-9s %s\n' "$1" "$2"; }
fail() {
  printf 'FAIL  %-9s %s\n      look at: %s\n' "$1" "$2" "$3"
  failed=1
}
# Everything after a failed stage would only fail for the same reason.
finish() {
  if [[ $failed == 0 ]]; then echo "smoke: every stage passed"; else echo "smoke: FAILED"; fi
  exit "$failed"
}

for b in store-app store-planning-app store-truck-app store-infra; do
  if [[ ! -x "$bin/$b" ]]; then
    cargo build --quiet --bins --locked
    break
  fi
done

export STORE_BACKEND=aws STORE_DATA_DIR="$work/data"
if [[ -n "$local_server" ]]; then
  export AWS_ENDPOINT_URL=$local_server AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing
  export AWS_REGION=${AWS_REGION:-us-east-1} AWS_EC2_METADATA_DISABLED=true
  export STORE_QUERY_ENGINE=datafusion STORE_ENV_FILE="$work/stack.env"
  stack="smoke-$(date +%s)-$$"
  # Such servers do not evaluate Firehose's `!{timestamp:…}` prefix: give it this hour's.
  hour=$(date -u +%Y-%m-%d-%H)
  if "$bin/store-infra" --stack-name "$stack" provision --readings-prefix "readings/dt=$hour/" \
    --output "$STORE_ENV_FILE" >"$work/provision.log" 2>&1; then
    pass settings "resources provisioned on $local_server"
  else
    fail settings "provisioning failed: $(tail -1 "$work/provision.log")" "the server's log"
    finish
  fi
else
  export STORE_ENV_FILE=${STORE_ENV_FILE:-stack.env}
  if [[ ! -r "$STORE_ENV_FILE" ]]; then
    fail settings "no env file $STORE_ENV_FILE" "run scripts/deploy.sh first (it writes the file), or set STORE_ENV_FILE"
    finish
  fi
  pass settings "$STORE_ENV_FILE"
fi
setting() { sed -n "s/^$1=//p" "$STORE_ENV_FILE" | tail -1; }
bucket=$(setting STORE_LAKE_BUCKET)

# 1. The queue answers (credentials, region, the queue's policy).
if "$bin/store-truck-app" status >"$work/status.log" 2>&1; then
  pass queue "$(head -1 "$work/status.log")"
else
  fail queue "$(tail -1 "$work/status.log")" "credentials (aws sts get-caller-identity), AWS_REGION, STORE_ALERT_QUEUE_URL in $STORE_ENV_FILE"
  finish
fi

# 2. Readings reach Firehose.
if "$bin/store-app" simulate --count "$readings" --rate 0 --seed 11 >"$work/stream.log" 2>&1 &&
  grep -q "$readings readings delivered" "$work/stream.log"; then
  pass stream "$readings readings accepted by the delivery stream"
else
  fail stream "$(tail -1 "$work/stream.log")" "the delivery stream in the Firehose console, the spool under $STORE_DATA_DIR"
  finish
fi

# 3. Firehose delivers them to the lake (its buffer interval, and up to two minutes more).
objects=0
deadline=$((SECONDS + ${STORE_SMOKE_WAIT_SECONDS:-240}))
while ((SECONDS < deadline)); do
  if [[ -n "$local_server" ]]; then
    objects=$(python3 -c '
import sys, boto3
s3 = boto3.client("s3", endpoint_url=sys.argv[2])
print(s3.list_objects_v2(Bucket=sys.argv[1], Prefix="readings/").get("KeyCount", 0))' "$bucket" "$local_server")
  else
    objects=$(aws s3api list-objects-v2 --bucket "$bucket" --prefix readings/ --query KeyCount --output text)
  fi
  [[ "$objects" =~ ^[0-9]+$ ]] && ((objects > 0)) && break
  sleep 10
done
if [[ "$objects" =~ ^[0-9]+$ ]] && ((objects > 0)); then
  pass lake "$objects object(s) under s3://$bucket/readings/"
else
  fail lake "no object under s3://$bucket/readings/ after waiting" "the Firehose log group /aws/kinesisfirehose/$stack-readings (delivery errors), the bucket's errors/ prefix"
  finish
fi

# 4. The planner plans over them and alerts.
if [[ -n "$local_server" ]]; then
  if "$bin/store-planning-app" invoke --data '{}' >"$work/plan.json" 2>"$work/plan.log"; then
    planned=ok
  else
    planned="$(tail -1 "$work/plan.log")"
  fi
else
  function=$(aws cloudformation describe-stacks --stack-name "$stack" \
    --query "Stacks[0].Outputs[?OutputKey=='PlannerFunctionName'].OutputValue" --output text)
  planner_timeout=$(aws lambda get-function-configuration --function-name "$function" \
    --query Timeout --output text)
  # The payload from a file (fileb:// reads it as raw bytes on AWS CLI v1 and v2 alike; v2's
  # --cli-binary-format does not exist in v1). The CLI waits 60 s for a reply by default and
  # then sends Invoke again, starting a second planner: wait longer than the function may run,
  # and never retry.
  printf '{}' >"$work/event.json"
  if AWS_MAX_ATTEMPTS=1 aws lambda invoke --function-name "$function" \
    --cli-read-timeout "$((planner_timeout + 30))" --cli-connect-timeout 10 \
    --payload "fileb://$work/event.json" "$work/plan.json" >"$work/invoke.json" 2>"$work/plan.log" &&
    ! grep -q FunctionError "$work/invoke.json"; then
    planned=ok
  else
    planned="$(cat "$work/plan.json" "$work/plan.log" 2>/dev/null | tail -c 300)"
  fi
fi
field() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$work/plan.json" "$1"; }
if [[ "$planned" == ok ]] && (($(field readings_scanned) > 0)); then
  sent=$(field alerts_sent)
  pass plan "$(field readings_scanned) readings, $(field bytes_scanned) bytes scanned by $(field engine), $sent alert(s) sent"
else
  fail plan "${planned/#ok/no readings in the window}" "the planner's log group /aws/lambda/$stack-planner, the Athena workgroup $stack-planning's query history"
  finish
fi

# 5. The truck app takes the alerts.
if "$bin/store-truck-app" once --wait-seconds 5 --time-scale 100000 >"$work/trucks.log" 2>&1; then
  dispatched=$(grep -c "dispatched to" "$work/trucks.log" || true)
  if ((sent == 0 || dispatched > 0)); then
    pass dispatch "$dispatched alert(s) dispatched"
  else
    fail dispatch "$sent alert(s) sent, none dispatched" "store-truck-app status; the dead-letter queue"
  fi
else
  fail dispatch "$(tail -1 "$work/trucks.log")" "store-truck-app status; the queue's and the ledger's permissions"
fi
finish
