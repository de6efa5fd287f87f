#!/usr/bin/env bash
# Our OpenAI-compatible HTTP API against the LiteLLM proxy and against our own gRPC path, side by
# side on this machine, same mock, same load tool (issue 11, acceptance "Performance").
#
#   scripts/bench-http.sh                  # build release binaries, run every scenario twice, summary
#   SKIP_BUILD=1 BIN=/path/release scripts/bench-http.sh
#   DURATION=30 ROUNDS=3 scripts/bench-http.sh
#   LITELLM_RATE=200 scripts/bench-http.sh # fixed rate for the like-for-like runs (default: see below)
#   INSTR=0 scripts/bench-http.sh          # skip the instruction counts (on by default, ~1 min)
#
# Load tool: h2load (Debian `nghttp2-client`; installed with apt-get when missing) for every HTTP
# and gRPC run, HTTP/1.1 (`--h1`, one request in flight per connection) and h2c (prior
# knowledge). Our gRPC Execute is loaded twice: by h2load with a fixed protobuf body (same tool
# as the HTTP runs) and by vibectl-bench (the tool of scripts/bench.sh).
#
# Processes, started once and loaded one at a time:
#   mock       mock-provider --latency-ms 0 --no-recording (HTTP/1.1 only; no h2c)
#   ours       vibectl-server serve, the mock as provider `openai`, auth off
#   ours-auth  the same with --require-auth and an HS256 token on every request
#   litellm-W  `litellm --config ... --num_workers W` for W in LITELLM_WORKERS (default "1 nproc"),
#              one model `openai/gpt-4o` with api_base = the mock; LiteLLM refuses to start without
#              a master key, so a random `sk-` master key is set and sent (auth on, like ours-auth).
#              Network extras off: LITELLM_LOCAL_MODEL_COST_MAP=True (no cost-map fetch),
#              litellm_settings.telemetry false, LITELLM_MODE=PRODUCTION (no .env), no database,
#              no callbacks; log level its default (warnings).
#              Installed into target/bench/litellm-venv (LITELLM_VENV) with pip when missing.
# Every gateway gets the same body: model openai/gpt-4o, one system and one user message (the
# text vibectl-bench sends over gRPC).
#
# Scenarios, each round (ROUNDS, default 2; each comparison runs back to back within a round):
#   closed-h1-*    64 in flight (CONCURRENCY), 64 HTTP/1.1 connections: mock, ours, ours-auth,
#                  litellm-1, litellm-2
#   closed-h2-*    64 in flight over 4 h2c connections (H2_CONNECTIONS): ours, ours-auth
#   grpc-*         64 in flight over 4 connections: ours via h2load, ours and ours-auth via
#                  vibectl-bench
#   rate<R>-h1-*   fixed rate RATE (2,000 req/s) over RATE_CLIENTS HTTP/1.1 connections: mock,
#                  ours, ours-auth; and ours over h2c
#   rate<L>-h1-*   fixed rate LITELLM_RATE: mock, ours, litellm-1, litellm-2. Default: half of what
#                  the first LiteLLM set-up managed in round 1's closed loop (in steps of
#                  RATE_CLIENTS above it), at most 500; below RATE_CLIENTS req/s, one connection
#                  per request a second.
# "Added overhead" is p99 through a gateway minus p99 of the mock alone at the same rate (wall
# clock), and for ours also the server's own time per call, read from its metrics
# (`vibectl_overhead_seconds`, total minus provider time; scraped before and after each run):
# the share of calls within 1 ms.
# h2load's fixed rate (--rps per connection) sends each request when a connection is free, and
# counts latency from the send: with one request per HTTP/1.1 connection a stall delays later
# sends instead of showing in the latency (coordinated omission). The summary prints how many
# requests each run sent, so a rate that was not kept shows.
#
# Instruction counts (INSTR=1): vibectl-server under callgrind, N and M requests (N=200 M=1200)
# over gRPC (h2load), HTTP/2 and HTTP/1.1, 8 in flight: (I(M) - I(N)) / (M - N) per request,
# the figure the machine's load does not move.
#
# The machine is shared: each run records `uptime` and the top CPU users before it starts, and the
# CPU of the gateway, the mock and the load generator plus everything else ("others") during its
# measured window. Results: JSON per run under bench-results/http-<UTC stamp>/ (git-ignored),
# the commands in *.cmd (tokens redacted), summary.txt. Everything started here is killed on exit.
# Needs: Linux (/proc), python3 (venv), jq, curl, h2load; valgrind for INSTR=1.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

