#!/usr/bin/env bash
# Runs ledger-core's fuzz targets (ledger-core/fuzz: envelope, body, entry, checkpoint), each for
# a bounded time, with cargo-fuzz and libFuzzer on the nightly toolchain.
#
#   scripts/fuzz.sh                 # every target, FUZZ_SECONDS (default 60) each
#   FUZZ_SECONDS=600 scripts/fuzz.sh entry checkpoint
#
# Installs cargo-fuzz from crates.io if it is missing (`cargo install cargo-fuzz`). Needs a
# nightly toolchain (`rustup toolchain install nightly`); says so and stops if there is none.
# Seeds: the JSON test vectors in ../shared/vectors when present. Crashes land in
# ledger-core/fuzz/artifacts/<target>/ and make the script exit non-zero.
set -euo pipefail

cd "$(dirname "$0")/.."
seconds="${FUZZ_SECONDS:-60}"
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    targets=(envelope body entry checkpoint)
fi

if ! rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
    echo "fuzz.sh: no nightly toolchain (cargo-fuzz needs one): rustup toolchain install nightly" >&2
    exit 2
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz.sh: installing cargo-fuzz" >&2
    cargo install cargo-fuzz --locked
fi

fuzz_dir=ledger-core/fuzz
# Seeds: each test vector file, and each string value in them that looks like an envelope,
# an entry or a note, one per file.
seed() {
    local target="$1" corpus="$fuzz_dir/corpus/$1"
    mkdir -p "$corpus"
    local vectors=../shared/vectors
    [ -d "$vectors" ] || return 0
    python3 - "$vectors" "$corpus" "$target" <<'PY' || true
import json, os, sys, hashlib
vectors, corpus, target = sys.argv[1:4]
def walk(v):
    if isinstance(v, dict):
        for x in v.values(): yield from walk(x)
    elif isinstance(v, list):
        for x in v: yield from walk(x)
    elif isinstance(v, str):
        yield v
for name in os.listdir(vectors):
    if not name.endswith(".json"): continue
    try: doc = json.load(open(os.path.join(vectors, name)))
    except Exception: continue
    for s in walk(doc):
        want = {"envelope": '"payloadType"', "entry": '"prev"', "body": '"kind"', "checkpoint": "\n\n"}[target]
        if want in s:
            data = s.encode()
            open(os.path.join(corpus, hashlib.sha256(data).hexdigest()[:16]), "wb").write(data)
PY
}

status=0
for t in "${targets[@]}"; do
    seed "$t"
    echo "== fuzzing $t for ${seconds}s"
    if ! (cd "$fuzz_dir" && cargo +nightly fuzz run "$t" -- -max_total_time="$seconds" -rss_limit_mb=2048); then
        echo "fuzz.sh: $t FAILED: see $fuzz_dir/artifacts/$t/" >&2
        status=1
    fi
done
exit $status
