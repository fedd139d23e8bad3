#!/bin/bash
# Profiles the `lambent serve` process (only) under steady warm load: runs lambent-bench's S2
# scenario for one runtime and attaches `perf record` (call graphs through DWARF) to the server
# for a few seconds once the load is running. Run as root from the workspace root, after
# `cargo build --release -p lambent -p lambent-bench`:
#
#   crates/bench/scripts/profile-server.sh [runtime] [perf.data]
#   perf report -i perf.data --children --sort sym -g none --stdio --percent-limit 2
set -euo pipefail
RUNTIME=${1:-rust}
OUT=${2:-perf-lambent-server.data}
LOG=$(mktemp /tmp/lambent-bench-profile.XXXXXX)
target/release/lambent-bench --scenario S2 --runtime "$RUNTIME" \
    --lambent-bin target/release/lambent --out "$(dirname "$LOG")/lambent-bench-profile" \
    --no-write-md 2>"$LOG" >/dev/null &
BENCH=$!
for _ in $(seq 1 600); do
    grep -q "S2 $RUNTIME c=16" "$LOG" && break
    sleep 0.1
done
PID=$(grep -o "lambent (sandbox) at [^ ]* (pid [0-9]*" "$LOG" | grep -o "[0-9]*$")
echo "profiling lambent serve, pid $PID"
# Past the environment warm-up, into the interleaved floor/Lambent repetitions.
sleep 5
timeout -s INT 6 perf record -F 499 --call-graph dwarf,16384 -p "$PID" -o "$OUT" || true
wait "$BENCH" || true
grep -E "^  S2" "$LOG" || cat "$LOG"
rm -f "$LOG"
