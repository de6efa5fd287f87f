#!/usr/bin/env bash
# Benchmarks vibectl-server against the testkit mock provider on this machine (issue 2, item 7).
#
#   scripts/bench.sh                 # build release binaries, run every scenario, print a summary
#   DURATION=30 scripts/bench.sh     # longer measured windows
#   SKIP_BUILD=1 scripts/bench.sh    # reuse target/release binaries
#   AUTH=1 scripts/bench.sh          # server with --require-auth, every request with a token
#   INSTR=0 scripts/bench.sh         # skip the instruction count (on by default, ~30 s)
#
# Scenarios (the issue's acceptance list, plus two for context):
#   closed-64        non-streaming Execute, 64 concurrent workers      target >= 15,000 req/s
#   closed-64-1conn  the same over a single HTTP/2 connection          (context: one channel's cap)
#   open-2000        open loop at 2,000 req/s                           target p99 overhead < 1 ms
#   stream-64        StreamExecute, 64 concurrent workers               (context)
#   hold-1000        1,000 concurrent streams held against a slow mock  target RSS < 200 MiB
#   server RSS at idle (< 50 MiB) and its peak under load (< 150 MiB), from /proc/PID/status.
#   instructions per Execute, ours / bare relay (<= 1.3): scripts/bench-instructions.sh under
#                    callgrind, the one figure here that does not move with the machine's load.
#                    Runs by default (about 30 s, needs valgrind; skipped with a note without it);
#                    INSTR=0 skips it.
#
# The machine is shared: each scenario records `uptime` and the top CPU users before it starts
# (<scenario>.uptime), and its JSON has the CPU of server, mock and load generator plus the
# core-seconds used by everything else during the window ("others%" in the summary).
#
# Results: a table per scenario on stdout, a summary at the end, and JSON under
# bench-results/<UTC timestamp>/ (git-ignored). Everything started here is killed on exit.
# Needs: Linux (/proc), cargo, jq (for the summary).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

DURATION="${DURATION:-15}"          # measured seconds per load scenario
WARMUP="${WARMUP:-3}"               # warm-up seconds before measuring
CONNECTIONS="${CONNECTIONS:-4}"     # HTTP/2 connections from the load generator
CONCURRENCY="${CONCURRENCY:-64}"
RATE="${RATE:-2000}"
HOLD_STREAMS="${HOLD_STREAMS:-1000}"
HOLD_SECS="${HOLD_SECS:-20}"
KEY="bench-key"

STAMP="$(date -u +%Y%m%dT%H%M%SZ)"
OUT="$ROOT/bench-results/$STAMP"
mkdir -p "$OUT"
# shellcheck source=scripts/lib.sh
source "$ROOT/scripts/lib.sh"

log() { printf '\n### %s\n' "$*"; }


if [[ "${SKIP_BUILD:-0}" != 1 ]]; then
    log "building release binaries"
    cargo build --release -p vibectl-server -p vibectl-testkit -p vibectl-bench
fi
BIN="$ROOT/target/release"
for b in mock-provider vibectl-server vibectl-bench; do
    [[ -x "$BIN/$b" ]] || { echo "missing $BIN/$b (build first)" >&2; exit 1; }
done

# Machine and load, recorded next to the results.
{
    echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "commit: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD -- crates 2>/dev/null || echo ' (working tree has uncommitted changes under crates/)')"
    echo "nproc: $(nproc)"
    echo "cpu: $(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)"
    echo "memory: $(awk '/^MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)"
    echo "kernel: $(uname -r)"
    echo "rustc: $(rustc --version 2>/dev/null || echo unknown)"
} | tee "$OUT/machine.txt"

# Fast mock (0 ms latency) for the request scenarios; slow mock (one chunk a second, two
# minutes per reply) so held streams stay open.
"$BIN/mock-provider" --listen 127.0.0.1:0 --api-key "$KEY" --latency-ms 0 --no-recording \
    >"$WORK/mock.out" 2>"$WORK/mock.err" &
