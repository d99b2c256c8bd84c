#!/bin/bash
# rtt.sh: imapmigrate's and mbsync's incremental pass over links with
# latency. One mailbox (user1) of the shared harness's corpus (PROFILE,
# default medium; `make bench PROFILE=medium` prepares it), through
# cmd/delayproxy in front of both Dovecot servers. Each tool's full pass
# runs once (through a proxy, since imapmigrate's state is keyed by the
# address it dials); then, for each one-way delay, each tool's incremental
# pass (the harness's change set, snapshot B) runs ROUNDS times, the
# destination and the tool's state restored before each run. Prints the
# median wall time of each.
#
#   scripts/rtt.sh                      # one-way 0, 1 ms and 10 ms, 3 rounds
#   ONE_WAY="0ms 5ms" ROUNDS=5 scripts/rtt.sh
#   DIRECT=1 ROUNDS=20 PROFILE=small scripts/rtt.sh   # no proxy at all
set -euo pipefail
cd "$(dirname "$0")/.."
BENCH_DIR=${BENCH_DIR:-$(cd ../shared/bench && pwd)}
source "$BENCH_DIR/lib.sh"
PROFILE=${PROFILE:-medium}
ONE_WAY=${ONE_WAY:-0ms 1ms 10ms}
ROUNDS=${ROUNDS:-3}
EXP=${BENCH_ROOT:-/tmp/imapbench}/rtt
U=user1
PSRC=127.0.0.1:14311 PDST=127.0.0.1:14312
if [ "${DIRECT:-0}" = 1 ]; then
  # Straight to the servers: what the proxy's hop costs each round trip
  # is left out, and so the comparison is of the tools alone.
  PSRC=127.0.0.1:$SRC_PORT PDST=127.0.0.1:$DST_PORT ONE_WAY=direct
fi
[ -d "$BENCH_ROOT/fixtures/$PROFILE/B" ] || { echo "rtt.sh: no $PROFILE corpus; run make bench PROFILE=$PROFILE first" >&2; exit 3; }
command -v mbsync >/dev/null || apt-get install -y -qq isync
make -s build
mkdir -p "$EXP.bin"
go build -o "$EXP.bin/delayproxy" ./cmd/delayproxy

pids=()
proxies() { # ONE_WAY
  stop_proxies
  [ "$1" = direct ] && return
  "$EXP.bin/delayproxy" -listen $PSRC -upstream 127.0.0.1:$SRC_PORT -one-way "$1" & pids+=($!)
  "$EXP.bin/delayproxy" -listen $PDST -upstream 127.0.0.1:$DST_PORT -one-way "$1" & pids+=($!)
  sleep 0.3
}
stop_proxies() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done; pids=(); }
trap stop_proxies EXIT

ours() {
  IMAPMIGRATE_SOURCE_PASSWORD=pass IMAPMIGRATE_DEST_PASSWORD=pass bin/imapmigrate sync \
    --source $PSRC --source-user $U --source-security none \
    --dest $PDST --dest-user $U --dest-security none --state "$EXP/ours/state/$U.db"
}
mbsyncrc() {
  cat <<EOC
IMAPAccount src
Host 127.0.0.1
Port ${PSRC#*:}
User $U
Pass pass
SSLType None
AuthMechs PLAIN LOGIN

IMAPStore src
Account src

IMAPAccount dst
Host 127.0.0.1
Port ${PDST#*:}
User $U
Pass pass
SSLType None
AuthMechs PLAIN LOGIN

IMAPStore dst
Account dst

Channel migrate
Far :src:
Near :dst:
Patterns *
Create Near
Remove None
Expunge None
Sync Pull
CopyArrivalDate yes
SyncState $EXP/mbsync/state/
EOC
}
mb() { mbsync -c "$EXP/mbsync/mbsyncrc" -a; }
restore_dst() { # TOOL
  dst_stop >/dev/null 2>&1; rm -rf "$DST_DIR/mail"; cp -a "$EXP/$1/dst-after-full" "$DST_DIR/mail"; dst_start "$(profile_users $PROFILE)" >/dev/null 2>&1
  rm -rf "$EXP/$1/state"; cp -a "$EXP/$1/state-after-full" "$EXP/$1/state"
  sync; sleep 0.3
}

rm -rf "$EXP"; mkdir -p "$EXP/ours/state" "$EXP/mbsync/state"
mbsyncrc > "$EXP/mbsync/mbsyncrc"
proxies "${ONE_WAY%% *}"
for t in ours mbsync; do
  restore_src $PROFILE A >/dev/null 2>&1
  reset_dst $PROFILE >/dev/null 2>&1
  if [ $t = ours ]; then ours > "$EXP/$t/full.log" 2>&1; else mb > "$EXP/$t/full.log" 2>&1; fi
  dst_stop >/dev/null 2>&1
  cp -a "$DST_DIR/mail" "$EXP/$t/dst-after-full"; cp -a "$EXP/$t/state" "$EXP/$t/state-after-full"
  dst_start "$(profile_users $PROFILE)" >/dev/null 2>&1
done
restore_src $PROFILE B >/dev/null 2>&1

echo "| one-way delay (round trip) | imapmigrate incremental | mbsync incremental | ratio |"
echo "|---|---:|---:|---:|"
for ow in $ONE_WAY; do
  proxies "$ow"
  declare -A times=([ours]="" [mbsync]="")
  for _ in $(seq "$ROUNDS"); do
    for t in ours mbsync; do
      restore_dst $t
      s=$(date +%s%N)
      if [ $t = ours ]; then ours > "$EXP/$t/incr.log" 2>&1; else mb > "$EXP/$t/incr.log" 2>&1; fi
      e=$(date +%s%N)
      times[$t]+="$(( (e - s) / 1000000 )) "
    done
  done
  med() { tr ' ' '\n' <<<"$1" | grep . | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
  o=$(med "${times[ours]}") m=$(med "${times[mbsync]}")
  echo "| $ow | ${o} ms | ${m} ms | $(awk -v o="$o" -v m="$m" 'BEGIN{printf "%.2fx", m/o}') |"
done
