#!/usr/bin/env bash
# Installs what imapmigrate's demo and tests need on a fresh Debian machine:
# Dovecot's IMAP server (the tests start their own instances on loopback;
# the system service is not used). Needs root or sudo; does nothing when
# everything is there.
set -euo pipefail
missing=()
command -v dovecot >/dev/null 2>&1 || [ -x /usr/sbin/dovecot ] || missing+=(dovecot-imapd dovecot-core)
[ -x /usr/bin/time ] || missing+=(time)  # GNU time measures peak RSS in make bench
command -v go >/dev/null 2>&1 || [ -x /usr/local/go/bin/go ] || missing+=(golang-go)
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" = 0 ] || SUDO=sudo
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi
# Debian starts the system Dovecot on install; it is not needed (and holds
# ports 143/993). The tests and the demo run their own instances.
if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet dovecot 2>/dev/null; then
  systemctl stop dovecot || true
fi
