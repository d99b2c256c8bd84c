#!/usr/bin/env bash
# Runs the shared benchmark harness (../shared/bench: two Dovecot servers, a
# generated corpus, verification of what arrived) on imapmigrate beside
# other tools. Usage: scripts/bench-compare.sh [PROFILE] [TOOL...]
#   scripts/bench-compare.sh small mbsync ours
set -euo pipefail
cd "$(dirname "$0")/.."
bench=${BENCH_DIR:-../shared/bench}
[ -x "$bench/compare.sh" ] || { echo "no benchmark harness at $bench (set BENCH_DIR)" >&2; exit 2; }
profile=${1:-small}
shift || true
go build -o bin/imapmigrate ./cmd/imapmigrate
bin=$(pwd)/bin/imapmigrate
state=${TMPDIR:-/tmp}/imapmigrate-bench-state
rm -rf "$state"
export OURS_CMD="IMAPMIGRATE_SOURCE_PASSWORD={pass} IMAPMIGRATE_DEST_PASSWORD={pass} $bin sync --source {src_host}:{src_port} --source-user {user} --source-security none --dest {dst_host}:{dst_port} --dest-user {user} --dest-security none --state $state/{user}.db ${OURS_ARGS:-}"
export OURS_VERSION="imapmigrate $(git rev-parse --short HEAD 2>/dev/null || echo dev)"
if [ $# -eq 0 ]; then set -- mbsync ours; fi
"$bench/compare.sh" "$profile" "$@"
