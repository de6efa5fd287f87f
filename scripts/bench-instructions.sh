#!/usr/bin/env bash
# Instructions per non-streaming Execute, counted by callgrind (issue 9, item 8: "cost you can
# measure without noise"). req/s on these shared machines moves 3x from day to day; the number of
# instructions a request costs does not.
#
#   scripts/bench-instructions.sh                # build release binaries, measure, print the table
#   SKIP_BUILD=1 scripts/bench-instructions.sh   # reuse the release binaries
#   N=200 M=1200 scripts/bench-instructions.sh   # the two request counts (defaults shown)
#   ANNOTATE=1 scripts/bench-instructions.sh     # also callgrind_annotate the server's M run
#   TOGGLE='*EmbeddedStore as*admit::{{closure}}' scripts/bench-instructions.sh
#       # count only while that function is on the stack (callgrind --toggle-collect, inclusive
#       # of its callees; demangled names, * and ? as wildcards): where the instructions go. A
#       # function only one target has reads 0 there, and the ratio is then n/a.
#
# Two targets, each run under `valgrind --tool=callgrind --collect-atstart=yes` twice: once
# serving N requests, once M. (instructions(M) - instructions(N)) / (M - N) is the cost of one
# request with start-up and shutdown cancelled out.
#   ours   vibectl-server serve: plaintext, auth off, no limits, the usage ledger as by default
#   floor  bare-relay (crates/bench/src/bin/bare_relay.rs): tonic Execute -> one reqwest POST to
#          /v1/chat/completions -> ExecuteResponse, with the server's runtime and HTTP/2 settings
#          and nothing else. The floor of this stack.
# Both get the same requests from vibectl-bench (closed loop, CONCURRENCY=8 in flight over
# CONNECTIONS=1 HTTP/2 connection, same prompt, same model name `openai/gpt-4o`), and both call the
# same testkit mock provider, which runs outside valgrind. Valgrind runs one thread at a time, so
# each run takes seconds (about 30 s for all four with the defaults, plus the build).
#
# Results: the table on stdout, and under OUT (default bench-results/instr-<UTC stamp>/):
# instructions.json, summary.txt, the callgrind.out.* files, the load generator's JSON and the
# processes' stderr. Loopback only; everything started here is killed on exit.
# Needs: Linux, valgrind, cargo (unless SKIP_BUILD=1), jq.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

N="${N:-200}"
M="${M:-1200}"
CONCURRENCY="${CONCURRENCY:-8}"
CONNECTIONS="${CONNECTIONS:-1}"
MODEL="openai/gpt-4o"
KEY="bench-key"
BIN="${BIN:-${CARGO_TARGET_DIR:-$ROOT/target}/release}"
STEP_TIMEOUT="${STEP_TIMEOUT:-600}"   # longest a single load run may take, in seconds

if ! [[ "$N" =~ ^[0-9]+$ && "$M" =~ ^[0-9]+$ ]] || ((N < 1 || M <= N || M > 1000000)); then
    echo "need 1 <= N < M <= 1000000 (got N=$N M=$M)" >&2
    exit 2
fi
for tool in valgrind jq; do
    command -v "$tool" >/dev/null || { echo "$tool not found" >&2; exit 1; }
done

OUT="${OUT:-$ROOT/bench-results/instr-$(date -u +%Y%m%dT%H%M%SZ)}"
mkdir -p "$OUT"
# shellcheck source=scripts/lib.sh
source "$ROOT/scripts/lib.sh"


# SIGTERM, then up to 60 s for a clean exit (callgrind writes its file at exit), then SIGKILL.
stop() {
    local pid="$1" i
    kill "$pid" 2>/dev/null || true
    for i in $(seq 1 600); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        echo "process $pid did not exit within 60 s of SIGTERM; killing it" >&2
        kill -9 "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
}

if [[ "${SKIP_BUILD:-0}" != 1 ]]; then
    echo "### building release binaries"
    cargo build --release -p vibectl-server -p vibectl-testkit -p vibectl-bench