MOCK_PID=$!
PIDS+=("$MOCK_PID")
"$BIN/mock-provider" --listen 127.0.0.1:0 --api-key "$KEY" --latency-ms 0 --no-recording \
    --chunks 120 --chunk-interval-ms 1000 >"$WORK/slow.out" 2>"$WORK/slow.err" &
SLOW_PID=$!
PIDS+=("$SLOW_PID")
MOCK_ADDR="$(first_line "$WORK/mock.out" "$MOCK_PID" | sed 's#.*http://##')"
SLOW_ADDR="$(first_line "$WORK/slow.out" "$SLOW_PID" | sed 's#.*http://##')"

cat >"$WORK/server.yaml" <<EOF
server: {host: 127.0.0.1, port: 0, default_model: openai/gpt-4o}
providers:
  openai: {base_url: "http://$MOCK_ADDR/v1", api_key: $KEY}
  slowmock: {wire: openai, base_url: "http://$SLOW_ADDR/v1", api_key: $KEY}
models:
  - {id: slowmock/gpt-4o, provider: slowmock, upstream: gpt-4o, prices: {input: 2.5, output: 10}}
EOF
cp "$WORK/server.yaml" "$OUT/server.yaml"

# AUTH=1: an HS256 secret for this run, the server requires tokens, the load generator sends one.
SERVER_FLAGS=()
JWT_ENV=()
if [[ "${AUTH:-0}" == 1 ]]; then
    JWT_ENV=("VIBECTL_JWT_SECRET=$(head -c 32 /dev/urandom | base64)")
    SERVER_FLAGS=(--require-auth)
    VIBECTL_JWT_TOKEN="$(env "${JWT_ENV[@]}" "$BIN/vibectl-server" --config "$WORK/server.yaml" \
        generate-token bench-user --expires-in 1d 2>/dev/null)"
    export VIBECTL_JWT_TOKEN
    echo "auth: on (--require-auth, HS256 token for subject bench-user)" | tee -a "$OUT/machine.txt"
fi

# Provider variables in the environment would win over the file: start from a clean slate.
env -u OPENAI_API_KEY -u OPENAI_API_KEY_FILE -u ANTHROPIC_API_KEY -u ANTHROPIC_API_KEY_FILE \
    -u OLLAMA_HOST -u VIBECTL_JWT_SECRET -u VIBECTL_JWT_SECRET_FILE \
    "${JWT_ENV[@]}" "$BIN/vibectl-server" serve --config "$WORK/server.yaml" --port 0 "${SERVER_FLAGS[@]}" \
    >"$WORK/server.out" 2>"$WORK/server.err" &
SERVER_PID=$!
PIDS+=("$SERVER_PID")
SERVER_ADDR="$(first_line "$WORK/server.out" "$SERVER_PID" | sed -E 's/.*listening on ([^ ]+).*/\1/')"
echo "mock $MOCK_ADDR (pid $MOCK_PID), slow mock $SLOW_ADDR (pid $SLOW_PID), server $SERVER_ADDR (pid $SERVER_PID)"

sleep 2
IDLE_RSS="$(rss_kib "$SERVER_PID" VmRSS)"
echo "server idle RSS after start: $IDLE_RSS KiB"

bench() {
    local name="$1"
    shift
    log "$name    (load before: $(uptime | sed 's/.*load average/load average/'))"
    { uptime; ps -eo pcpu,pid,comm --sort=-pcpu | head -8; } >"$OUT/$name.uptime"
    echo "vibectl-bench --target $SERVER_ADDR $*" | tee "$OUT/$name.cmd"
    "$BIN/vibectl-bench" --target "$SERVER_ADDR" --label "$name" \
        --watch "server=$SERVER_PID" --watch "mock=$MOCK_PID" --out "$OUT/$name.json" "$@"
}

