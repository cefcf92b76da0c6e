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

it_instance a "$IT_TMP/run.ini"
wait_for 60 "it_instance_ready a"
it_produce_events "$in" "$IT_TMP/ev.jsonl"
wait_for 120 "[ \"\$(it_instance_sum a rapport_events_consumed_total)\" -ge $N ]"

# b joins: the one partition stays with a (cooperative-sticky); b owns nothing and is ready
it_instance b "$IT_TMP/run.ini"
wait_for 90 "it_instance_ready b"
it_assert_eq 0 "$(it_instance_owns b)" "partitions owned by the standby"
it_assert_eq 1 "$(it_instance_owns a)" "partitions owned by the first instance"
it_instance_ready a || it_fail "a is no longer ready"

# a leaves: b takes the partition over, restores it and reaches the end of the data
it_instance_stop a
wait_for 90 "grep -q 'assigned $in \\[0->w[0-9](restore)\\]' '$IT_TMP/b.log'"
wait_for 60 "[ \"\$(it_instance_owns b)\" = 1 ] && it_instance_ready b"
wait_for 60 "it_http http://127.0.0.1:${IT_PORT[b]}/metrics | grep -qx 'rapport_watermark_ms $final_wm'"

it_ids_as_score "$IT_TMP/ev.jsonl" "$in" 20
it_instance_stop b
it_log "ok: a standby owning nothing was ready, then took the partition over ($IT_IDS_BOTH/$IT_IDS_SCORE ids)"
