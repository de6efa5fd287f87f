#!/usr/bin/env bash
# Runs every cargo-fuzz target in fuzz/ for SECONDS each (default 60), one after another:
#   scripts/fuzz.sh [SECONDS] [TARGET...]
# Needs nightly (or RUSTC_BOOTSTRAP=1 on stable) and cargo-fuzz (installed from crates.io when
# missing). Seeds are in fuzz/seeds/<target>; the growing corpus in fuzz/corpus/<target> (not
# committed). A crash leaves its input in fuzz/artifacts/<target>/ and fails the script; turn it
# into a regression test beside the parser (docs/security.md, "Fuzzing"). While another cargo
# build holds the package cache, `cargo fuzz run` waits: run fuzz/target/*/release/<target> directly.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"

secs="${1:-60}"
shift || true
command -v cargo-fuzz >/dev/null 2>&1 || cargo install cargo-fuzz --locked

toolchain=()
if rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
  toolchain=(+nightly)
else
  export RUSTC_BOOTSTRAP=1
fi

targets=("$@")
[ "${#targets[@]}" -gt 0 ] || mapfile -t targets < <(cargo "${toolchain[@]}" fuzz list)

# No sanitizer: the code under test forbids `unsafe`, so ASan finds nothing that a panic or an
# assertion in the target does not; without it each run gets several times the executions.
for t in "${targets[@]}"; do
  mkdir -p "corpus/$t" "seeds/$t"
  echo "fuzz: $t for ${secs}s"
  cargo "${toolchain[@]}" fuzz run --sanitizer none "$t" "corpus/$t" "seeds/$t" -- \
    -max_total_time="$secs" -rss_limit_mb=2048 -max_len=65536 -timeout=10 -print_final_stats=1
done
