# lib.sh: shell helpers for the integration tests (sourced, never run): a real broker at
# $KAFKA_BOOTSTRAP (scripts/kafka.sh start), uniquely named topics, kcat produce/consume with
# deadlines, a scratch dir and background processes cleaned up on exit.
#
# Usage, at the top of tests/integration/NAME.sh:
#   set -euo pipefail
#   . "$(dirname "$0")/lib.sh"
#   topic=$(it_topic events 4)
#   printf 'k1:v1\nk2:v2\n' | it_produce "$topic"
#   it_consume "$topic" 2 30 >"$IT_TMP/out"
#
# Every helper fails the test (exit 1, with a message naming the test) rather than returning
# something half done; waits are on a condition with a deadline, never a bare sleep.

if [ -z "${KAFKA_BOOTSTRAP:-}" ]; then
    echo "FAIL $(basename "$0"): KAFKA_BOOTSTRAP is not set. Integration tests need the real broker:" \
        "run them through scripts/test.sh -L integration, or scripts/kafka.sh start and" \
        'KAFKA_BOOTSTRAP=$(scripts/kafka.sh bootstrap) ctest -L integration' >&2
    exit 1
fi
command -v kcat >/dev/null || {
    echo "FAIL $(basename "$0"): kcat not found: run scripts/setup.sh --tests" >&2
    exit 1
}

IT_NAME=$(basename "$0" .sh)
: "${SRC:=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
IT_KAFKA_SH=$SRC/scripts/kafka.sh
IT_TMP=$(mktemp -d "${TMPDIR:-/tmp}/rp-it-$IT_NAME.XXXXXX")
# librdkafka's default partitioner (CRC32) is not the Java client's: murmur2_random puts a key on
# the partition a Java producer (and rapport's co-partitioned topics) would.
IT_KCAT=(kcat -b "$KAFKA_BOOTSTRAP" -X partitioner=murmur2_random)
IT_PIDS=()
IT_ON_EXIT=()

it_log() { echo "[$IT_NAME] $*" >&2; }
it_fail() {
    echo "FAIL $IT_NAME: $*" >&2
    exit 1
}

# Commands run at exit (before background processes are stopped), last added first.
it_on_exit() { IT_ON_EXIT+=("$*"); }