DURATION="${DURATION:-15}"          # measured seconds per run
WARMUP="${WARMUP:-3}"               # warm-up seconds before measuring
CONCURRENCY="${CONCURRENCY:-64}"    # requests in flight, closed loop
H2_CONNECTIONS="${H2_CONNECTIONS:-4}"
RATE="${RATE:-2000}"                # our fixed rate, req/s
RATE_CLIENTS="${RATE_CLIENTS:-50}"  # connections for the fixed-rate runs (rates are multiples of it)
LITELLM_RATE="${LITELLM_RATE:-auto}"
LITELLM_WORKERS="${LITELLM_WORKERS:-1 $(nproc)}"
ROUNDS="${ROUNDS:-2}"
N="${N:-200}"
M="${M:-1200}"
MODEL="openai/gpt-4o"
KEY="bench-key"
BIN="${BIN:-${CARGO_TARGET_DIR:-$ROOT/target}/release}"
VENV="${LITELLM_VENV:-$ROOT/target/bench/litellm-venv}"
LITELLM_SPEC="${LITELLM_SPEC:-litellm[proxy]}"

for v in DURATION WARMUP CONCURRENCY H2_CONNECTIONS RATE RATE_CLIENTS ROUNDS; do
    [[ "${!v}" =~ ^[1-9][0-9]*$ ]] || { echo "$v must be a positive integer (got ${!v})" >&2; exit 2; }
done
if ((DURATION < 2)); then
    echo "DURATION must be at least 2 (the CPU window is the measured time less a second)" >&2
    exit 2
fi
if ((RATE % RATE_CLIENTS != 0 || CONCURRENCY % H2_CONNECTIONS != 0)); then
    echo "RATE must be a multiple of RATE_CLIENTS and CONCURRENCY of H2_CONNECTIONS" >&2
    exit 2
fi
if [[ "$LITELLM_RATE" != auto ]] && ! [[ "$LITELLM_RATE" =~ ^[1-9][0-9]*$ &&
    (LITELLM_RATE -lt RATE_CLIENTS || $((LITELLM_RATE % RATE_CLIENTS)) == 0) ]]; then
    echo "LITELLM_RATE must be auto, below RATE_CLIENTS ($RATE_CLIENTS) or a multiple of it" >&2
    exit 2
fi

STAMP="$(date -u +%Y%m%dT%H%M%SZ)"
OUT="${OUT:-$ROOT/bench-results/http-$STAMP}"
mkdir -p "$OUT"
# shellcheck source=scripts/lib.sh
source "$ROOT/scripts/lib.sh"

log() { printf '\n### %s\n' "$*"; }

# --- tools -----------------------------------------------------------------------------------
if ! command -v h2load >/dev/null; then
    echo "h2load not found: installing Debian package nghttp2-client (the HTTP/1.1 + h2c load tool)"
    if [[ "$(id -u)" != 0 ]]; then
        echo "not root: run 'apt-get install nghttp2-client' first" >&2
        exit 1
    fi
    apt-get install -y nghttp2-client >/dev/null || { apt-get update >/dev/null && apt-get install -y nghttp2-client >/dev/null; }
fi
[[ "$(h2load --help 2>&1)" == *--rps=* ]] || { echo "this h2load has no --rps (need nghttp2 >= 1.36)" >&2; exit 1; }
for tool in jq curl python3; do
    command -v "$tool" >/dev/null || { echo "$tool not found" >&2; exit 1; }
done

if [[ "${SKIP_BUILD:-0}" != 1 ]]; then
    log "building release binaries"
    cargo build --release -p vibectl-server -p vibectl-testkit -p vibectl-bench
fi
for b in mock-provider vibectl-server vibectl-bench; do
    [[ -x "$BIN/$b" ]] || { echo "missing $BIN/$b (build first)" >&2; exit 1; }
done

if [[ ! -x "$VENV/bin/litellm" ]]; then
    log "installing LiteLLM ($LITELLM_SPEC) into $VENV with pip (a few minutes, once)"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q --disable-pip-version-check "$LITELLM_SPEC"
fi
LITELLM_VERSION="$("$VENV/bin/pip" show litellm 2>/dev/null | awk '/^Version:/ { print $2 }')"

# Nothing from the caller's environment may change what the processes do.
CLEAN_ENV=(env -u RUST_LOG -u RUST_BACKTRACE -u OPENAI_API_KEY -u OPENAI_API_KEY_FILE
    -u OPENAI_BASE_URL -u ANTHROPIC_API_KEY -u ANTHROPIC_API_KEY_FILE -u OLLAMA_HOST
    -u VIBECTL_JWT_SECRET -u VIBECTL_JWT_SECRET_FILE -u VIBECTL_JWT_TOKEN
    -u VIBECTL_SERVER_CONFIG -u VIBECTL_SERVER_CONFIG_DIR -u VIBECTL_SERVER_STATE_DIR
    -u DATABASE_URL -u LITELLM_MASTER_KEY -u LITELLM_LOG -u REDIS_HOST -u REDIS_URL)

