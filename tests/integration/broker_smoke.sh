# broker_smoke: the test broker and the kcat helpers work: 1000 keyed messages go in and come back
# with their keys (read directly and by a consumer group), each key on the partition a Java client
# would pick (murmur2), so that topics produced by kcat in other tests are co-partitioned like
# rapport's own.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

n=1000
parts=4
topic=$(it_topic smoke "$parts")

# Keys cid-1..cid-1000; values carry their key and a ':' to prove the key ends at the first ':'.
for ((i = 1; i <= n; i++)); do echo "cid-$i:value-$i:payload"; done >"$IT_TMP/in"
it_produce "$topic" <"$IT_TMP/in"

# Tab-separated, so that the check below sees where kcat put the end of the key.
it_consume "$topic" "$n" 60 -f '%p\t%k\t%s\n' >"$IT_TMP/out"
it_assert_eq "$n" "$(wc -l <"$IT_TMP/out")" "messages read back"

# Same key:value pairs, none lost, none duplicated, none altered.
cut -f2- "$IT_TMP/out" | sort >"$IT_TMP/got"
sed 's/:/\t/' "$IT_TMP/in" | sort >"$IT_TMP/want"
diff -q "$IT_TMP/want" "$IT_TMP/got" >/dev/null ||
    it_fail "messages differ from what was produced: $(diff "$IT_TMP/want" "$IT_TMP/got" | head -5)"

# Nothing more in the topic than what was produced.
it_assert_eq "$n" "$(it_count "$topic")" "messages in $topic"

# A consumer group (the group coordinator and __consumer_offsets work on one node) reads them all
# too, from all 4 partitions.
group=$(it_group smoke)
timeout 60 kcat -b "$KAFKA_BOOTSTRAP" -G "$group" -X auto.offset.reset=earliest -q -c "$n" \
    -f '%p\n' "$topic" >"$IT_TMP/group" || it_fail "group $group read $(wc -l <"$IT_TMP/group") of $n in 60s"
it_assert_eq "$parts" "$(sort -u "$IT_TMP/group" | wc -l)" "partitions read by group $group"

# Every key on Kafka's default partition: toPositive(murmur2(key)) % partitions, as in
# org.apache.kafka.common.utils.Utils.murmur2.
python3 "$(dirname "$0")/murmur2_check.py" "$IT_TMP/out" "$parts" 'cid-[0-9]+' ||
    it_fail "keys are not on their murmur2 partitions"

it_log "ok: $n keyed messages through $topic, keys on their murmur2 partitions"