bench closed-64 --mode closed --concurrency "$CONCURRENCY" --connections "$CONNECTIONS" \
    --duration "$DURATION" --warmup "$WARMUP"
bench closed-64-1conn --mode closed --concurrency "$CONCURRENCY" --connections 1 \
    --duration "$DURATION" --warmup "$WARMUP"
bench open-2000 --mode open --rate "$RATE" --connections "$CONNECTIONS" \
    --duration "$DURATION" --warmup "$WARMUP"
bench stream-64 --mode closed --stream --concurrency "$CONCURRENCY" --connections "$CONNECTIONS" \
    --duration "$DURATION" --warmup "$WARMUP"
LOAD_HWM="$(rss_kib "$SERVER_PID" VmHWM)"
sleep 3
IDLE_AFTER_RSS="$(rss_kib "$SERVER_PID" VmRSS)"
echo "server VmHWM after the request scenarios: $LOAD_HWM KiB; RSS idle again: $IDLE_AFTER_RSS KiB"

log "hold-$HOLD_STREAMS    (load before: $(uptime | sed 's/.*load average/load average/'))"
{ uptime; ps -eo pcpu,pid,comm --sort=-pcpu | head -8; } >"$OUT/hold-$HOLD_STREAMS.uptime"
echo "vibectl-bench --target $SERVER_ADDR --streams-hold $HOLD_STREAMS --hold-secs $HOLD_SECS --model slowmock/gpt-4o --connections $CONNECTIONS" \
    | tee "$OUT/hold-$HOLD_STREAMS.cmd"
"$BIN/vibectl-bench" --target "$SERVER_ADDR" --label "hold-$HOLD_STREAMS" \
    --streams-hold "$HOLD_STREAMS" --hold-secs "$HOLD_SECS" --model slowmock/gpt-4o \
    --connections "$CONNECTIONS" --watch "server=$SERVER_PID" --watch "mock=$SLOW_PID" \
    --out "$OUT/hold-$HOLD_STREAMS.json"
FINAL_HWM="$(rss_kib "$SERVER_PID" VmHWM)"
sleep 3
FINAL_RSS="$(rss_kib "$SERVER_PID" VmRSS)"
FINAL_FDS="$(ls "/proc/$SERVER_PID/fd" | wc -l)"

printf '{"idle_rss_kib": %s, "load_hwm_kib": %s, "idle_after_load_rss_kib": %s, "final_hwm_kib": %s, "rss_after_hold_kib": %s, "open_fds_after_hold": %s}\n' \
    "$IDLE_RSS" "$LOAD_HWM" "$IDLE_AFTER_RSS" "$FINAL_HWM" "$FINAL_RSS" "$FINAL_FDS" >"$OUT/memory.json"

# Instructions per Execute under callgrind (its own mock and processes; reuses the binaries).
INSTR_JSON=""
if [[ "${INSTR:-1}" == 1 ]]; then
    if command -v valgrind >/dev/null && command -v jq >/dev/null; then
        log "instructions per Execute (callgrind)"
        if SKIP_BUILD=1 TOGGLE= BIN="$BIN" OUT="$OUT/instructions" scripts/bench-instructions.sh; then
            INSTR_JSON="$OUT/instructions/instructions.json"
        else
            echo "scripts/bench-instructions.sh failed; no instruction count in the summary"
        fi
    else
        echo "valgrind or jq not found: no instruction count (INSTR=0 silences this)"
    fi
fi

if ! command -v jq >/dev/null; then
    echo "jq not found: no summary; the JSON results are in $OUT"
    exit 0
fi