{
    echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "commit: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD -- crates 2>/dev/null || echo ' (working tree has uncommitted changes under crates/)')"
    echo "binaries: $BIN"
    echo "nproc: $(nproc)"
    echo "cpu: $(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)"
    echo "memory: $(awk '/^MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)"
    echo "kernel: $(uname -r)"
    echo "h2load: $(h2load --version 2>&1 | head -1)"
    echo "litellm: $LITELLM_VERSION ($("$VENV/bin/python3" --version 2>&1))"
    echo "uptime: $(uptime)"
} | tee "$OUT/machine.txt"

# --- processes -------------------------------------------------------------------------------
"${CLEAN_ENV[@]}" "$BIN/mock-provider" --listen 127.0.0.1:0 --api-key "$KEY" --latency-ms 0 \
    --no-recording >"$WORK/mock.out" 2>"$WORK/mock.err" &
MOCK_PID=$!
PIDS+=("$MOCK_PID")
MOCK_ADDR="$(first_line "$WORK/mock.out" "$MOCK_PID" | sed 's#.*http://##')"

cat >"$WORK/server.yaml" <<EOF
server: {host: 127.0.0.1, port: 0, default_model: $MODEL}
providers:
  openai: {base_url: "http://$MOCK_ADDR/v1", api_key: $KEY}
metrics: {enabled: true, port: 0}
EOF
cp "$WORK/server.yaml" "$OUT/server.yaml"

JWT_SECRET="$(head -c 32 /dev/urandom | base64)"
TOKEN="$("${CLEAN_ENV[@]}" VIBECTL_JWT_SECRET="$JWT_SECRET" "$BIN/vibectl-server" \
    --config "$WORK/server.yaml" generate-token bench-user --expires-in 1d 2>/dev/null)"
MASTER_KEY="sk-$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')"

declare -A ADDR GW_PID AUTH_HEADER METRICS
# start_ours NAME [--require-auth]: a server with its own state directory (its own ledger).
start_ours() {
    local name="$1"
    shift
    mkdir -p "$WORK/state-$name"
    "${CLEAN_ENV[@]}" VIBECTL_JWT_SECRET="$JWT_SECRET" "$BIN/vibectl-server" serve \
        --config "$WORK/server.yaml" --port 0 --state-dir "$WORK/state-$name" "$@" \
        >"$WORK/$name.out" 2>"$WORK/$name.err" &
    GW_PID[$name]=$!
    PIDS+=("$!")
    ADDR[$name]="$(first_line "$WORK/$name.out" "$!" | sed -E 's/.*listening on ([^ ]+).*/\1/')"
    METRICS[$name]="$(grep -o 'metrics on http://[^/]*' "$WORK/$name.err" | head -n 1 | sed 's#.*http://##')"
}

# overhead_hist TARGET: the server's own time per unary call (`vibectl_overhead_seconds`, what
# it adds to the provider's time, measured inside the process), as "le count" lines; nothing
# for a gateway without our metrics.
overhead_hist() {
    local at="${METRICS[$1]:-}"
    [[ -n "$at" ]] || return 0
    curl -s "http://$at/metrics" | awk '/^vibectl_overhead_seconds_bucket/ {
        match($0, /le="[^"]+"/); print substr($0, RSTART + 4, RLENGTH - 5), $NF }'
}

# overhead_json BEFORE AFTER: the calls between two histograms: count, the bucket bound that
# holds the 99th percentile, and the share within 1 ms (JSON; null without samples).
overhead_json() {
    awk 'NR == FNR { a[$1] = $2; next } { print $1, $2 - a[$1] }' <(echo "$1") <(echo "$2") | awk '
        { le[NR] = $1; c[NR] = $2 }
        END { n = c[NR]; if (NR == 0 || n <= 0) { print "null"; exit }
              p = ""; w = 0
              for (i = 1; i <= NR; i++) { if (p == "" && c[i] >= 0.99 * n) p = le[i]; if (le[i] == "0.001") w = c[i] }
              printf "{\"calls\": %d, \"p99_at_most_s\": \"%s\", \"share_within_1ms\": %.4f}\n", n, p, w / n }'
}
start_ours ours
start_ours ours-auth --require-auth
AUTH_HEADER[ours]=""
AUTH_HEADER[ours-auth]="authorization: Bearer $TOKEN"
AUTH_HEADER[mock]="authorization: Bearer $KEY"
ADDR[mock]="$MOCK_ADDR"

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

cat >"$WORK/litellm.yaml" <<EOF
model_list:
  - model_name: $MODEL
    litellm_params: {model: $MODEL, api_base: "http://$MOCK_ADDR/v1", api_key: $KEY}
litellm_settings:
  telemetry: false
EOF
cp "$WORK/litellm.yaml" "$OUT/litellm.yaml"

