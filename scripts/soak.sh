#!/usr/bin/env bash
# The long form of the crash-and-chaos test (crates/store-app/tests/chaos.rs): SECONDS of two
# planners and two dispatchers on one data folder, SIGKILL at random points, new readings every
# round; then everything is worked off and counted: readings in against readings in the lake,
# alerts against orders, dispatches and deliveries, trucks' trips, dead letters.
# Usage: scripts/soak.sh [SECONDS]   (default 600; scripts/test.sh runs a 20-second form)
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-600}"
cargo build --workspace --bins --locked
STORE_CHAOS_SECONDS="$seconds" cargo nextest run --locked -p store-app --test chaos --no-capture
