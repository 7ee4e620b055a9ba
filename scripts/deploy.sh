#!/usr/bin/env bash
# Deploys the stack to the AWS account of the current credentials, and writes the settings the
# apps need to an env file. Safe to re-run: each step creates or updates.
#
#   AWS_REGION=ap-southeast-1 scripts/deploy.sh
#
# Settings (environment): STORE_STACK_NAME (default store-inventory; lowercase), STORE_LAKE_FORMAT
# (json | parquet, default json; a live stack keeps its format), STORE_ENV_FILE (default
# ./stack.env), STORE_ALARM_EMAIL (an address the alarms notify, after it confirms; default none).
set -euo pipefail
cd "$(dirname "$0")/.."

stack=${STORE_STACK_NAME:-store-inventory}
region=${AWS_REGION:-$(aws configure get region || true)}
lake_format=${STORE_LAKE_FORMAT:-json}
env_file=${STORE_ENV_FILE:-stack.env}
if [[ -z "$region" ]]; then
  echo "deploy: no region; set AWS_REGION" >&2
  exit 2
fi
export AWS_REGION=$region AWS_DEFAULT_REGION=$region
step() { printf '\n== %s\n' "$*"; }

step "the planner's Lambda zip (arm64, without the embedded engine)"
source scripts/tools.sh
source scripts/cargo-dir.sh
tools_use_venv
cargo lambda build -p store-planning-app --release --arm64 --no-default-features --output-format zip
zip=$(cargo_target_dir)/lambda/store-planning-app/bootstrap.zip
ls -l "$zip"

step "artifacts bucket"
account=$(aws sts get-caller-identity --query Account --output text)
# Checks every name the stack derives against its service's limit before creating anything.
artifacts=$(STORE_STACK_NAME=$stack cargo run --quiet -p store-infra -- code-bucket --account "$account" --region "$region")
if ! aws s3api head-bucket --bucket "$artifacts" 2>/dev/null; then
  if [[ "$region" == "us-east-1" ]]; then
    aws s3api create-bucket --bucket "$artifacts" >/dev/null
  else
    aws s3api create-bucket --bucket "$artifacts" \
      --create-bucket-configuration "LocationConstraint=$region" >/dev/null
  fi
fi
aws s3api put-public-access-block --bucket "$artifacts" --public-access-block-configuration \
  BlockPublicAcls=true,IgnorePublicAcls=true,BlockPublicPolicy=true,RestrictPublicBuckets=true
aws s3api put-bucket-encryption --bucket "$artifacts" --server-side-encryption-configuration \
  '{"Rules":[{"ApplyServerSideEncryptionByDefault":{"SSEAlgorithm":"AES256"}}]}'
key="planner/$(sha256sum "$zip" | cut -c1-16)/bootstrap.zip"
aws s3 cp "$zip" "s3://$artifacts/$key" --only-show-errors

step "template"
template=target/${stack}.template.json
cargo run --quiet -p store-infra -- synth --output "$template"

step "stack $stack in $region"
status=$(aws cloudformation describe-stacks --stack-name "$stack" \
  --query 'Stacks[0].StackStatus' --output text 2>/dev/null || true)
current_format=
if [[ -n "$status" ]]; then
  current_format=$(aws cloudformation describe-stacks --stack-name "$stack" \
    --query "Stacks[0].Parameters[?ParameterKey=='LakeFormat'].ParameterValue" --output text)
fi
action=$(cargo run --quiet --locked -p store-infra -- preflight --status "$status" \
  --current-lake-format "$current_format" --lake-format "$lake_format") || exit 2
if [[ "$action" == delete-then-create ]]; then
  echo "the stack's first creation failed and rolled back (ROLLBACK_COMPLETE), which CloudFormation cannot update; deleting the empty stack, then creating it again"
  aws cloudformation delete-stack --stack-name "$stack"
  aws cloudformation wait stack-delete-complete --stack-name "$stack"
fi
aws cloudformation deploy --stack-name "$stack" --template-file "$template" \
  --capabilities CAPABILITY_IAM --no-fail-on-empty-changeset \
  --parameter-overrides "PlannerCodeBucket=$artifacts" "PlannerCodeKey=$key" "LakeFormat=$lake_format" \
    "AlarmEmail=${STORE_ALARM_EMAIL:-}"

step "settings for the apps"
aws cloudformation describe-stacks --stack-name "$stack" --query 'Stacks[0].Outputs' --output json \
  | cargo run --quiet -p store-infra -- env-file - > "$env_file"
cat "$env_file"
function=$(aws cloudformation describe-stacks --stack-name "$stack" \
  --query "Stacks[0].Outputs[?OutputKey=='PlannerFunctionName'].OutputValue" --output text)
echo
echo "Written to $env_file. Next:"
echo "  export STORE_BACKEND=aws STORE_ENV_FILE=$env_file"
echo "  store-app simulate --duration 300"
echo "  cargo lambda invoke --remote $function --data-ascii '{}'"
echo "  store-truck-app watch"