# start_litellm WORKERS: the proxy (uvicorn, WORKERS processes); waits until every worker has
# finished its start-up. A worker's start-up takes a minute on a loaded machine, longer than
# uvicorn's default worker health-check timeout, so that is raised.
start_litellm() {
    local w="$1" name="litellm-$1" port i up
    port="$(free_port)"
    "${CLEAN_ENV[@]}" LITELLM_MASTER_KEY="$MASTER_KEY" LITELLM_LOCAL_MODEL_COST_MAP=True \
        LITELLM_MODE=PRODUCTION "$VENV/bin/litellm" --config "$WORK/litellm.yaml" \
        --host 127.0.0.1 --port "$port" --num_workers "$w" --timeout_worker_healthcheck 600 \
        >"$WORK/$name.out" 2>"$WORK/$name.err" &
    GW_PID[$name]=$!
    PIDS+=("$!")
    ADDR[$name]="127.0.0.1:$port"
    AUTH_HEADER[$name]="authorization: Bearer $MASTER_KEY"
    for ((i = 0; i < 2400; i++)); do
        up="$(grep -c 'Application startup complete' "$WORK/$name.err" 2>/dev/null || true)"
        if ((${up:-0} >= w)) &&
            curl -sf "http://127.0.0.1:$port/health/liveliness" >/dev/null 2>&1; then
            # Its workers are children: stopped on exit too, by their ids.
            mapfile -t -O "${#PIDS[@]}" PIDS < <(ps -o pid= --ppid "${GW_PID[$name]}" | tr -d " ")
            echo "$name up after $((i / 4)) s: $(($(ps -o pid= --ppid "${GW_PID[$name]}" | wc -l) + 1)) processes"
            return 0
        fi
        kill -0 "${GW_PID[$name]}" 2>/dev/null || break
        sleep 0.25
    done
    echo "$name did not come up; its stderr:" >&2
    tail -n 30 "$WORK/$name.err" >&2
    return 1
}
LITELLMS=()
for w in $LITELLM_WORKERS; do
    log "starting LiteLLM with $w worker(s)"
    start_litellm "$w"
    LITELLMS+=("litellm-$w")
done

# The bodies: the same request for every gateway, and the gRPC Execute vibectl-bench sends.
SYSTEM="You are a Kubernetes assistant."
USER_TEXT="List the pods in the default namespace."
jq -cn --arg m "$MODEL" --arg s "$SYSTEM" --arg u "$USER_TEXT" \
    '{model: $m, messages: [{role: "system", content: $s}, {role: "user", content: $u}]}' >"$OUT/body.json"
python3 - "$SYSTEM" "$USER_TEXT" "$MODEL" "$OUT/execute.grpc" <<'EOF'
import struct, sys
def field(n, s):
    b = s.encode()
    assert len(b) < 128  # one-byte length varint
    return bytes([n << 3 | 2, len(b)]) + b
msg = field(1, sys.argv[1]) + field(2, sys.argv[2]) + field(3, sys.argv[3])  # ExecuteRequest
open(sys.argv[4], "wb").write(b"\0" + struct.pack(">I", len(msg)) + msg)      # gRPC frame
EOF
GRPC_PATH="/vibectl.llm_proxy.VibectlLLMProxy/Execute"

# Every gateway answers the body with the mock's text before any load.
for name in mock ours ours-auth "${LITELLMS[@]}"; do
    hdr=(-H 'content-type: application/json')
    [[ -z "${AUTH_HEADER[$name]}" ]] || hdr+=(-H "${AUTH_HEADER[$name]}")
    if ! curl -sf "http://${ADDR[$name]}/v1/chat/completions" "${hdr[@]}" -d @"$OUT/body.json" |
        grep -q 'Hello from the mock provider'; then
        echo "$name did not answer the request body with the mock's reply" >&2
        exit 1
    fi
done
# grpc_ok NAME: one Execute with the h2load body answers grpc-status 0 (h2load sees only the
# HTTP status, which is 200 for gRPC errors too, so each gRPC run is bracketed by this).
grpc_ok() {
    local hdr=(-H 'content-type: application/grpc' -H 'te: trailers')
    [[ -z "${AUTH_HEADER[$1]}" ]] || hdr+=(-H "${AUTH_HEADER[$1]}")
    curl -s --http2-prior-knowledge -X POST "http://${ADDR[$1]}$GRPC_PATH" "${hdr[@]}" \
        --data-binary @"$OUT/execute.grpc" -o /dev/null -D - | grep -qi '^grpc-status: 0'
}
grpc_ok ours || { echo "gRPC Execute with the h2load body failed" >&2; exit 1; }
echo "mock $MOCK_ADDR, ours ${ADDR[ours]}, ours-auth ${ADDR[ours-auth]}$(for l in "${LITELLMS[@]}"; do printf ', %s %s' "$l" "${ADDR[$l]}"; done)"

