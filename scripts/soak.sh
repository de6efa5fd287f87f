#!/usr/bin/env bash
# Soak and abuse run: mixed traffic against the release server for MINUTES (default 30) while
# its RSS, open fds and threads are sampled; fails if they grow after the warm-up or if the
# ledger differs from what the mock provider saw (crates/bench/src/bin/soak.rs says exactly what).
#   scripts/soak.sh [MINUTES]            # SKIP_BUILD=1 reuses target/release
#   CONCURRENCY=32 WARMUP=60 scripts/soak.sh 30
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
MINUTES="${1:-30}"
WARMUP="${WARMUP:-$(awk -v m="$MINUTES" 'BEGIN { w = m * 60 / 5; print (w > 120 ? 120 : w) }')}"
OUT="$ROOT/bench-results/soak-$(date -u +%Y%m%dT%H%M%SZ)"
mkdir -p "$OUT"
if [[ "${SKIP_BUILD:-0}" != 1 ]]; then
    cargo build --release -p vibectl-server -p vibectl-bench --bin vibectl-server --bin soak
fi
BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release"
"$BIN/soak" --server "$BIN/vibectl-server" --minutes "$MINUTES" --warmup-secs "$WARMUP" \
    --concurrency "${CONCURRENCY:-32}" --samples "$OUT/samples.csv" 2>&1 | tee "$OUT/soak.txt"
echo "samples: $OUT/samples.csv"