log "summary ($OUT)"
verdict() { if [[ "$1" == true ]]; then echo PASS; else echo MISS; fi; }
c="$OUT/closed-64.json"
o="$OUT/open-2000.json"
h="$OUT/hold-$HOLD_STREAMS.json"
hold_peak="$(jq '.processes[] | select(.name == "server") | .rss_peak_kib' "$h")"
rps="$(jq .rps "$c")"
{
    printf '%-48s %-28s %s\n' "target" "measured" "verdict"
    printf '%-48s %-28s %s\n' ">= 15,000 req/s, Execute, 64 concurrent" "$rps req/s ($(jq .errors "$c") errors)" \
        "$(verdict "$(jq '.rps >= 15000 and .errors == 0' "$c")")"
    printf '%-48s %-28s %s\n' "open loop $RATE req/s: p99 overhead < 1 ms" \
        "p99 $(jq .overhead_us.p99 "$o") us (max $(jq .overhead_us.max "$o"))" \
        "$(verdict "$(jq '.overhead_us.p99 < 1000 and .errors == 0' "$o")")"
    printf '%-48s %-28s %s\n' "idle RSS < 50 MiB" "$((IDLE_RSS / 1024)) MiB ($IDLE_RSS KiB)" \
        "$(verdict "$([[ $IDLE_RSS -lt 51200 ]] && echo true)")"
    printf '%-48s %-28s %s\n' "RSS under load < 150 MiB (VmHWM)" "$((LOAD_HWM / 1024)) MiB ($LOAD_HWM KiB)" \
        "$(verdict "$([[ $LOAD_HWM -lt 153600 ]] && echo true)")"
    printf '%-48s %-28s %s\n' "$HOLD_STREAMS streams held, RSS < 200 MiB" \
        "$(jq .hold.min_active "$h") held, peak $((hold_peak / 1024)) MiB" \
        "$(verdict "$(jq --argjson n "$HOLD_STREAMS" --argjson peak "$hold_peak" \
            '.hold.min_active == $n and .errors == 0 and $peak < 204800' "$h")")"
    if [[ -n "$INSTR_JSON" ]]; then
        printf '%-48s %-28s %s\n' "instructions/Execute <= 1.3x the bare relay" \
            "$(jq -r '"\(.ratio)x (\(.ours.per_request) / \(.floor.per_request))"' "$INSTR_JSON")" \
            "$(verdict "$(jq '.ratio <= .goal_ratio' "$INSTR_JSON")")"
    fi
    echo
    printf '%-16s %10s %8s %9s %9s %9s %9s %9s %9s %9s %8s\n' scenario "req/s" errors "p50 us" "p90 us" "p99 us" "max us" "ovh p99" "e2e-prov" "srv cpu%" "others%"
    for f in "$OUT"/closed-64.json "$OUT"/closed-64-1conn.json "$OUT"/open-2000.json "$OUT"/stream-64.json; do
        jq -r '[.label, .rps, .errors, .latency_us.p50, .latency_us.p90, .latency_us.p99, .latency_us.max,
                (.overhead_us.p99 // "-"), (.outside_provider_us.p99 // "-"), ((.processes[] | select(.name == "server") | .cpu_percent) // "-"),
                (.machine.others_percent // "-")]
               | @tsv' "$f" |
            awk -F'\t' '{ printf "%-16s %10s %8s %9s %9s %9s %9s %9s %9s %9s %8s\n", $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11 }'
    done
    echo
    echo "server RSS: idle $IDLE_RSS KiB, VmHWM after request scenarios $LOAD_HWM KiB, idle after load $IDLE_AFTER_RSS KiB"
    echo "hold: peak RSS $hold_peak KiB while holding; VmHWM at end $FINAL_HWM KiB; RSS 3 s after release $FINAL_RSS KiB; open fds $FINAL_FDS"
    if [[ -n "$INSTR_JSON" ]]; then
        jq -r '"instructions per Execute (callgrind, N=\(.n) M=\(.m)): ours \(.ours.per_request), bare relay \(.floor.per_request), ratio ours/floor \(.ratio) (goal <= \(.goal_ratio))"' "$INSTR_JSON"
    fi
} | tee "$OUT/summary.txt"