# --- CPU accounting --------------------------------------------------------------------------
TCK="$(getconf CLK_TCK)"
# pids_of NAME: the gateway's processes (LiteLLM: the uvicorn parent and its workers).
pids_of() {
    case "$1" in
        mock) ;;
        litellm-*) echo "${GW_PID[$1]}"; ps -o pid= --ppid "${GW_PID[$1]}" | tr -d " " ;;
        *) echo "${GW_PID[$1]}" ;;
    esac
}
ticks() {
    local t=0 p
    for p in "$@"; do
        [[ -r "/proc/$p/stat" ]] || continue
        t=$((t + $(sed 's/.*) //' "/proc/$p/stat" | awk '{ print $12 + $13 }')))
    done
    echo "$t"
}
busy_ticks() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9 }' /proc/stat; }
pct() { awk -v t="$1" -v s="$2" -v k="$TCK" 'BEGIN { printf "%.1f", 100 * t / k / s }'; }

# --- one h2load run --------------------------------------------------------------------------
# h2run LABEL TARGET PROTO(h1|h2|grpc) RATE(0 = closed loop)
h2run() {
    local label="$1" target="$2" proto="$3" rate="$4" url args=() hdr=() f="$OUT/r$ROUND/$1"
    local gw_pids lg a_gw a_mock a_lg a_busy b_gw b_mock b_lg b_busy secs
    url="http://${ADDR[$target]}/v1/chat/completions"
    hdr=(-H 'content-type: application/json')
    args=(-d "$OUT/body.json")
    if [[ "$proto" == grpc ]]; then
        url="http://${ADDR[$target]}$GRPC_PATH"
        hdr=(-H 'content-type: application/grpc' -H 'te: trailers')
        args=(-d "$OUT/execute.grpc")
    fi
    [[ -z "${AUTH_HEADER[$target]}" ]] || hdr+=(-H "${AUTH_HEADER[$target]}")
    if ((rate == 0)); then
        if [[ "$proto" == h1 ]]; then
            args+=(--h1 -c "$CONCURRENCY" -m 1)
        else
            args+=(-c "$H2_CONNECTIONS" -m $((CONCURRENCY / H2_CONNECTIONS)))
        fi
    elif [[ "$proto" == h1 ]]; then
        # RATE_CLIENTS connections, or one per request a second for a rate below that.
        local clients=$((rate < RATE_CLIENTS ? rate : RATE_CLIENTS))
        args+=(--h1 -c "$clients" -m 1 --rps $((rate / clients)))
    else
        args+=(-c "$H2_CONNECTIONS" -m $((CONCURRENCY / H2_CONNECTIONS)) --rps $((rate / H2_CONNECTIONS)))
    fi
    args+=(-t 1 -D "$DURATION" --warm-up-time "$WARMUP" --log-file "$f.log")
    local load
    load="$(uptime | sed 's/.*load average: //')"
    log "$label    (load average before: $load)"
    { uptime; ps -eo pcpu,pid,comm --sort=-pcpu | head -8; } >"$f.uptime"
    { printf 'h2load'; printf ' %q' "${args[@]}" "${hdr[@]}" "$url"; echo; } |
        sed -E 's/Bearer\\ [^ ]+/Bearer\\ <redacted>/' | tee "$f.cmd"
    [[ "$proto" != grpc ]] || grpc_ok "$target" || { echo "gRPC check before $label failed" >&2; return 1; }
    mapfile -t gw_pids < <(pids_of "$target")
    local hist_a hist_b
    hist_a="$(overhead_hist "$target")"
    h2load "${args[@]}" "${hdr[@]}" "$url" >"$f.h2load.txt" 2>&1 &
    lg=$!
    PIDS+=("$lg")
    # The window starts half a second into the measured time and ends half a second before it
    # ends, so every watched process, h2load included, is alive at both samples.
    sleep "$WARMUP.5"
    a_gw="$(ticks "${gw_pids[@]}")"; a_mock="$(ticks "$MOCK_PID")"; a_lg="$(ticks "$lg")"; a_busy="$(busy_ticks)"
    SECONDS_A="$(date +%s.%N)"
    sleep "$((DURATION - 1))"
    b_gw="$(ticks "${gw_pids[@]}")"; b_mock="$(ticks "$MOCK_PID")"; b_lg="$(ticks "$lg")"; b_busy="$(busy_ticks)"
    secs="$(awk -v a="$SECONDS_A" -v b="$(date +%s.%N)" 'BEGIN { print b - a }')"
    wait "$lg" || { echo "h2load failed for $label:" >&2; tail -n 5 "$f.h2load.txt" >&2; return 1; }
    hist_b="$(overhead_hist "$target")"
    [[ "$proto" != grpc ]] || grpc_ok "$target" || { echo "gRPC check after $label failed" >&2; return 1; }
    local dgw=$((b_gw - a_gw)) dmock=$((b_mock - a_mock)) dlg=$((b_lg - a_lg)) dbusy=$((b_busy - a_busy))
    local others=$((dbusy - dgw - dmock - dlg))
    ((others >= 0)) || others=0
    # Latency percentiles from the per-request log (2xx only; anything else is an error).
    local stats
    stats="$(awk '$2 >= 200 && $2 < 300 { print $3 }' "$f.log" | sort -n | awk '
        { v[NR] = $1; s += $1 }
        function q(p,  i) { i = int(NR * p + 0.999999); if (i < 1) i = 1; if (i > NR) i = NR; return v[i] }
        END { if (NR == 0) { print "0 0 0 0 0 0 0"; exit }
              printf "%d %d %d %d %d %d %.1f\n", NR, q(0.5), q(0.9), q(0.99), q(0.999), v[NR], s / NR }')"
    local ok p50 p90 p99 p999 max mean total
    read -r ok p50 p90 p99 p999 max mean <<<"$stats"
    total="$(wc -l <"$f.log")"
    # Status counts (-1: a stream that failed or was still open when h2load stopped).
    local statuses
    statuses="$(awk '{ n[$2]++ } END { for (k in n) printf "%s\t%d\n", k, n[k] }' "$f.log" |
        jq -R -s 'split("\n") | map(select(. != "") | split("\t") | {(.[0]): (.[1] | tonumber)}) | add // {}')"
    jq -n --arg name "$label" --arg target "$target" --arg proto "$proto" --argjson rate "$rate" \
        --argjson round "$ROUND" --argjson duration "$DURATION" --argjson warmup "$WARMUP" \
        --argjson ok "$ok" --argjson total "$total" --arg load "$load" \
        --argjson p50 "$p50" --argjson p90 "$p90" --argjson p99 "$p99" --argjson p999 "$p999" \
        --argjson max "$max" --argjson mean "$mean" --argjson statuses "$statuses" \
        --arg gw "$(pct "$dgw" "$secs")" --arg mock "$(pct "$dmock" "$secs")" \
        --arg lg "$(pct "$dlg" "$secs")" \
        --argjson others_ticks "$others" --argjson secs "$secs" --argjson ncpu "$(nproc)" --argjson tck "$TCK" \
        --arg summary "$(grep -E '^(finished|requests|status codes)' "$f.h2load.txt" | tr '\n' ';')" \
        --argjson server_overhead "$(if [[ -n "$hist_a" ]]; then overhead_json "$hist_a" "$hist_b"; else echo null; fi)" \
        '{label: $name, round: $round, target: $target, protocol: $proto, tool: "h2load",
          target_rate: (if $rate == 0 then null else $rate end), duration_s: $duration, warmup_s: $warmup,
          requests: $total, ok: $ok, errors: ($total - $ok), statuses: $statuses, rps: (($ok / $duration) * 10 | round / 10),
          latency_us: {p50: $p50, p90: $p90, p99: $p99, p999: $p999, max: $max, mean: $mean},
          cpu_percent_of_a_core: {gateway: ($gw | tonumber), mock: ($mock | tonumber), loadgen: ($lg | tonumber)},
          others_percent: ((100 * $others_ticks / $tck / $secs / $ncpu) * 10 | round / 10),
          load_average_before: $load, h2load: $summary, server_overhead: $server_overhead}' >"$f.json"
    rm -f "$f.log"
    jq -r '"\(.label): \(.rps) req/s, \(.errors) errors, p50 \(.latency_us.p50) p99 \(.latency_us.p99) max \(.latency_us.max) us; cpu gw \(.cpu_percent_of_a_core.gateway)% mock \(.cpu_percent_of_a_core.mock)% h2load \(.cpu_percent_of_a_core.loadgen)%, others \(.others_percent)% of the machine\(if .server_overhead then "; server overhead p99 <= \(.server_overhead.p99_at_most_s) s, \(.server_overhead.share_within_1ms * 100)% within 1 ms" else "" end)"' "$f.json"
}

