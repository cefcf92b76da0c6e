#!/usr/bin/env bash
# bench_e2e: end-to-end throughput of `rapport run` through a real broker against a bare
# librdkafka consumer of the same topic (the limit), scaling from 1 to 2 workers, and
# produce-to-signal latency at half the measured maximum rate. Figures go to bench/RESULTS.md.
#
# Usage: bench/bench_e2e.sh [BUILD_DIR]     (env: N events, default 1000000; KAFKA_BOOTSTRAP, or
#        a broker is started with scripts/kafka.sh on RP_KAFKA_PORT; LOW_RATE: also measure the
#        latency at these rates, e.g. "100000 20000"; PARTITIONS of the input topic, default 4; WORKERS, the
#        worker counts timed in turn, default "2 1": the first one also serves the latency run;
#        ROUNDS of (bare consumer, then each worker count), default 1: medians are printed)
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
R=$build/rapport
B=$build/bench/bench_e2e
N=${N:-1000000}
PARTITIONS=${PARTITIONS:-4}
WORKERS=${WORKERS:-2 1}
ROUNDS=${ROUNDS:-1}
[ -x "$R" ] && [ -x "$B" ] || { echo "bench_e2e: build $R and $B first" >&2; exit 2; }
if [ -z "${KAFKA_BOOTSTRAP:-}" ]; then
    scripts/kafka.sh start >&2
    stop_broker=1
    KAFKA_BOOTSTRAP=$(scripts/kafka.sh bootstrap)
fi
tmp=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$tmp"; }
if [ -n "${stop_broker:-}" ]; then trap 'cleanup; scripts/kafka.sh stop >&2' EXIT; else trap cleanup EXIT; fi
sfx=$(od -An -N4 -tx1 /dev/urandom | tr -d ' \n')
in=bench-e2e-$sfx


# run_engine NAME WORKERS TOPIC: starts `rapport run`; sets PORT (its HTTP port) and EPID
run_engine() {
    cat >"$tmp/$1.ini" <<INI
[kafka]
bootstrap.servers = $KAFKA_BOOTSTRAP
group.id = bench-$1-$sfx
[topics]
input = $3
churn_risk = $3.$1.churn
advocate = $3.$1.advocate
dead_letter = $3.$1.dlq
internal_prefix = $3.$1.internal
[engine]
workers = $2
[http]
listen = 127.0.0.1:0
INI
    : >"$tmp/$1.log"
    "$R" run -c "$tmp/$1.ini" </dev/null >/dev/null 2>>"$tmp/$1.log" &
    EPID=$!
    pids+=("$EPID")
    for _ in $(seq 1 300); do
        PORT=$(sed -n 's/.*http on .*(port \([0-9]*\)).*/\1/p' "$tmp/$1.log" | head -1)
        [ -n "$PORT" ] && return
        sleep 0.1
    done
    echo "bench_e2e: engine $1 did not start: $(cat "$tmp/$1.log")" >&2
    exit 1
}

# thread_cpu PID: the process's CPU time per thread name, over its whole life so far, in us per
# event (N): where an end-to-end run spends its CPU (the consumer thread is the main thread)
thread_cpu() {
    local hz t
    hz=$(getconf CLK_TCK)
    for t in /proc/"$1"/task/*; do
        # stat: "tid (comm) state ... utime stime" (comm has no spaces here: rapport, rp:worker3,
        # rdk:broker1 ...); the main thread's tid is the pid
        awk -v main="$1" '{ sub(/^[0-9]+ \(/, ""); n = $1; sub(/\).*/, "", n);
             if (FILENAME ~ "/task/" main "/stat$") n = n "(main)";
             sub(/^[^)]*\) /, ""); print n, $12 + $13 }' "$t/stat" 2>/dev/null
    done | awk -v hz="$hz" -v n="$N" '{ s[$1] += $2; c[$1]++; all += $2 }
        END { printf "  CPU per event:"; for (k in s) if (s[k] > 0) printf " %s%s %.3f us,", k,
              (c[k] > 1 ? " x" c[k] : ""), s[k] / hz / n * 1e6; printf " total %.3f us\n", all / hz / n * 1e6 }'
}