fi
for b in mock-provider vibectl-server vibectl-bench bare-relay; do
    [[ -x "$BIN/$b" ]] || { echo "missing $BIN/$b (build first)" >&2; exit 1; }
done

COMMIT="$(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
DIRTY="$(git diff --quiet HEAD -- crates 2>/dev/null || echo ' (working tree has uncommitted changes under crates/)')"
STARTED=$SECONDS

# Nothing from the caller's environment may change what the processes do.
CLEAN_ENV=(env -u RUST_LOG -u RUST_BACKTRACE -u RUST_LIB_BACKTRACE
    -u OPENAI_API_KEY -u OPENAI_API_KEY_FILE -u ANTHROPIC_API_KEY -u ANTHROPIC_API_KEY_FILE
    -u OLLAMA_HOST -u VIBECTL_JWT_SECRET -u VIBECTL_JWT_SECRET_FILE -u VIBECTL_JWT_TOKEN
    -u VIBECTL_SERVER_CONFIG_DIR -u VIBECTL_SERVER_STATE_DIR)

"${CLEAN_ENV[@]}" "$BIN/mock-provider" --listen 127.0.0.1:0 --api-key "$KEY" --latency-ms 0 \
    --no-recording >"$WORK/mock.out" 2>"$WORK/mock.err" &
MOCK_PID=$!
PIDS+=("$MOCK_PID")
MOCK_ADDR="$(first_line "$WORK/mock.out" "$MOCK_PID" 60 | sed 's#.*http://##')"

# One target under callgrind serving $2 requests; sets RESULT to its total instruction count.
# (Not run in a subshell, so the trap knows its PID.)
measure() {
    local target="$1" n="$2" dir="$WORK/$1-$2" pid addr
    mkdir -p "$dir"
    local vg=(valgrind --tool=callgrind --callgrind-out-file="$OUT/callgrind.out.$target.$n")
    if [[ -n "${TOGGLE:-}" ]]; then
        vg+=(--collect-atstart=no "--toggle-collect=$TOGGLE")
    else
        vg+=(--collect-atstart=yes)
    fi
    case "$target" in
        ours)
            # A fresh config directory per run: the usage ledger starts empty each time.
            cat >"$dir/server.yaml" <<EOF
server: {host: 127.0.0.1, port: 0, default_model: $MODEL}
providers:
  openai: {base_url: "http://$MOCK_ADDR/v1", api_key: $KEY}
EOF
            "${CLEAN_ENV[@]}" "${vg[@]}" "$BIN/vibectl-server" serve --config "$dir/server.yaml" \
                --port 0 >"$dir/proc.out" 2>"$dir/proc.err" &
            ;;
        floor)
            "${CLEAN_ENV[@]}" "${vg[@]}" "$BIN/bare-relay" --listen 127.0.0.1:0 \
                --upstream "http://$MOCK_ADDR/v1" --api-key "$KEY" \
                >"$dir/proc.out" 2>"$dir/proc.err" &
            ;;
    esac
    pid=$!
    PIDS+=("$pid")
    addr="$(first_line "$dir/proc.out" "$pid" 60 | sed -E 's/.*listening on ([^ ]+).*/\1/')"
    if ! timeout "$STEP_TIMEOUT" "${CLEAN_ENV[@]}" "$BIN/vibectl-bench" --target "http://$addr" \
        --mode closed --concurrency "$CONCURRENCY" --connections "$CONNECTIONS" \
        --requests "$n" --warmup 0 --timeout 60 --model "$MODEL" --label "$target-$n" \
        --json --out "$OUT/load.$target.$n.json" >/dev/null 2>"$dir/bench.err"; then
        echo "load generator failed for $target N=$n:" >&2
        cat "$dir/bench.err" >&2
        return 1
    fi
    stop "$pid"
    cp "$dir/proc.err" "$OUT/stderr.$target.$n.txt"
    local ok errors
    ok="$(jq --argjson n "$n" '.requests == $n and .errors == 0' "$OUT/load.$target.$n.json")"
    errors="$(jq .errors "$OUT/load.$target.$n.json")"
    if [[ "$ok" != true ]]; then
        echo "$target N=$n: $errors errors or a short count (see $OUT/load.$target.$n.json)" >&2
        return 1
    fi
    local total
    total="$(awk '/^totals:/ { print $2 }' "$OUT/callgrind.out.$target.$n")"
    [[ -n "$total" ]] || { echo "no totals in $OUT/callgrind.out.$target.$n" >&2; return 1; }
    RESULT="$total"
}

