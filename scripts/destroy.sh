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

# Deletes every object version and delete marker of a bucket, then the bucket.
remove_bucket() {
  local bucket=$1
  if ! aws s3api head-bucket --bucket "$bucket" 2>/dev/null; then
    echo "bucket $bucket: already gone"
    return
  fi
  while true; do
    batch=$(aws s3api list-object-versions --bucket "$bucket" --max-items 1000 --output json \
      | python3 -c '
import json, sys
page = json.load(sys.stdin) or {}
objects = [{"Key": o["Key"], "VersionId": o["VersionId"]}
           for o in (page.get("Versions") or []) + (page.get("DeleteMarkers") or [])]
print(json.dumps({"Objects": objects, "Quiet": True}) if objects else "")')
    [[ -z "$batch" ]] && break
    aws s3api delete-objects --bucket "$bucket" --delete "$batch" >/dev/null
  done
  aws s3api delete-bucket --bucket "$bucket"
  echo "bucket $bucket: emptied and deleted"
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
