#!/usr/bin/env bash
# run_standby: more instances than partitions. A second `rapport run` in the group of a
# one-partition input gets nothing to own: it is a member all the same, so /readyz says ready
# (as a Kafka Streams instance with no task is RUNNING) instead of 503 for ever. When the first
# leaves (SIGTERM), the standby takes the partition over, restores its customers and goes on:
# every event consumed, the watermark at the end of the data, signals as `rapport score`.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
: "${RAPPORT:?RAPPORT must point at the rapport binary}"

N=6000
in=$(it_topic in 1)
"$RAPPORT" gen --customers 400 --days 60 --events $N --seed 5 >"$IT_TMP/ev.jsonl"
final_wm=$(($(it_max_ts "$IT_TMP/ev.jsonl") - 300000))
it_engine_config "$IT_TMP/run.ini" "$in" "$in" "$(it_group)"

declare -A PORT PID
start() { # INSTANCE
    it_engine_start "$1" "$IT_TMP/run.ini"
    PID[$1]=$IT_LAST_PID
    PORT[$1]=$IT_LAST_PORT
}
metric_sum() { it_metric_sum "${PORT[$1]}" "$2"; } # INSTANCE NAME
owns() { it_http "http://127.0.0.1:${PORT[$1]}/metrics" | grep -c '^rapport_consumer_lag{' || true; }

start a
wait_for 60 "it_http http://127.0.0.1:${PORT[a]}/readyz >/dev/null 2>&1"
it_produce_events "$in" "$IT_TMP/ev.jsonl"
wait_for 120 "[ \"\$(metric_sum a rapport_events_consumed_total)\" -ge $N ]"

# b joins: the one partition stays with a (cooperative-sticky); b owns nothing and is ready
start b
wait_for 90 "it_http http://127.0.0.1:${PORT[b]}/readyz >/dev/null 2>&1"
it_assert_eq 0 "$(owns b)" "partitions owned by the standby"
it_assert_eq 1 "$(owns a)" "partitions owned by the first instance"
it_http "http://127.0.0.1:${PORT[a]}/readyz" >/dev/null || it_fail "a is no longer ready"

# a leaves: b takes the partition over, restores it and reaches the end of the data
rc=0
it_stop "${PID[a]}" 60 || rc=$?
it_assert_eq 0 "$rc" "exit status of a (SIGTERM)"
wait_for 90 "grep -q 'assigned $in \\[0->w[0-9](restore)\\]' '$IT_TMP/b.log'"
wait_for 60 "[ \"\$(owns b)\" = 1 ] && it_http http://127.0.0.1:${PORT[b]}/readyz >/dev/null 2>&1"
wait_for 60 "it_http http://127.0.0.1:${PORT[b]}/metrics | grep -qx 'rapport_watermark_ms $final_wm'"

"$RAPPORT" score "$IT_TMP/ev.jsonl" 2>/dev/null | it_signal_ids | sort -u >"$IT_TMP/score.ids"
{ it_consume_all "$in.churn" -f '%s\n'; it_consume_all "$in.advocate" -f '%s\n'; } |
    it_signal_ids | sort -u >"$IT_TMP/run.ids"
ns=$(wc -l <"$IT_TMP/score.ids")
both=$(comm -12 "$IT_TMP/run.ids" "$IT_TMP/score.ids" | wc -l)
[ "$ns" -gt 20 ] || it_fail "too few signals from rapport score ($ns)"
[ $((both * 100)) -ge $((ns * 99)) ] || it_fail "signal ids: $both of $ns as rapport score"
rc=0
it_stop "${PID[b]}" 60 || rc=$?
it_assert_eq 0 "$rc" "exit status of b (SIGTERM)"
it_log "ok: a standby owning nothing was ready, then took the partition over ($both/$ns ids)"
