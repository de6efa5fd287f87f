#!/usr/bin/env bash
# Throughput and latency of vibectl-server with limits off, limits on the embedded store, and
# limits on Redis (issue 4's performance acceptance), against the testkit mock provider.
#
#   scripts/bench-limits.sh                   # release build, 15 s per scenario
#   PROFILE=debug DURATION=8 scripts/bench-limits.sh   # quick relative check on a dev build
#   SKIP_BUILD=1 scripts/bench-limits.sh
#
# Each scenario: Execute, closed loop, $CONCURRENCY workers over $CONNECTIONS connections.
# Needs redis-server (scripts/test-deps.sh). Everything started here is killed on exit.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PROFILE="${PROFILE:-release}"
DURATION="${DURATION:-15}"
WARMUP="${WARMUP:-3}"
CONCURRENCY="${CONCURRENCY:-64}"
CONNECTIONS="${CONNECTIONS:-4}"
KEY=bench-key
# shellcheck source=scripts/lib.sh
source "$ROOT/scripts/lib.sh"

if [[ "${SKIP_BUILD:-0}" != 1 ]]; then
    flag=(); [[ "$PROFILE" == release ]] && flag=(--release)
    cargo build "${flag[@]}" -p vibectl-server -p vibectl-testkit -p vibectl-bench
fi
BIN="$ROOT/target/$PROFILE"


"$BIN/mock-provider" --listen 127.0.0.1:0 --api-key "$KEY" --latency-ms 0 --no-recording \
    >"$WORK/mock.out" 2>"$WORK/mock.err" &
MOCK_PID=$!
PIDS+=("$MOCK_PID")
MOCK_ADDR="$(first_line "$WORK/mock.out" "$MOCK_PID" | sed 's#.*http://##')"
REDIS_PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --save "" --appendonly no >"$WORK/redis.log" 2>&1 &
PIDS+=($!)

LIMITS='  limits:
    global: {max_requests_per_minute: 100000000, max_concurrent_requests: 100000, max_tokens_per_minute: 100000000000, max_tokens_per_day: 100000000000, budget_usd_per_day: 1000000, budget_usd_per_month: 1000000}
    total: {max_requests_per_minute: 100000000, max_concurrent_requests: 100000, budget_usd_per_month: 1000000}'

run() {
    local name="$1" server_extra="$2" top_extra="$3" dir="$WORK/$1"
    mkdir -p "$dir"
    printf 'server:\n  host: 127.0.0.1\n  default_model: openai/gpt-4o\n%s\nproviders:\n  openai: {base_url: "http://%s/v1", api_key: %s}\n%s\n' \
        "$server_extra" "$MOCK_ADDR" "$KEY" "$top_extra" >"$dir/config.yaml"
    env -u OPENAI_API_KEY -u ANTHROPIC_API_KEY VIBECTL_SERVER_STATE_DIR="$dir" \
        "$BIN/vibectl-server" serve --config "$dir/config.yaml" --port 0 >"$dir/proc.out" 2>"$dir/proc.err" &
    local pid=$!
    PIDS+=("$pid")
    local addr
    addr="$(first_line "$dir/proc.out" "$pid" | sed -E 's/.*listening on ([^ ]+).*/\1/')"
    echo "== $name"
    "$BIN/vibectl-bench" --target "$addr" --label "$name" -c "$CONCURRENCY" --connections "$CONNECTIONS" \
        --duration "$DURATION" --warmup "$WARMUP" | tee "$WORK/$name.txt"
    kill "$pid"; wait "$pid" 2>/dev/null || true
}

run limits-off "" ""
run limits-embedded "$LIMITS" ""
run limits-redis "$LIMITS" "state: {backend: redis, redis_url: \"redis://127.0.0.1:$REDIS_PORT\"}"
