"""Checks every role's policies with parliament, which knows each IAM action's resource types.

The local AWS server enforces no IAM, so the stack's policies are checked here: the documents
`store-infra policies` wrote (the template evaluated for one account and region, so each
resource is the ARN the service acts on) go through parliament's analysis. Any finding fails the
check unless it is listed in REVIEWED below with the reason it does not apply.

    python3 scripts/check_iam.py POLICIES.json
"""

import json
import sys

from parliament import analyze_policy_string

# (role logical id, parliament issue, action or "" for any) -> why the finding does not apply.
# Empty: the policies pass with no finding.
REVIEWED: dict[tuple[str, str, str], str] = {}


def findings(entry):
    policy = analyze_policy_string(
        json.dumps(entry["document"]), include_community_auditors=True
    )
    for f in policy.findings:
        detail = f.detail if isinstance(f.detail, (str, list, dict)) else str(f.detail)
        actions = (f.location or {}).get("actions") or [""]
        yield f.issue, detail, actions


def main() -> int:
    with open(sys.argv[1]) as file:
        policies = json.load(file)
    if not policies:
        print("no policies to check", file=sys.stderr)
        return 1
    problems, reviewed = [], 0
    for entry in policies:
        for issue, detail, actions in findings(entry):
            keys = [(entry["role"], issue, a) for a in actions] + [(entry["role"], issue, "")]
            if any(k in REVIEWED for k in keys):
                reviewed += 1
                continue
            problems.append(f"{entry['role']}/{entry['policy']}: {issue}: {json.dumps(detail)}")
    for p in problems:
        print(p, file=sys.stderr)
    statements = sum(len(e["document"]["Statement"]) for e in policies)
    print(
        f"parliament: {len(policies)} policies, {statements} statements, "
        f"{len(problems)} findings, {reviewed} reviewed"
    )
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
