#!/usr/bin/env bash
# Removes everything deploy.sh created: deletes the stack (its lake bucket is retained, so a stray
# stack deletion never loses data), then empties (every version) and deletes the lake bucket and
# the code bucket. Safe to re-run: what is gone is skipped.
set -euo pipefail
cd "$(dirname "$0")/.."

stack=${STORE_STACK_NAME:-store-inventory}
region=${AWS_REGION:-$(aws configure get region || true)}
if [[ -z "$region" ]]; then
  echo "destroy: no region; set AWS_REGION" >&2
  exit 2
fi
export AWS_REGION=$region AWS_DEFAULT_REGION=$region
account=$(aws sts get-caller-identity --query Account --output text)

# Deletes every object version and delete marker of a bucket, in DeleteObjects calls of at most
# 1,000 keys whatever the mix of versions and markers, then the bucket (store-infra empty-bucket).
remove_bucket() {
  cargo run --quiet --locked -p store-infra -- empty-bucket --delete "$1"
}

lake="${stack}-lake-${account}-${region}"
if aws cloudformation describe-stacks --stack-name "$stack" >/dev/null 2>&1; then
  aws cloudformation delete-stack --stack-name "$stack"
  aws cloudformation wait stack-delete-complete --stack-name "$stack"
  echo "stack $stack: deleted"
else
  echo "stack $stack: already gone"
fi
remove_bucket "$lake"
remove_bucket "${stack}-code-${account}-${region}"
