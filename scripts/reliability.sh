#!/bin/sh
# Runs every test RELIABILITY.md names and rewrites its "Last run" section
# with one line per test: its result and how long it took. A test named in
# the report that no longer exists shows as "not run".
set -eu
cd "$(dirname "$0")/.."
report=RELIABILITY.md
names=$(grep -o '`Test[A-Za-z0-9_]*`' "$report" | tr -d '`' | sort -u)
regex="^($(echo "$names" | paste -sd '|'))\$"
out=$(mktemp)
trap 'rm -f "$out"' EXIT
IMAPMIGRATE_INTEGRATION=1 go test -count=1 -v -run "$regex" ./... >"$out" 2>&1 || true
{
	sed '/^## Last run$/,$d' "$report"
	echo '## Last run'
	echo
	echo "$(date -u '+%Y-%m-%d %H:%M UTC'), $(go version | cut -d' ' -f3), $(nproc) cores, $(dovecot --version 2>/dev/null | cut -d' ' -f1 | sed 's/^/Dovecot /'):"
	echo
	echo '| Test | Result | Time |'
	echo '|---|---|---|'
	for n in $names; do
		# The test's own lines and its subtests' (indented, "name/sub").
		grep -E "^ *--- (PASS|FAIL|SKIP): $n[ /]" "$out" | awk -v n="$n" '
			{ res = $2; sub(":", "", res); t = $4; gsub(/[()s]/, "", t) }
			$3 == n { runs++; time += t; if (res == "FAIL" || result == "") result = res; next }
			{ subs++; if (t + 0 > longest) longest = t + 0; if (res == "FAIL") result = "FAIL" }
			END {
				if (runs == 0) { printf "| `%s` | not run | |\n", n; exit }
				note = sprintf("%.2fs", time)
				if (subs > 0) note = note sprintf(" (%d subtests, longest %.2fs)", subs, longest)
				if (runs > 1) note = note sprintf(", in %d packages", runs)
				printf "| `%s` | %s | %s |\n", n, result, note
			}'
	done
} >"$report.new"
# A failed or missing test leaves the report as it was.
if grep -qE '\| (FAIL|not run) \|' "$report.new"; then
	grep -E '\| (FAIL|not run) \|' "$report.new"
	grep -E '^(FAIL|#|.*\[build failed\]|.*setup failed)' "$out" | head -n 40
	# What a failed test said, without the servers' logs it dumps.
	grep -E -A 40 '^ *--- FAIL' "$out" | grep -vE '^ +(time=|[A-Z][a-z]{2} [ 0-9]{2} )' | head -n 80
	rm -f "$report.new"
	echo "$report not updated: the tests above failed or did not run" >&2
	exit 1
fi
mv "$report.new" "$report"
