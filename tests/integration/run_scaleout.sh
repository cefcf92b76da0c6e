#!/usr/bin/env bash
# run_scaleout: two `rapport run` instances in one consumer group split the input's partitions
# (cooperative-sticky); a second instance joins mid-stream (partitions move, with their state
# restored), then the first leaves with SIGTERM and the second takes over everything. The
# signals on the shared output topics still match `rapport score` on the same events (>= 99 %),
# and both instances exit 0.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
: "${RAPPORT:?RAPPORT must point at the rapport binary}"

N=30000
in=$(it_topic in 4)
"$RAPPORT" gen --customers 1500 --days 90 --events $N --seed 21 >"$IT_TMP/ev.jsonl"
final_wm=$(($(it_max_ts "$IT_TMP/ev.jsonl") - 300000))
head -n $((N / 2)) "$IT_TMP/ev.jsonl" >"$IT_TMP/first.jsonl"
tail -n +$((N / 2 + 1)) "$IT_TMP/ev.jsonl" >"$IT_TMP/second.jsonl"

it_engine_config "$IT_TMP/run.ini" "$in" "$in" "$(it_group)"

declare -A PORT PID
start() { # INSTANCE
    it_engine_start "$1" "$IT_TMP/run.ini"
    PID[$1]=$IT_LAST_PID
    PORT[$1]=$IT_LAST_PORT
}
metric_sum() { it_metric_sum "${PORT[$1]}" "$2"; } # INSTANCE NAME
assigned() { # INSTANCE: partitions it reports as assigned (lag gauge present)
    it_http "http://127.0.0.1:${PORT[$1]}/metrics" | grep -c '^rapport_consumer_lag{' || true
}

start a
wait_for 60 "it_http http://127.0.0.1:${PORT[a]}/readyz >/dev/null 2>&1"
it_produce_events "$in" "$IT_TMP/first.jsonl"
wait_for 120 "[ \"\$(metric_sum a rapport_events_consumed_total)\" -ge $((N / 2)) ]"

# b joins: cooperative-sticky moves two partitions from a to b (a revokes only those). The
# first rebalance gives b nothing (a must revoke first), the second gives it a's two partitions,
# restored before b is ready again.
start b
wait_for 90 "grep -q 'revoked $in' '$IT_TMP/a.log' && grep -q 'assigned $in .*(restore)' '$IT_TMP/b.log'"
wait_for 60 "it_http http://127.0.0.1:${PORT[b]}/readyz >/dev/null 2>&1"
it_log "b joined: $(grep "assigned $in" "$IT_TMP/b.log" | tail -1 | sed 's/.*assigned //')"
it_produce_events "$in" "$IT_TMP/second.jsonl"

# a leaves: b takes over everything, restoring a's partitions
wait_for 120 "[ \$((\$(metric_sum a rapport_events_consumed_total) + \$(metric_sum b rapport_events_consumed_total))) -ge $N ]"
rc=0
it_stop "${PID[a]}" 60 || rc=$?
it_assert_eq 0 "$rc" "exit status of a (SIGTERM)"
wait_for 90 "[ \$(grep -c 'assigned $in' '$IT_TMP/b.log') -ge 2 ]"
wait_for 120 "[ \"\$(metric_sum b rapport_events_consumed_total)\" -ge $N ]"
wait_for 60 "it_http http://127.0.0.1:${PORT[b]}/metrics | grep -qx 'rapport_watermark_ms $final_wm'"

"$RAPPORT" score "$IT_TMP/ev.jsonl" 2>/dev/null | it_signal_ids | sort -u >"$IT_TMP/score.ids"
{ it_consume_all "$in.churn" -f '%s\n'; it_consume_all "$in.advocate" -f '%s\n'; } |
    it_signal_ids | sort -u >"$IT_TMP/run.ids"
ns=$(wc -l <"$IT_TMP/score.ids")
nr=$(wc -l <"$IT_TMP/run.ids")
both=$(comm -12 "$IT_TMP/run.ids" "$IT_TMP/score.ids" | wc -l)
it_log "signals: instances $nr distinct, score $ns, both $both"
[ "$ns" -gt 50 ] || it_fail "too few signals from rapport score ($ns)"
[ $((both * 100)) -ge $((ns * 99)) ] && [ $((both * 100)) -ge $((nr * 99)) ] ||
    it_fail "signal ids differ: instances $nr, score $ns, both $both (< 99 %)"
rc=0
it_stop "${PID[b]}" 60 || rc=$?
it_assert_eq 0 "$rc" "exit status of b (SIGTERM)"
it_log "ok: partitions moved between instances twice, $both/$ns signal ids as rapport score"
