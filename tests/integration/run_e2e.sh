#!/usr/bin/env bash
# run_e2e: `rapport run` (2 workers) on the real broker against `rapport score` on the same
# events: same signal ids (>= 99 %), bad messages in the dead-letter topic with their codes and
# provenance headers, consumed = applied + dead-lettered per partition on /metrics, /readyz,
# /customers/{cid}, clean exit on SIGTERM.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
: "${RAPPORT:?RAPPORT must point at the rapport binary}"


N=30000
in=$(it_topic in 4)
group=$(it_group)

# The population, produced by kcat (a client that is not ours), keyed by cid, murmur2.
"$RAPPORT" gen --customers 2000 --days 90 --events $N --seed 11 >"$IT_TMP/ev.jsonl"
[ "$(wc -l <"$IT_TMP/ev.jsonl")" -eq $N ] || it_fail "rapport gen did not write $N events"
it_produce_events "$in" "$IT_TMP/ev.jsonl"
"$RAPPORT" score "$IT_TMP/ev.jsonl" >"$IT_TMP/score.jsonl" 2>"$IT_TMP/score.err" ||
    it_fail "rapport score failed: $(cat "$IT_TMP/score.err")"
final_wm=$(($(it_max_ts "$IT_TMP/ev.jsonl") - 300000)) # allowed_lateness 5m

it_engine_config "$IT_TMP/run.ini" "$in" "$in" "$group" 500ms

it_engine_start run "$IT_TMP/run.ini"
run_pid=$IT_LAST_PID
port=$IT_LAST_PORT
url=http://127.0.0.1:$port
metric_sum() { it_metric_sum "$port" "$1"; } # NAME: summed over its labels
metric() { it_metric "$port" "$1"; }         # SERIES name{labels}: its value

wait_for 30 "it_http $url/readyz >/dev/null 2>&1"
wait_for 120 "[ \"\$(metric_sum rapport_events_consumed_total)\" -eq $N ]"
# every partition idle -> the watermark goes to the end of the data, as `rapport score` ends
wait_for 60 "[ \"\$(metric rapport_watermark_ms)\" = $final_wm ]"
it_log "consumed $N, watermark at the end of the data"

# Bad messages, after the population (so that the too_late one is behind the watermark).
{
    printf 'bad-malformed\t{"cid":"b1","ts":\n'
    printf 'bad-not-a-map\t[1,2,3]\n'
    printf 'bad-missing\t{"cid":"b3","type":"view"}\n'
    printf 'bad-type\t{"cid":"b4","ts":1767226578748,"type":"teleport"}\n'
    printf 'bad-version\t{"v":2,"cid":"b5","ts":1767226578748,"type":"view"}\n'
    printf 'bad-range\t{"cid":"b6","ts":1767226578748,"type":"nps","score":11}\n'
    printf 'bad-late\t{"cid":"b7","ts":1000,"type":"view"}\n'
} | "${IT_KCAT[@]}" -P -t "$in" -K $'\t' -X acks=all || it_fail "kcat could not produce bad messages"
wait_for 60 "[ \"\$(metric_sum rapport_events_consumed_total)\" -eq $((N + 7)) ]"

# Dead letters: the original key and value, the code, the provenance.
it_consume "$in.dlq" 7 60 -f '%k\t%s\t%h\n' >"$IT_TMP/dlq"
while IFS=' ' read -r key code; do
    line=$(grep "^$key"$'\t' "$IT_TMP/dlq") || it_fail "no dead letter for $key"
    [[ "$line" == *"rapport.error=$code"* ]] || it_fail "dead letter $key: want code $code: $line"
    [[ "$line" == *"rapport.topic=$in"* && "$line" == *rapport.partition=* &&
        "$line" == *rapport.offset=* && "$line" == *rapport.detail=* ]] ||
        it_fail "dead letter $key lacks provenance headers: $line"
done <<CODES
bad-malformed malformed
bad-not-a-map not_a_map
bad-missing missing_field
bad-type unknown_type
bad-version unsupported_version
bad-range out_of_range
bad-late too_late
CODES
grep -q $'^bad-malformed\t{"cid":"b1","ts":\t' "$IT_TMP/dlq" || it_fail "dead letter value altered"

# consumed = applied + dead-lettered, per partition.
it_http "$url/metrics" >"$IT_TMP/metrics"
for p in 0 1 2 3; do
    c=$(awk -v p="$p" '$1 == "rapport_events_consumed_total{partition=\""p"\"}" {print $2}' "$IT_TMP/metrics")
    a=$(awk -v p="$p" '$1 == "rapport_events_applied_total{partition=\""p"\"}" {print $2}' "$IT_TMP/metrics")
    d=$(awk -v p="$p" 'index($1, "rapport_events_dead_lettered_total{partition=\""p"\"") == 1 {s += $2} END {print s + 0}' "$IT_TMP/metrics")
    [ -n "$c" ] && [ "$c" -gt 0 ] || it_fail "partition $p: no consumed count"
    [ "$c" -eq $((a + d)) ] || it_fail "partition $p: consumed $c != applied $a + dead-lettered $d"
done
dl=$(awk 'index($1, "rapport_events_dead_lettered_total{") == 1 {s += $2} END {print s + 0}' "$IT_TMP/metrics")
it_assert_eq 7 "$dl" "dead-lettered total"

# Signals: everything counted reaches the topics; ids against rapport score.
signals=$(metric_sum rapport_signals_total)
wait_for 60 "[ \$((\$(it_count $in.churn) + \$(it_count $in.advocate))) -eq $signals ]"
{ it_consume_all "$in.churn" -f '%s\n'; it_consume_all "$in.advocate" -f '%s\n'; } |
    it_signal_ids | sort -u >"$IT_TMP/run.ids"
it_signal_ids <"$IT_TMP/score.jsonl" | sort -u >"$IT_TMP/score.ids"
nr=$(wc -l <"$IT_TMP/run.ids")
ns=$(wc -l <"$IT_TMP/score.ids")
both=$(comm -12 "$IT_TMP/run.ids" "$IT_TMP/score.ids" | wc -l)
it_log "signals: run $nr, score $ns, both $both"
[ "$ns" -gt 50 ] || it_fail "too few signals from rapport score ($ns) for a meaningful comparison"
[ $((both * 100)) -ge $((ns * 99)) ] && [ $((both * 100)) -ge $((nr * 99)) ] ||
    it_fail "signal ids differ: run $nr, score $ns, in both $both (< 99 %)"

# /customers/{cid}: a known customer from its owner, an unknown one is 404.
cid=$(head -1 "$IT_TMP/ev.jsonl" | sed -E 's/.*"cid":"([^"]*)".*/\1/')
it_http "$url/customers/$cid" | python3 -c '
import json, sys
v = json.load(sys.stdin)
sys.exit(0 if v["cid"] == sys.argv[1] and isinstance(v["churn_risk"], (int, float)) else 1)' "$cid" ||
    it_fail "/customers/$cid"
code=$(curl -s -o /dev/null -w '%{http_code}' "$url/customers/nobody-here")
it_assert_eq 404 "$code" "/customers of an unknown customer"

rc=0
it_stop "$run_pid" 60 || rc=$?
it_assert_eq 0 "$rc" "exit status after SIGTERM"
grep -q 'rapport: stopped$' "$IT_TMP/run.log" || it_fail "no clean stop in the log"
it_log "ok: $both/$ns signal ids as rapport score, 7 dead letters with codes, metrics balanced"