# time_engine NAME WORKERS: events/s from the first consumed event until consumed = N (polled
# every 20 ms by `bench_e2e watch` over a plain socket: no process started per poll)
time_engine() {
    run_engine "$1" "$2" "$in"
    local out
    out=$("$B" watch "$PORT" rapport_events_consumed_total "$N") || exit 1
    cpu=$(thread_cpu "$EPID")
    kill -TERM "$EPID"
    wait "$EPID" || true
    echo "$1: $out"
    echo "$cpu"
}

# http_ok PORT PATH: the engine answers 200 (bash's /dev/tcp: no curl needed)
http_ok() {
    local status
    exec 3<>"/dev/tcp/127.0.0.1/$1" || return 1
    printf 'GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' "$2" >&3
    IFS= read -r status <&3 || status=
    exec 3<&-
    [[ $status == *" 200 "* ]]
}

echo "== machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -r); broker $KAFKA_BOOTSTRAP on the same machine"
scripts/kafka.sh topic "$in" "$PARTITIONS" >/dev/null
echo "== pre-producing $N msgpack events to $in ($PARTITIONS partitions) with rapport gen"
"$R" gen --customers 100000 --days 90 --events "$N" --seed 1 --format msgpack \
    --brokers "$KAFKA_BOOTSTRAP" --topic "$in" -X linger.ms=50 2>/dev/null | tail -1
echo "== $ROUNDS round(s): the limit (a bare librdkafka group consumer reading the same topic),"
echo "   then rapport run with workers: $WORKERS (a fresh consumer group each)"
first=
for r in $(seq 1 "$ROUNDS"); do
    "$B" bare "$KAFKA_BOOTSTRAP" "$in" "$N" | tee "$tmp/bare.$r.out" | sed "s/^/round $r: /"
    for w in $WORKERS; do
        time_engine "w$w.$r" "$w" >"$tmp/w$w.$r.out"
        sed "s/^/round $r: /" "$tmp/w$w.$r.out"
        [ -n "$first" ] || first=$w
    done
done
# per worker count: the median rate, and the median of each round's rate / that round's limit
rate() { sed -n 's|.* = \([0-9.]*\) [a-z]*/s.*|\1|p' "$1" | head -1; }
echo "== summary over $ROUNDS round(s) (medians)"
mid=$(((ROUNDS + 1) / 2))
for w in $WORKERS; do
    ev=$(for r in $(seq 1 "$ROUNDS"); do rate "$tmp/w$w.$r.out"; done | sort -g | sed -n "${mid}p")
    pct=$(for r in $(seq 1 "$ROUNDS"); do
        echo "$(rate "$tmp/w$w.$r.out") $(rate "$tmp/bare.$r.out")" | awk '{print 100 * $1 / $2}'
    done | sort -g | sed -n "${mid}p")
    awk -v w="$w" -v ev="$ev" -v pct="$pct" -v n="$ROUNDS" \
        'BEGIN { printf "%d workers: %.2f M ev/s, %.0f %% of the bare consumer (rounds: %d)\n", w, ev / 1e6, pct, n }'
done
max=$(rate "$tmp/w$first.1.out")
half=$((${max%.*} / 2))
echo "== latency at half the maximum rate ($first workers): $half ev/s for 20 s into a new topic"
lat=bench-e2e-lat-$sfx
scripts/kafka.sh topic "$lat" "$PARTITIONS" >/dev/null
run_engine lat "$first" "$lat"
for _ in $(seq 1 300); do
    http_ok "$PORT" /readyz && break
    sleep 0.1
done
# paced_run RATE: 20 s of paced events, then waits until the engine has consumed every event sent
# so far (a backlog left by one rate would show as latency at the next)
sent_total=0
paced_run() {
    "$B" latency "$KAFKA_BOOTSTRAP" "$lat" "$lat.lat" "$1" 20 | tee "$tmp/paced.out"
    sent_total=$((sent_total + $(sed -n 's/^paced producer: \([0-9]*\) events.*/\1/p' "$tmp/paced.out")))
    "$B" watch "$PORT" rapport_events_consumed_total "$sent_total" >/dev/null ||
        echo "bench_e2e: the engine did not catch up with the $sent_total events sent" >&2
}
paced_run "$half"
for rate in ${LOW_RATE:-}; do
    echo "== latency at $rate ev/s for 20 s (same engine)"
    paced_run "$rate"
done
kill -TERM "$EPID"
wait "$EPID" || true