# bench_grpc LABEL TARGET: vibectl-bench closed loop, 64 in flight over H2_CONNECTIONS.
bench_grpc() {
    local label="$1" target="$2" f="$OUT/r$ROUND/$1" tok=()
    log "$label    (load average before: $(uptime | sed 's/.*load average: //'))"
    { uptime; ps -eo pcpu,pid,comm --sort=-pcpu | head -8; } >"$f.uptime"
    [[ "$target" != ours-auth ]] || tok=(--token "$TOKEN")
    echo "vibectl-bench --target ${ADDR[$target]} --mode closed --concurrency $CONCURRENCY --connections $H2_CONNECTIONS --duration $DURATION --warmup $WARMUP --model $MODEL${tok:+ --token <redacted>}" | tee "$f.cmd"
    "$BIN/vibectl-bench" --target "${ADDR[$target]}" --label "$label" --mode closed \
        --concurrency "$CONCURRENCY" --connections "$H2_CONNECTIONS" --duration "$DURATION" \
        --warmup "$WARMUP" --model "$MODEL" "${tok[@]}" --watch "server=${GW_PID[$target]}" \
        --watch "mock=$MOCK_PID" --json --out "$f.json" >/dev/null
    jq -r '"\(.label): \(.rps) req/s, \(.errors) errors, p50 \(.latency_us.p50) p99 \(.latency_us.p99) max \(.latency_us.max) us; others \(.machine.others_percent)% of the machine"' "$f.json"
}

