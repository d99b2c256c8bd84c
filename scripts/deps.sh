#!/usr/bin/env bash
# Installs what imapmigrate's demo and tests need on a fresh Debian machine:
# Dovecot's IMAP server and the PostgreSQL server (the tests start their own
# instances on loopback; the system services are not used), and Chromium for
# the console's browser test. Needs root or sudo; does nothing when
# everything is there.
set -euo pipefail
SUDO=""
[ "$(id -u)" = 0 ] || SUDO=sudo
missing=()
command -v dovecot >/dev/null 2>&1 || [ -x /usr/sbin/dovecot ] || missing+=(dovecot-imapd dovecot-core)
# testserver.StartPostgres runs initdb and postgres from the highest
# /usr/lib/postgresql/<version>/bin.
compgen -G '/usr/lib/postgresql/*/bin/postgres' >/dev/null || missing+=(postgresql)
[ -x /usr/bin/time ] || missing+=(time)  # GNU time measures peak RSS in make bench
command -v go >/dev/null 2>&1 || [ -x /usr/local/go/bin/go ] || missing+=(golang-go)
# TestConsoleInChromium drives Debian's build, headless, at this path.
[ -x /usr/bin/chromium ] || missing+=(chromium)
if [ ${#missing[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  # Quiet unless it fails: apt and debconf chatter on stderr even with -qq.
  if ! out=$($SUDO apt-get update -qq 2>&1 && $SUDO apt-get install -y -qq "${missing[@]}" 2>&1); then
    printf '%s\n' "$out" >&2
    exit 1
  fi
fi
# Debian starts the system Dovecot on install; it is not needed (and holds
# ports 143/993). The tests and the demo run their own instances.
if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet dovecot 2>/dev/null; then
  systemctl stop dovecot || true
fi
# Debian also creates and starts a system PostgreSQL cluster (port 5432);
# the tests run clusters of their own in temporary directories.
if command -v pg_lsclusters >/dev/null 2>&1; then
  pg_lsclusters -h 2>/dev/null | while read -r version cluster _ status _; do
    case "$status" in
      online*) $SUDO pg_ctlcluster "$version" "$cluster" stop >/dev/null 2>&1 || true ;;
    esac
  done || true
fi