declare -A INSTR
for target in ours floor; do
    for n in "$N" "$M"; do
        echo "### $target, $n requests under callgrind"
        measure "$target" "$n"
        INSTR[$target.$n]="$RESULT"
    done
done

per() { echo $(( (INSTR[$1.$M] - INSTR[$1.$N]) / (M - N) )); }
OURS="$(per ours)"
FLOOR="$(per floor)"
if ((FLOOR > 0)); then
    RATIO="$(awk -v a="$OURS" -v b="$FLOOR" 'BEGIN { printf "%.3f", a / b }')"
    RATIO_TEXT="$RATIO"
    [[ -n "${TOGGLE:-}" ]] || RATIO_TEXT+=" (goal <= 1.3)"
else
    RATIO=null
    RATIO_TEXT="n/a (nothing counted in the floor)"
fi
ELAPSED=$((SECONDS - STARTED))

jq -n --arg commit "$COMMIT$DIRTY" --argjson n "$N" --argjson m "$M" \
    --argjson concurrency "$CONCURRENCY" --argjson connections "$CONNECTIONS" --arg model "$MODEL" \
    --argjson ours_n "${INSTR[ours.$N]}" --argjson ours_m "${INSTR[ours.$M]}" \
    --argjson floor_n "${INSTR[floor.$N]}" --argjson floor_m "${INSTR[floor.$M]}" \
    --argjson ours "$OURS" --argjson floor "$FLOOR" --argjson ratio "$RATIO" \
    --argjson seconds "$ELAPSED" --arg toggle "${TOGGLE:-}" \
    '{commit: $commit, n: $n, m: $m, concurrency: $concurrency, connections: $connections,
      model: $model, seconds: $seconds,
      toggle_collect: (if $toggle == "" then null else $toggle end),
      ours: {instructions_n: $ours_n, instructions_m: $ours_m, per_request: $ours},
      floor: {instructions_n: $floor_n, instructions_m: $floor_m, per_request: $floor},
      ratio: $ratio, goal_ratio: 1.3}' >"$OUT/instructions.json"

{
    echo "instructions per Execute (callgrind), commit $COMMIT$DIRTY"
    [[ -z "${TOGGLE:-}" ]] || echo "counted only inside: $TOGGLE"
    echo "N=$N M=$M, $CONCURRENCY in flight over $CONNECTIONS connection(s), model $MODEL, $(valgrind --version)"
    printf '%-8s %16s %16s %14s\n' target "instr N=$N" "instr M=$M" "per request"
    printf '%-8s %16s %16s %14s\n' ours "${INSTR[ours.$N]}" "${INSTR[ours.$M]}" "$OURS"
    printf '%-8s %16s %16s %14s\n' floor "${INSTR[floor.$N]}" "${INSTR[floor.$M]}" "$FLOOR"
    echo "ratio ours/floor: $RATIO_TEXT"
    echo "took ${ELAPSED}s; files in $OUT"
} | tee "$OUT/summary.txt"

if [[ "${ANNOTATE:-0}" == 1 ]]; then
    callgrind_annotate --inclusive=yes --threshold=99 "$OUT/callgrind.out.ours.$M" \
        >"$OUT/annotate.ours.$M.inclusive.txt" 2>/dev/null || true
    callgrind_annotate --threshold=99 "$OUT/callgrind.out.ours.$M" \
        >"$OUT/annotate.ours.$M.self.txt" 2>/dev/null || true
    echo "callgrind_annotate of ours, M=$M: $OUT/annotate.ours.$M.{inclusive,self}.txt"
fi