litellm_rate() {
    local rps
    rps="$(jq .rps "$OUT/r1/closed-h1-${LITELLMS[0]}.json" 2>/dev/null || echo 0)"
    awk -v r="$rps" -v c="$RATE_CLIENTS" 'BEGIN { x = int(r / 2); if (x >= c) x = int(x / c) * c; if (x > 500) x = 500; if (x < 1) x = 1; print x }'
}

for ((ROUND = 1; ROUND <= ROUNDS; ROUND++)); do
    mkdir -p "$OUT/r$ROUND"
    log "round $ROUND of $ROUNDS"
    for t in mock ours ours-auth "${LITELLMS[@]}"; do
        h2run "closed-h1-$t" "$t" h1 0
    done
    for t in ours ours-auth; do
        h2run "closed-h2-$t" "$t" h2 0
    done
    h2run grpc-h2load-ours ours grpc 0
    bench_grpc grpc-bench-ours ours
    bench_grpc grpc-bench-ours-auth ours-auth
    for t in mock ours ours-auth; do
        h2run "rate$RATE-h1-$t" "$t" h1 "$RATE"
    done
    h2run "rate$RATE-h2-ours" ours h2 "$RATE"
    if [[ "$LITELLM_RATE" == auto ]]; then
        LITELLM_RATE="$(litellm_rate)"
        echo "LiteLLM fixed rate: $LITELLM_RATE req/s (half of ${LITELLMS[0]}'s closed loop, at most 500)" | tee -a "$OUT/machine.txt"
    fi
    for t in mock ours "${LITELLMS[@]}"; do
        h2run "rate$LITELLM_RATE-h1-$t" "$t" h1 "$LITELLM_RATE"
    done
done

# --- instructions per request under callgrind -------------------------------------------------
INSTR_TXT=""
if [[ "${INSTR:-1}" == 1 ]]; then
    if command -v valgrind >/dev/null; then
        log "instructions per request (callgrind, N=$N M=$M, 8 in flight)"
        # instr PROTO REQUESTS: total instructions of a fresh server serving that many.
        instr() {
            local proto="$1" n="$2" dir="$WORK/instr-$1-$2" pid addr args url
            mkdir -p "$dir/state"
            "${CLEAN_ENV[@]}" valgrind --tool=callgrind --collect-atstart=yes \
                --callgrind-out-file="$OUT/callgrind.out.$proto.$n" "$BIN/vibectl-server" serve \
                --config "$WORK/server.yaml" --port 0 --state-dir "$dir/state" \
                >"$dir/proc.out" 2>"$dir/proc.err" &
            pid=$!
            PIDS+=("$pid")
            addr="$(first_line "$dir/proc.out" "$pid" 120 | sed -E 's/.*listening on ([^ ]+).*/\1/')"
            case "$proto" in
                grpc) args=(-c 1 -m 8 -d "$OUT/execute.grpc" -H 'content-type: application/grpc' -H 'te: trailers'); url="http://$addr$GRPC_PATH" ;;
                h2) args=(-c 1 -m 8 -d "$OUT/body.json" -H 'content-type: application/json'); url="http://$addr/v1/chat/completions" ;;
                h1) args=(--h1 -c 8 -m 1 -d "$OUT/body.json" -H 'content-type: application/json'); url="http://$addr/v1/chat/completions" ;;
            esac
            h2load -t 1 -n "$n" "${args[@]}" "$url" >"$dir/h2load.txt" 2>&1
            grep -q "status codes: $n 2xx" "$dir/h2load.txt" || { echo "instr $proto $n: not all 2xx" >&2; cat "$dir/h2load.txt" >&2; return 1; }
            kill "$pid" 2>/dev/null || true
            wait "$pid" 2>/dev/null || true
            awk '/^totals:/ { print $2 }' "$OUT/callgrind.out.$proto.$n"
        }
        declare -A PER
        for proto in grpc h2 h1; do
            a="$(instr "$proto" "$N")"
            b="$(instr "$proto" "$M")"
            PER[$proto]=$(((b - a) / (M - N)))
        done
        jq -n --argjson n "$N" --argjson m "$M" --argjson grpc "${PER[grpc]}" --argjson h2 "${PER[h2]}" \
            --argjson h1 "${PER[h1]}" \
            '{n: $n, m: $m, per_request: {grpc: $grpc, http2: $h2, http1: $h1},
              http2_over_grpc: (($h2 / $grpc) * 1000 | round / 1000), http1_over_grpc: (($h1 / $grpc) * 1000 | round / 1000)}' \
            >"$OUT/instructions.json"
        INSTR_TXT="$(jq -r '"instructions per request (callgrind): gRPC \(.per_request.grpc), HTTP/2 \(.per_request.http2) (\(.http2_over_grpc)x), HTTP/1.1 \(.per_request.http1) (\(.http1_over_grpc)x)"' "$OUT/instructions.json")"
        rm -f "$OUT"/callgrind.out.*."$N"
    else
        echo "valgrind not found: no instruction counts (INSTR=0 silences this)"
    fi
