# Shared by the bench and soak scripts (source it; it is not run): a scratch directory, the
# processes a script starts, their cleanup on exit, and waiting for their "listening" line.
# After sourcing: WORK is a fresh temp dir; append each started process's pid to PIDS.

WORK="$(mktemp -d)"
PIDS=()

# Stops every started process (SIGTERM, then waits) and removes WORK.
cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in "${PIDS[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# first_line FILE PID [SECONDS]: waits (default 30 s) for a "listening" first line in FILE,
# written by process PID, and prints it; fails, showing PID's stderr (FILE with .err for .out),
# if PID exits first or the time runs out.
first_line() {
    local file="$1" pid="$2" tenths=$((${3:-30} * 10)) i
    for ((i = 0; i < tenths; i++)); do
        if [[ -s "$file" ]] && head -1 "$file" | grep -q listening; then
            head -1 "$file"
            return 0
        fi
        if ! kill -0 "$pid" 2>/dev/null; then
            echo "process $pid exited before listening; its stderr:" >&2
            cat "${file%.out}.err" >&2 || true
            return 1
        fi
        sleep 0.1
    done
    echo "timed out waiting for $file" >&2
    return 1
}

# rss_kib PID FIELD: a /proc/PID/status field in KiB (VmRSS, VmHWM).
rss_kib() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status"; }
