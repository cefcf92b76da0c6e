#!/usr/bin/env bash
# bench_all: the benchmarks of bench/RESULTS.md in one go, with a broker of its own: the
# operator pipeline (bench_pipeline), end to end through the broker against a bare consumer
# (bench_e2e.sh), and in-process scaling of the workers (bench_scaling) on the topic bench_e2e.sh
# filled. Made for a machine visited once (see bench/bundle.sh); each part's output is kept.
#
# Usage: bench/bench_all.sh BUILD_DIR LOG_DIR
# Environment (defaults in brackets):
#   N [3000000]               events through the broker
#   PARTITIONS [4], WORKERS ["2 1"]   passed to bench_e2e.sh
#   SCALING ["1 2 1 2"]       worker counts bench_scaling times in turn, on min(N, 2 M) events
#   PIPELINE ["100000 1000000 10000000"]   customers for bench_pipeline
#   RP_KAFKA_PORT [19592]     the broker's port (scripts/kafka.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:?usage: bench/bench_all.sh BUILD_DIR LOG_DIR}
logs=${2:?usage: bench/bench_all.sh BUILD_DIR LOG_DIR}
export N=${N:-3000000} PARTITIONS=${PARTITIONS:-4} WORKERS=${WORKERS:-2 1}
export RP_KAFKA_PORT=${RP_KAFKA_PORT:-19592}
mkdir -p "$logs"

{
    echo "date: $(date -u +%FT%TZ)  commit: $(git rev-parse --short HEAD 2>/dev/null || echo '?')"
    echo "cores: $(nproc)  memory: $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo)  kernel: $(uname -r)"
    grep -m1 'model name' /proc/cpuinfo || true
    grep -m1 'cpu MHz' /proc/cpuinfo || true
    echo "load: $(cat /proc/loadavg)"
} | tee "$logs/machine.txt"

echo "== bench_pipeline (one thread): ${PIPELINE:-100000 1000000 10000000}"
# shellcheck disable=SC2086 # the sizes are words
"$build/bench/bench_pipeline" ${PIPELINE:-100000 1000000 10000000} 2>&1 | tee "$logs/pipeline.txt"

scripts/kafka.sh start >&2
trap 'scripts/kafka.sh stop >&2' EXIT
bs=$(scripts/kafka.sh bootstrap)
echo "== bench_e2e.sh: N=$N PARTITIONS=$PARTITIONS WORKERS=$WORKERS"
KAFKA_BOOTSTRAP=$bs bench/bench_e2e.sh "$build" 2>&1 | tee "$logs/e2e.txt"

topic=$(sed -n 's/^== pre-producing .* to \(bench-e2e-[0-9a-f]*\) .*/\1/p' "$logs/e2e.txt")
[ -n "$topic" ] || { echo "bench_all: no input topic in $logs/e2e.txt" >&2; exit 1; }
n=$((N < 2000000 ? N : 2000000))
echo "== bench_scaling on $topic: $n events, workers ${SCALING:-1 2 1 2}"
# shellcheck disable=SC2086
"$build/bench/bench_scaling" "$bs" "$topic" "$PARTITIONS" "$n" ${SCALING:-1 2 1 2} 2>&1 |
    tee "$logs/scaling.txt"
