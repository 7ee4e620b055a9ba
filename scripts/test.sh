#!/usr/bin/env bash
# Every check and every test of the workspace, as CI runs them. Safe on a fresh machine: it
# installs what it needs first (only from the package registries). The AWS adapters are tested
# against a local AWS API server (moto_server) started here on 127.0.0.1, never the internet.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n== %s\n' "$*"; }

step "prerequisites"
source scripts/prereq.sh
prereq_check 12
echo "Rust $(rustc --version | awk '{print $2}'), $(python3 --version), disk space: ok"

step "tools"
for component in rustfmt clippy; do
  if ! rustup component list --installed 2>/dev/null | grep -q "^${component}"; then
    rustup component add "$component"
  fi
done
if ! cargo nextest --version >/dev/null 2>&1; then
  cargo install cargo-nextest --locked
fi
# The Python tools, pinned in scripts/tools-requirements.txt, in a project-local virtual
# environment (never the system Python): moto (the local AWS API server), cargo-lambda, cfn-lint,
# checkov, parliament, sqlglot, DuckDB.
source scripts/tools.sh
source scripts/cargo-dir.sh
tools_use_venv

# The same set-up must work with the system Python when it is externally managed (PEP 668, as
# on stock Debian and Ubuntu): a virtual environment from it installs a pinned tool.
for system_python in /usr/bin/python3; do
  if [ -x "$system_python" ] && "$system_python" -c 'import sys, sysconfig, os; sys.exit(not os.path.exists(os.path.join(sysconfig.get_paths()["stdlib"], "EXTERNALLY-MANAGED")))' 2>/dev/null; then
    probe=$(mktemp -d)
    (
      PATH="$(dirname "$system_python"):$PATH"
      STORE_TOOLS_VENV="$probe/venv"
      tools_venv_dir="$probe/venv"
      tools_create_venv
      "$probe/venv/bin/pip" install --quiet --disable-pip-version-check \
        "$(grep -i '^sqlglot==' scripts/tools-requirements.txt)"
      "$probe/venv/bin/python" -c 'import sqlglot'
    )
    rm -rf "$probe"
    echo "tool set-up with the externally managed $system_python: ok"
  fi
done

# Chromium (Debian's package): the end-to-end test opens the HTML dispatch report headless and
# checks that the map is drawn.
if ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then apt_get=(apt-get); else apt_get=(sudo apt-get); fi
  DEBIAN_FRONTEND=noninteractive "${apt_get[@]}" update -qq
  DEBIAN_FRONTEND=noninteractive "${apt_get[@]}" install -y -qq --no-install-recommends chromium >/dev/null
fi
export STORE_TEST_CHROMIUM
STORE_TEST_CHROMIUM=$(command -v chromium)
# The tools venv's Python: the test comparing the snapshot fold on both engines runs the Athena
# text in DuckDB through it.
export STORE_TEST_PYTHON
STORE_TEST_PYTHON=$(command -v python3)

step "format"
cargo fmt --all -- --check

step "lint"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "build"
# The end-to-end tests run the real binaries of every app; `cargo lambda watch` reuses this build.
cargo build --workspace --bins --locked

step "infrastructure template"
bin=$(cargo_target_dir)/debug
template=target/store-inventory.template.json
"$bin/store-infra" synth --output "$template"
cfn-lint --non-zero-exit-code warning -- "$template"
echo "cfn-lint: no errors or warnings"
# Every skipped check is in the template's metadata, with its reason.
checkov --file "$template" --framework cloudformation --quiet --compact --skip-download

step "AWS rules the local server does not check"
# IAM: every role's policies, evaluated for one account and region, through parliament.
"$bin/store-infra" policies target/store-inventory.policies.json
python3 scripts/check_iam.py target/store-inventory.policies.json
# Athena: every SQL text the planner sends, parameters bound, parsed as Trino.
rm -rf target/athena-sql
"$bin/store-infra" athena-sql target/athena-sql
python3 scripts/check_athena_sql.py target/athena-sql

step "local AWS API server"
moto_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
moto_log=$(mktemp -t moto.XXXXXX.log)
moto_server -H 127.0.0.1 -p "$moto_port" >"$moto_log" 2>&1 &
moto_pid=$!
trap 'kill "$moto_pid" 2>/dev/null || true; wait "$moto_pid" 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
  if python3 -c "import urllib.request,sys; urllib.request.urlopen('http://127.0.0.1:$moto_port/moto-api/', timeout=1)" 2>/dev/null; then
    break
  fi
  if ! kill -0 "$moto_pid" 2>/dev/null; then
    cat "$moto_log"
    echo "moto_server did not start" >&2
    exit 1
  fi
  sleep 0.2
done
echo "moto_server on 127.0.0.1:$moto_port (pid $moto_pid)"
export STORE_TEST_AWS_ENDPOINT="http://127.0.0.1:$moto_port"
# Never reach for instance metadata or a developer's profile from a test.
export AWS_EC2_METADATA_DISABLED=true

step "tests"
cargo nextest run --workspace --locked --no-fail-fast

step "fuzz smoke run: every parser at the door, 10 s each"
# scripts/fuzz.sh 600 searches for longer; see the README.
scripts/fuzz.sh 10
if [ "${CI:-}" = true ]; then
  # The sanitizer build is not used again in this run; a CI machine's disk is small.
  rm -rf fuzz/target
fi

step "first-deployment smoke test, against the local AWS API server"
scripts/smoke-aws.sh --local-server "$STORE_TEST_AWS_ENDPOINT"

step "benchmarks (quick)"
# Small sizes on the debug build, so the benchmark code cannot rot; scripts/bench.sh without
# --quick gives the real figures.
scripts/bench.sh --quick

step "simulator smoke run: both baselines and the forecast rule on a few stores for a few days, invariants checked"
# scripts/sim.sh without --quick gives the README's finding and the simulator's figures.
scripts/sim.sh --quick

step "forecast benchmark smoke run: our forecaster and statsforecast's on a few series"
# scripts/bench-forecast.sh without --quick gives the README's accuracy table.
scripts/bench-forecast.sh --quick