it_cleanup() {
    local rc=$? i pid
    for ((i = ${#IT_ON_EXIT[@]} - 1; i >= 0; i--)); do eval "${IT_ON_EXIT[i]}" || true; done
    for pid in "${IT_PIDS[@]}"; do it_alive "$pid" && { it_stop "$pid" 10 || true; }; done
    if [ "$rc" -ne 0 ] && [ -n "${IT_KEEP_TMP:-}" ]; then
        echo "[$IT_NAME] kept $IT_TMP" >&2
    else
        rm -rf "$IT_TMP"
    fi
    return "$rc"
}
trap it_cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# wait_for SECONDS COMMAND [ARGS...]: runs the command (or, given one string, evaluates it, so
# pipes work) until it succeeds; fails the test after SECONDS.
wait_for() {
    local secs=$1 deadline
    shift
    deadline=$((SECONDS + secs))
    while :; do
        if [ $# -eq 1 ]; then
            eval "$1" && return 0
        else
            "$@" && return 0
        fi
        [ $SECONDS -lt $deadline ] || it_fail "timed out after ${secs}s waiting for: $*"
        sleep 0.2 # poll interval of the wait, not a wait in itself
    done
}

# A random suffix so that topics and groups of different runs and tests never collide.
it_suffix() { od -An -N4 -tx1 /dev/urandom | tr -d ' \n'; }

# it_topic BASE PARTITIONS [key=value ...]: creates it-<test>-BASE-<random> (every partition
# with a leader) and prints its name.
it_topic() {
    local base=$1 parts=$2 name
    shift 2
    name="it-${IT_NAME//_/-}-${base//_/-}-$(it_suffix)"
    "$IT_KAFKA_SH" topic "$name" "$parts" "$@" >&2 || it_fail "could not create topic $name"
    echo "$name"
}

# A consumer group id unique to this run.
it_group() { echo "it-$IT_NAME-${1:-g}-$(it_suffix)"; }

# it_produce TOPIC [kcat args...]: one message per stdin line, "key:value" (the key ends at the
# first ':'); fails when kcat reports a failed delivery.
it_produce() {
    local topic=$1
    shift
    "${IT_KCAT[@]}" -P -t "$topic" -K: -X acks=all "$@" || it_fail "kcat could not produce to $topic"
}

# it_produce_lines TOPIC [kcat args...]: one unkeyed message per stdin line.
it_produce_lines() {
    local topic=$1
    shift
    "${IT_KCAT[@]}" -P -t "$topic" -X acks=all "$@" || it_fail "kcat could not produce to $topic"
}

# it_produce_file TOPIC FILE [KEY]: the whole file as one message (binary safe: msgpack events).
it_produce_file() {
    local topic=$1 file=$2 key=${3:-}
    [ -r "$file" ] || it_fail "it_produce_file: cannot read $file"
    "${IT_KCAT[@]}" -P -t "$topic" -X acks=all ${key:+-k "$key"} "$file" ||
        it_fail "kcat could not produce $file to $topic"
}

# it_consume TOPIC N [SECONDS [kcat args...]]: prints the first N messages of TOPIC from the
# beginning as "key:value" lines (override with -f '...'), waiting at most SECONDS (30) for them
# to arrive; fails when fewer arrive in time.
it_consume() {
    local topic=$1 n=$2 secs=${3:-30} out rc=0
    shift 2
    [ $# -gt 0 ] && shift
    out=$IT_TMP/consume.$(it_suffix)
    timeout "$secs" "${IT_KCAT[@]}" -C -q -t "$topic" -o beginning -c "$n" -f '%k:%s\n' "$@" \
        >"$out" || rc=$?
    if [ "$rc" -ne 0 ]; then
        it_fail "consumed $(wc -l <"$out") line(s) of $n wanted from $topic in ${secs}s (kcat rc $rc)"
    fi
    cat "$out"
}

# it_consume_all TOPIC [kcat args...]: everything in TOPIC now (to the end of every partition).
it_consume_all() {
    local topic=$1
    shift
    timeout 60 "${IT_KCAT[@]}" -C -q -e -t "$topic" -o beginning -f '%k:%s\n' "$@" ||
        it_fail "could not read $topic to its end"
}

# it_count TOPIC: the number of messages in TOPIC now.
it_count() { it_consume_all "$1" -f 'x\n' | wc -l; }

# it_spawn NAME COMMAND [ARGS...]: runs the command in the background, stdout+stderr to
# $IT_TMP/NAME.log; sets IT_LAST_PID; stopped (SIGTERM, then SIGKILL) at exit.
it_spawn() {
    local name=$1
    shift
    "$@" </dev/null >"$IT_TMP/$name.log" 2>&1 &
    IT_LAST_PID=$!
    IT_PIDS+=("$IT_LAST_PID")
    it_log "started $name (pid $IT_LAST_PID): $*"
}

# it_alive PID: the process exists and has not exited (a zombie answers kill -0 until reaped).
it_alive() {
    local st
    st=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1) || return 1
    [ -n "$st" ] && [ "$st" != Z ] && [ "$st" != X ]
}

# it_stop PID [SECONDS]: SIGTERM, wait up to SECONDS (30), then SIGKILL. Returns the process's
# exit status (143 for death by SIGTERM), 137 when it had to be killed.
it_stop() {
    local pid=$1 secs=${2:-30} deadline rc=0
    if it_alive "$pid"; then
        kill -TERM "$pid" 2>/dev/null || true
        deadline=$((SECONDS + secs))
        while it_alive "$pid" && [ $SECONDS -lt $deadline ]; do sleep 0.1; done
        if it_alive "$pid"; then
            it_log "pid $pid did not stop within ${secs}s: SIGKILL"
            kill -KILL "$pid" 2>/dev/null || true
        fi
    fi
    wait "$pid" 2>/dev/null || rc=$?
    return "$rc"
}

# it_http URL: the body of a successful GET (curl), non-zero otherwise; for wait_for and checks.
it_http() { curl -fsS --max-time 5 "$1"; }

# ---- for tests that run `rapport run` (JSON helpers without jq: setup.sh does not install it)

# it_signal_ids: the signal_id of each JSON signal on stdin, one a line.
it_signal_ids() { grep -o '"signal_id":"[0-9a-f]*"' | cut -d'"' -f4; }

# it_max_ts FILE: the largest "ts" in a JSON Lines event file.
it_max_ts() { grep -o '"ts":[0-9]*' "$1" | cut -d: -f2 | sort -n | tail -1; }

# it_produce_events TOPIC FILE: JSON Lines events, each keyed by its cid (murmur2, as Java
# clients place keys), produced by kcat: a client that is not ours.
it_produce_events() {
    sed -E 's/^(.*"cid":"([^"]*)".*)$/\2\t\1/' "$2" |
        "${IT_KCAT[@]}" -P -t "$1" -K $'\t' -X acks=all || it_fail "kcat could not produce $2 to $1"
}

# it_engine_config FILE INPUT OUT GROUP [COMMIT_INTERVAL]: a `rapport run` configuration for the
# test broker: 2 workers, JSON signals to OUT.churn and OUT.advocate, dead letters to OUT.dlq,
# internal topics under OUT.internal, idle partitions after 2 s, HTTP on an ephemeral port.
it_engine_config() {
    cat >"$1" <<INI
[kafka]
bootstrap.servers = $KAFKA_BOOTSTRAP
group.id = $4
[topics]
input = $2
churn_risk = $3.churn
advocate = $3.advocate
dead_letter = $3.dlq
internal_prefix = $3.internal
[engine]
workers = 2
idle_partition_timeout = 2s
commit_interval = ${5:-200ms}
[output]
format = json
[http]
listen = 127.0.0.1:0
INI
}

# it_engine_start NAME CONFIG: `rapport run -c CONFIG` in the background (log $IT_TMP/NAME.log),
# waits until it serves HTTP; sets IT_LAST_PID and IT_LAST_PORT.
it_engine_start() {
    it_spawn "$1" "$RAPPORT" run -c "$2"
    wait_for 60 "grep -q 'http on .*(port [0-9]*)' '$IT_TMP/$1.log'"
    IT_LAST_PORT=$(sed -n 's/.*http on .*(port \([0-9]*\)).*/\1/p' "$IT_TMP/$1.log" | head -1)
}

# it_metric_sum PORT NAME: a metric of the engine on PORT summed over its labels.
it_metric_sum() {
    it_http "http://127.0.0.1:$1/metrics" | awk -v m="$2" '$1 ~ "^"m"({|$)" {s += $2} END {print s + 0}'
}

# it_metric PORT SERIES: the value of one exact series, name{labels}.
it_metric() { it_http "http://127.0.0.1:$1/metrics" | awk -v m="$2" '$1 == m {print $2}'; }

# ---- several `rapport run` instances of one group (run_scaleout, run_standby)

declare -gA IT_PID IT_PORT

# it_instance NAME CONFIG: it_engine_start, remembering the instance's pid and HTTP port.
it_instance() {
    it_engine_start "$1" "$2"
    IT_PID[$1]=$IT_LAST_PID
    IT_PORT[$1]=$IT_LAST_PORT
}

# it_instance_sum NAME METRIC: a metric of instance NAME summed over its labels.
it_instance_sum() { it_metric_sum "${IT_PORT[$1]}" "$2"; }

# it_instance_owns NAME: how many input partitions instance NAME owns (its lag gauges).
it_instance_owns() {
    it_http "http://127.0.0.1:${IT_PORT[$1]}/metrics" | grep -c '^rapport_consumer_lag{' || true
}

# it_instance_ready NAME: /readyz of instance NAME answers 200.
it_instance_ready() { it_http "http://127.0.0.1:${IT_PORT[$1]}/readyz" >/dev/null 2>&1; }

# it_instance_stop NAME: SIGTERM; the instance must exit 0 within 60 s.
it_instance_stop() {
    local rc=0
    it_stop "${IT_PID[$1]}" 60 || rc=$?
    it_assert_eq 0 "$rc" "exit status of $1 (SIGTERM)"
}

# it_ids_as_score EVENTS OUT MIN: the signal ids on OUT.churn and OUT.advocate against those of
# `rapport score` on the EVENTS file: at least MIN from score, and >= 99 % the same both ways.
# Sets IT_IDS_BOTH and IT_IDS_SCORE.
it_ids_as_score() {
    "$RAPPORT" score "$1" 2>/dev/null | it_signal_ids | sort -u >"$IT_TMP/score.ids"
    { it_consume_all "$2.churn" -f '%s\n'; it_consume_all "$2.advocate" -f '%s\n'; } |
        it_signal_ids | sort -u >"$IT_TMP/run.ids"
    local ns nr both
    ns=$(wc -l <"$IT_TMP/score.ids")
    nr=$(wc -l <"$IT_TMP/run.ids")
    both=$(comm -12 "$IT_TMP/run.ids" "$IT_TMP/score.ids" | wc -l)
    it_log "signals: instances $nr distinct, score $ns, both $both"
    [ "$ns" -gt "$3" ] || it_fail "too few signals from rapport score ($ns)"
    [ $((both * 100)) -ge $((ns * 99)) ] && [ $((both * 100)) -ge $((nr * 99)) ] ||
        it_fail "signal ids differ: instances $nr, score $ns, both $both (< 99 %)"
    IT_IDS_BOTH=$both
    IT_IDS_SCORE=$ns
}

# it_assert_eq EXPECTED ACTUAL WHAT
it_assert_eq() {
    [ "$1" = "$2" ] || it_fail "$3: expected '$1', got '$2'"
}

# Run directly (ctest registers every tests/integration/*.sh, so this is test it_lib), lib.sh
# checks its own helpers against the broker, failures included: a helper that cannot fail would
# make every test built on it worthless.
it_selftest() {
    local t0 rc topic out
    # wait_for: succeeds once the condition holds, fails at its deadline (not before, not much after).
    it_spawn later bash -c "sleep 0.5; touch '$IT_TMP/flag'" # true later, in another process
    wait_for 10 "[ -e '$IT_TMP/flag' ]"
    t0=$SECONDS
    rc=0
    (wait_for 2 false) 2>/dev/null || rc=$?
    [ "$rc" -ne 0 ] || it_fail "selftest: wait_for did not fail on a false condition"
    [ $((SECONDS - t0)) -ge 1 ] && [ $((SECONDS - t0)) -le 5 ] ||
        it_fail "selftest: wait_for 2 false took $((SECONDS - t0))s"

    # Unique names.
    [ "$(it_suffix)" != "$(it_suffix)" ] || it_fail "selftest: it_suffix repeats itself"

    # Produce and consume: exact lines back, and a consume of more than there is fails in time.
    topic=$(it_topic selftest 2)
    [[ "$topic" =~ ^it-lib-selftest-[0-9a-f]{8}$ ]] || it_fail "selftest: odd topic name $topic"
    printf 'a:1\nb:2:x\nc:3\n' | it_produce "$topic"
    out=$(it_consume "$topic" 3 30 | sort | tr '\n' ' ')
    it_assert_eq "a:1 b:2:x c:3 " "$out" "selftest: it_consume"
    t0=$SECONDS
    rc=0
    (it_consume "$topic" 4 2 >/dev/null) 2>/dev/null || rc=$?
    [ "$rc" -ne 0 ] || it_fail "selftest: it_consume of 4 from 3 messages succeeded"
    [ $((SECONDS - t0)) -le 6 ] || it_fail "selftest: it_consume ignored its deadline"
    it_assert_eq 3 "$(it_count "$topic")" "selftest: it_count"

    # A binary file (NUL, newline) is one message, byte for byte.
    printf 'x\0y\nz' >"$IT_TMP/bin"
    it_produce_file "$topic" "$IT_TMP/bin" k
    it_assert_eq 4 "$(it_count "$topic")" "selftest: it_count after it_produce_file"
    it_consume_all "$topic" -f '%k %S\n' | grep -qx 'k 5' || it_fail "selftest: binary message altered"

    # it_stop: SIGTERM's status, or SIGKILL (137) for a process that ignores SIGTERM.
    it_spawn sleeper sleep 100
    rc=0
    it_stop "$IT_LAST_PID" 5 || rc=$?
    it_assert_eq 143 "$rc" "selftest: it_stop of sleep"
    it_spawn stubborn bash -c 'trap "" TERM; exec sleep 100'
    wait_for 10 "[ \"\$(cat /proc/$IT_LAST_PID/comm)\" = sleep ]" # SIGTERM ignored from now on
    rc=0
    it_stop "$IT_LAST_PID" 1 2>/dev/null || rc=$?
    it_assert_eq 137 "$rc" "selftest: it_stop of a process ignoring SIGTERM"

    # Without a broker address, sourcing fails with a message.
    rc=0
    out=$(env -u KAFKA_BOOTSTRAP bash -c ". '${BASH_SOURCE[0]}'" 2>&1) || rc=$?
    [ "$rc" -eq 1 ] && [[ "$out" == *KAFKA_BOOTSTRAP* ]] ||
        it_fail "selftest: sourcing without KAFKA_BOOTSTRAP gave rc $rc: $out"
    it_log "ok: helpers behave, failures included"
}
if [ "${BASH_SOURCE[0]}" = "$0" ]; then
    set -euo pipefail
    it_selftest
fi
