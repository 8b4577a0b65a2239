#!/usr/bin/env bash
# The 10-minute soak of issue 8: mixed reads and writes against the real node on loopback,
# no error allowed, memory per appended entry bounded. SOAK_SECONDS overrides the length.
set -euo pipefail
cd "$(dirname "$0")/.."
SOAK_SECONDS="${SOAK_SECONDS:-600}" cargo test --release -p tests --test reliability soak -- --nocapture
