#!/usr/bin/env bash
# The crash test at length: the real ledger-node, appended to by four clients at once, killed
# with SIGKILL RELIABILITY_KILLS times (default 200) at random moments, restarted and checked
# after each kill (tests/tests/reliability/crash.rs says what is checked).
#
#   scripts/crash-long.sh                       # 200 kills, the default seed
#   RELIABILITY_KILLS=1000 RELIABILITY_SEED=7 scripts/crash-long.sh
#
# Appends one line with the result to the results table of docs/RELIABILITY.md.
set -euo pipefail

cd "$(dirname "$0")/.."
kills="${RELIABILITY_KILLS:-200}"
seed="${RELIABILITY_SEED:-$((0x5eed0008))}"
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
started=$(date +%s)
set +e
RELIABILITY_KILLS="$kills" RELIABILITY_SEED="$seed" \
    cargo test -p tests --test reliability -- crash --nocapture 2>&1 | tee "$log"
code=${PIPESTATUS[0]}
set -e
elapsed=$(( $(date +%s) - started ))
summary=$(grep -o -m1 'crash: .*' "$log" || true)
outcome=$([ "$code" -eq 0 ] && echo passed || echo FAILED)
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
line="| $(date -u +%Y-%m-%d) | \`scripts/crash-long.sh\` | $commit | $kills kills, seed $seed | $outcome in ${elapsed} s: ${summary#crash: } |"
echo "$line" >> docs/RELIABILITY.md
echo "recorded in docs/RELIABILITY.md: $line"
exit "$code"
