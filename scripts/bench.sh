#!/usr/bin/env bash
# Runs every benchmark of the project and writes one table (Markdown) with the command, the
# machine and each figure next to the limit measured in the same run. Figures move with the
# machine's load: compare the ratios, and run on an otherwise idle machine.
#
#   scripts/bench.sh                  # defaults: 20,000 appends, 100,000-entry verifier log,
#                                     # reads and memory over the county year at scale 2 (146k)
#   APPEND_EVENTS=50000 VERIFY_BENCH_ENTRIES=1000000 READS_SCALE=14 scripts/bench.sh > bench.md
#                                     # issue 7's sizes: about 20 minutes, 4 GB of memory
set -euo pipefail
cd "$(dirname "$0")/.."
events="${APPEND_EVENTS:-20000}"
entries="${VERIFY_BENCH_ENTRIES:-100000}"
scale="${READS_SCALE:-2}"
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT

run() { # name, command...: keeps stderr, and shows it if the command fails
  local name="$1"; shift
  "$@" > "$out/$name.txt" 2> "$out/$name.err" || { echo "$name failed:" >&2; tail -30 "$out/$name.err" >&2; exit 1; }
}
run append cargo bench -p ledger-node --bench append -- --events "$events"
run verify env VERIFY_BENCH_ENTRIES="$entries" cargo bench -p verifier --bench verify
run reads cargo bench -p ledger-node --bench reads -- --scale "$scale" --seconds 5
run memory cargo bench -p ledger-node --bench memory -- --scale 2

echo "# Benchmarks, $(date -u +%Y-%m-%dT%H:%MZ)"
echo
echo "Machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), load average $(cut -d' ' -f1-3 /proc/loadavg)."
echo
echo "## Appends: \`cargo bench -p ledger-node --bench append -- --events $events\`"
echo
echo '```'
cat "$out/append.txt"
echo '```'
echo
echo "## Verifier: \`VERIFY_BENCH_ENTRIES=$entries cargo bench -p verifier --bench verify\`"
echo
echo '```'
cat "$out/verify.txt"
echo '```'
echo
echo "## Reads and appends as the log grows: \`cargo bench -p ledger-node --bench reads -- --scale $scale --seconds 5\`"
echo
cat "$out/reads.txt"
echo
echo "## Memory per entry: \`cargo bench -p ledger-node --bench memory -- --scale 2\`"
echo
echo '```'
cat "$out/memory.txt"
echo '```'
