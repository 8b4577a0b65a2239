#!/usr/bin/env bash
# The tamper tests at length (RELIABILITY_TAMPER_FULL=1): more entries of the demo-like log
# changed byte by byte, more positions for deletions, duplicates, swaps, insertions and
# re-signing, and 60 changed bytes in the node's sled files. Appends the result to
# docs/RELIABILITY.md.
set -euo pipefail

cd "$(dirname "$0")/.."
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
started=$(date +%s)
set +e
RELIABILITY_TAMPER_FULL=1 cargo test -p tests --test reliability -- tamper --nocapture --test-threads 1 2>&1 | tee "$log"
code=${PIPESTATUS[0]}
set -e
elapsed=$(( $(date +%s) - started ))
summary=$(grep -o 'tamper: .*' "$log" | sed 's/^tamper: //' | paste -sd ';' - || true)
outcome=$([ "$code" -eq 0 ] && echo passed || echo FAILED)
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
line="| $(date -u +%Y-%m-%d) | \`scripts/tamper-long.sh\` | $commit | full sweep | $outcome in ${elapsed} s: $summary |"
echo "$line" >> docs/RELIABILITY.md
echo "recorded in docs/RELIABILITY.md: $line"
exit "$code"
