# gen_kafka: `rapport gen` into the real broker: it reports the count it delivered and exactly
# that many messages are in the topic, keyed by cid on the partition a Java client would pick,
# each value an event of that customer; and a run whose deliveries fail exits non-zero.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
: "${RAPPORT:?RAPPORT must point to the rapport binary}"

parts=4
n=20000

# 1. msgpack, as fast as it goes: the reported count is what the topic holds.
topic=$(it_topic gen "$parts")
rc=0
"$RAPPORT" gen --brokers "$KAFKA_BOOTSTRAP" --topic "$topic" --events "$n" --format msgpack \
    --customers 2000 --days 30 --seed 5 >"$IT_TMP/out" 2>"$IT_TMP/err" || rc=$?
[ "$rc" -eq 0 ] || it_fail "rapport gen exited $rc: $(tail -5 "$IT_TMP/err")"
grep -Eq '^gen: .* delivered [0-9]+ ' "$IT_TMP/err" || it_fail "no progress line on stderr"
reported=$(sed -n 's/^delivered \([0-9][0-9]*\) events$/\1/p' "$IT_TMP/out")
[ -n "$reported" ] || it_fail "no 'delivered N events' line on stdout: $(cat "$IT_TMP/out")"
it_assert_eq "$n" "$reported" "events reported delivered"
it_assert_eq "$reported" "$(it_count "$topic")" "messages in $topic"
it_log "msgpack: delivered $reported, read back $reported"

# Keys: cids of the population, every one on its murmur2 partition (as the Java client puts it),
# and all four partitions used.
it_consume_all "$topic" -f '%p\t%k\n' >"$IT_TMP/keys"
python3 "$(dirname "$0")/murmur2_check.py" "$IT_TMP/keys" "$parts" 'c(1?[0-9]{1,3})' ||
    it_fail "keys are not cids on their murmur2 partitions"

# 2. JSON values: each message is one event of the customer in its key, and each customer's
# events are in event-time order in its partition.
topic_json=$(it_topic genjson "$parts")
"$RAPPORT" gen --brokers "$KAFKA_BOOTSTRAP" --topic "$topic_json" --events 3000 --format json \
    --customers 300 --days 10 --seed 9 >"$IT_TMP/out2" 2>"$IT_TMP/err2" ||
    it_fail "rapport gen (json) failed: $(tail -5 "$IT_TMP/err2")"
it_assert_eq "delivered 3000 events" "$(cat "$IT_TMP/out2")" "json run's report"
it_consume_all "$topic_json" -f '%k\t%s\n' >"$IT_TMP/json"
it_assert_eq 3000 "$(wc -l <"$IT_TMP/json")" "json messages read back"
python3 - "$IT_TMP/json" <<'EOF' || it_fail "JSON values do not match their keys or order"
import json, sys
last = {}
for line in open(sys.argv[1]):
    k, v = line.rstrip("\n").split("\t", 1)
    e = json.loads(v)
    assert e["cid"] == k, f"value of {e['cid']} under key {k}"
    assert e["ts"] >= last.get(k, 0), f"{k}: events out of order"
    last[k] = e["ts"]
EOF

# 3. Pacing: --rate holds the wall-clock rate and --duration stops it; still all delivered.
topic_rate=$(it_topic genrate 2)
t0=$(date +%s.%N)
"$RAPPORT" gen --brokers "$KAFKA_BOOTSTRAP" --topic "$topic_rate" --rate 2000 --duration 3 \
    --customers 500 --days 30 >"$IT_TMP/out3" 2>"$IT_TMP/err3" ||
    it_fail "rapport gen --rate failed: $(tail -5 "$IT_TMP/err3")"
t1=$(date +%s.%N)
paced=$(sed -n 's/^delivered \([0-9][0-9]*\) events$/\1/p' "$IT_TMP/out3")
python3 -c "import sys; n,t=int(sys.argv[1]),float(sys.argv[3])-float(sys.argv[2]); \
assert 4000 <= n <= 6200, f'{n} events in 3 s at 2000/s'; assert 2.5 <= t <= 20, f'took {t:.1f} s'" \
    "$paced" "$t0" "$t1" || it_fail "pacing: $paced events, $(tail -2 "$IT_TMP/err3")"
it_assert_eq "$paced" "$(it_count "$topic_rate")" "paced messages in $topic_rate"
it_log "paced: $paced events in 3 s at --rate 2000"

# 4. Failed deliveries make it exit non-zero: nothing listens on port 1.
rc=0
"$RAPPORT" gen --brokers 127.0.0.1:1 --topic nowhere --events 50 -X message.timeout.ms=2000 \
    >"$IT_TMP/out4" 2>"$IT_TMP/err4" || rc=$?
[ "$rc" -ne 0 ] || it_fail "rapport gen to a dead broker exited 0"
it_assert_eq "delivered 0 events" "$(cat "$IT_TMP/out4")" "report of a dead broker run"
grep -q "failed" "$IT_TMP/err4" || it_fail "no failure message: $(tail -3 "$IT_TMP/err4")"
it_log "ok"
