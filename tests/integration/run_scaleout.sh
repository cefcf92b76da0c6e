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

it_instance a "$IT_TMP/run.ini"
wait_for 60 "it_instance_ready a"
it_produce_events "$in" "$IT_TMP/first.jsonl"
wait_for 120 "[ \"\$(it_instance_sum a rapport_events_consumed_total)\" -ge $((N / 2)) ]"

# b joins: cooperative-sticky moves two partitions from a to b (a revokes only those). The
# first rebalance gives b nothing (a must revoke first), the second gives it a's two partitions,
# restored before b is ready again.
it_instance b "$IT_TMP/run.ini"
wait_for 90 "grep -q 'revoked $in' '$IT_TMP/a.log' && grep -q 'assigned $in .*(restore)' '$IT_TMP/b.log'"
wait_for 60 "it_instance_ready b"
it_log "b joined: $(grep "assigned $in" "$IT_TMP/b.log" | tail -1 | sed 's/.*assigned //')"
it_produce_events "$in" "$IT_TMP/second.jsonl"

# a leaves: b takes over everything, restoring a's partitions
wait_for 120 "[ \$((\$(it_instance_sum a rapport_events_consumed_total) + \$(it_instance_sum b rapport_events_consumed_total))) -ge $N ]"
it_instance_stop a
wait_for 90 "[ \"\$(it_instance_owns b)\" = 4 ]"
wait_for 120 "[ \"\$(it_instance_sum b rapport_events_consumed_total)\" -ge $N ]"
wait_for 60 "it_http http://127.0.0.1:${IT_PORT[b]}/metrics | grep -qx 'rapport_watermark_ms $final_wm'"

it_ids_as_score "$IT_TMP/ev.jsonl" "$in" 50
it_instance_stop b
it_log "ok: partitions moved between instances twice, $IT_IDS_BOTH/$IT_IDS_SCORE signal ids as rapport score"
