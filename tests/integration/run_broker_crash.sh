#!/usr/bin/env bash
# run_broker_crash: the broker dies (SIGKILL) while `rapport gen` produces and `rapport run`
# consumes, stays down 10 s and comes back on the same data (scripts/kafka.sh crash); before
# that it hangs for 10 s (SIGSTOP, then SIGCONT: kafka.sh pause), as in a long GC pause or a
# network partition. Both outages outlast idle_partition_timeout (5 s). The engine rides them out: every
# event consumed and applied once (none dead-lettered as too_late: a partition whose end the broker
# cannot confirm is not idle), the watermark at the end of the data, every counted signal in the
# topics, the signal ids of `rapport score` (>= 99 %), a clean stop. (The mock cluster's faults are
# in test_engine_faults; this is the real broker's recovery: log recovery, producer state, the
# group coordinator coming back.)
set -euo pipefail
. "$(dirname "$0")/lib.sh"
: "${RAPPORT:?RAPPORT must point at the rapport binary}"

# The broker must be ours (scripts/kafka.sh) to be killed and restarted.
export RP_KAFKA_PORT=${KAFKA_BOOTSTRAP##*:}
"$SRC/scripts/kafka.sh" status >/dev/null ||
    it_fail "the broker on $KAFKA_BOOTSTRAP is not scripts/kafka.sh's: cannot crash it"

N=40000
GEN=(--customers 2000 --days 90 --events $N --seed 7)
in=$(it_topic in 4)
"$RAPPORT" gen "${GEN[@]}" --format json >"$IT_TMP/ev.jsonl" # the same stream, for score
final_wm=$(($(it_max_ts "$IT_TMP/ev.jsonl") - 300000))      # allowed_lateness 5m
it_engine_config "$IT_TMP/run.ini" "$in" "$in" "$(it_group)"
# A partition counts idle only once the broker has confirmed its end for idle_partition_timeout:
# 5 s here, more than the producer needs to reconnect and deliver what it held (its reconnect
# backoff capped at 500 ms below; librdkafka's default cap is 10 s).
sed -i 's/^idle_partition_timeout = .*/idle_partition_timeout = 5s/' "$IT_TMP/run.ini"

it_spawn gen "$RAPPORT" gen "${GEN[@]}" --format msgpack --rate 1000 \
    -X reconnect.backoff.max.ms=500 --brokers "$KAFKA_BOOTSTRAP" --topic "$in"
gen_pid=$IT_LAST_PID
it_engine_start run "$IT_TMP/run.ini"
run_pid=$IT_LAST_PID
port=$IT_LAST_PORT
consumed() { it_metric_sum "$port" rapport_events_consumed_total; }

# gen paces from its start and queues in librdkafka while the broker does not answer, so after a
# fault it catches up at once: the hang comes first, at a tenth (4 s in), and the crash at half
# (20 s in), while gen has 20 s of events left to produce.
wait_for 120 "[ \"\$(consumed)\" -ge $((N / 10)) ]"
it_log "broker hang at $(consumed) events consumed"
"$SRC/scripts/kafka.sh" pause 10 || it_fail "kafka.sh pause failed"
it_log "broker answering again at $(consumed) events consumed"
wait_for 120 "[ \"\$(consumed)\" -ge $((N / 2)) ]"
it_alive $gen_pid || it_fail "gen had finished before the crash: the test would not test it"
it_log "broker crash at $(consumed) events consumed"
"$SRC/scripts/kafka.sh" crash 10 || it_fail "the broker did not come back"
it_log "broker back at $(consumed) events consumed"

wait_for 300 "! it_alive $gen_pid" # gen retries while the broker is down, then exits
grep -q "delivered $N events" "$IT_TMP/gen.log" || it_fail "gen did not deliver $N: $(tail -2 "$IT_TMP/gen.log")"
wait_for 180 "[ \"\$(consumed)\" -ge $N ]"
wait_for 60 "[ \"\$(it_metric $port rapport_watermark_ms)\" = $final_wm ]"
wait_for 30 "[ \"\$(it_metric_sum $port rapport_partition_idle)\" = 4 ]" # ends confirmed again
it_assert_eq $N "$(consumed)" "events consumed (each once)"
it_assert_eq $N "$(it_metric_sum "$port" rapport_events_applied_total)" "events applied"
it_assert_eq 0 "$(it_metric_sum "$port" rapport_events_dead_lettered_total)" "events dead-lettered"

signals=$(it_metric_sum "$port" rapport_signals_total)
wait_for 60 "[ \$((\$(it_count $in.churn) + \$(it_count $in.advocate))) -ge $signals ]"
it_ids_as_score "$IT_TMP/ev.jsonl" "$in" 50

rc=0
it_stop "$run_pid" 60 || rc=$?
it_assert_eq 0 "$rc" "exit status after SIGTERM"
grep -q 'rapport: stopped$' "$IT_TMP/run.log" || it_fail "no clean stop in the log"
it_log "ok: the engine rode out a broker crash and a hang: $N events once, $IT_IDS_BOTH/$IT_IDS_SCORE signal ids as rapport score"