fi

# --- summary ---------------------------------------------------------------------------------
log "summary ($OUT)"
{
    printf '%-5s %-28s %10s %7s %8s %8s %8s %9s %7s %7s\n' round run "req/s" errors "p50 us" "p99 us" "max us" "gw cpu%" "lg cpu%" "others%"
    for ((r = 1; r <= ROUNDS; r++)); do
        for f in "$OUT/r$r"/*.json; do
            jq -r --argjson r "$r" '[$r, .label, .rps, .errors, .latency_us.p50, .latency_us.p99, .latency_us.max,
                    (.cpu_percent_of_a_core.gateway // ((.processes // [])[] | select(.name == "server") | .cpu_percent) // "-"),
                    (.cpu_percent_of_a_core.loadgen // ((.processes // [])[] | select(.name == "bench") | .cpu_percent) // "-"),
                    (.others_percent // .machine.others_percent // "-")] | @tsv' "$f"
        done | awk -F'\t' '{ printf "%-5s %-28s %10s %7s %8s %8s %8s %9s %7s %7s\n", $1, $2, $3, $4, $5, $6, $7, $8, $9, $10 }'
    done
    echo
    for ((r = 1; r <= ROUNDS; r++)); do
        d="$OUT/r$r"
        best_ll="$(jq -s 'map(.rps) | max' "$d"/closed-h1-litellm-*.json)"
        jq -rn --argjson r "$r" --argjson ll "$best_ll" --arg rate "$RATE" --arg lrate "$LITELLM_RATE" \
            --slurpfile h1 "$d/closed-h1-ours.json" --slurpfile h1a "$d/closed-h1-ours-auth.json" \
            --slurpfile h2 "$d/closed-h2-ours.json" --slurpfile g "$d/grpc-h2load-ours.json" \
            --slurpfile gb "$d/grpc-bench-ours.json" \
            --slurpfile rm "$d/rate$RATE-h1-mock.json" --slurpfile ro "$d/rate$RATE-h1-ours.json" \
            --slurpfile roa "$d/rate$RATE-h1-ours-auth.json" \
            --slurpfile lm "$d/rate$LITELLM_RATE-h1-mock.json" --slurpfile lo "$d/rate$LITELLM_RATE-h1-ours.json" \
            'def r2: (. * 100 | round) / 100;
             "round \($r): ours/LiteLLM (best) at 64 in flight, HTTP/1.1: \(($h1[0].rps / $ll) | r2)x (auth on: \(($h1a[0].rps / $ll) | r2)x; goal >= 50)",
             "round \($r): p99 added at \($rate) req/s: \($ro[0].latency_us.p99 - $rm[0].latency_us.p99) us (auth on: \($roa[0].latency_us.p99 - $rm[0].latency_us.p99) us); at \($lrate) req/s: \($lo[0].latency_us.p99 - $lm[0].latency_us.p99) us (goal < 1000)",
             "round \($r): HTTP/2 / gRPC at 64 in flight: \(($h2[0].rps / $g[0].rps) | r2) (h2load both), \(($h2[0].rps / $gb[0].rps) | r2) (gRPC by vibectl-bench); HTTP/1.1 / gRPC (h2load): \(($h1[0].rps / $g[0].rps) | r2) (goal >= 0.8)"'
        for l in "${LITELLMS[@]}"; do
            jq -rn --argjson r "$r" --arg l "$l" --slurpfile lm "$d/rate$LITELLM_RATE-h1-mock.json" \
                --slurpfile x "$d/rate$LITELLM_RATE-h1-$l.json" \
                '"round \($r): \($l) p99 added at \($x[0].target_rate) req/s: \($x[0].latency_us.p99 - $lm[0].latency_us.p99) us (\($x[0].requests) sent)"'
        done
    done
    [[ -z "$INSTR_TXT" ]] || echo "$INSTR_TXT"
} | tee "$OUT/summary.txt"
