#!/usr/bin/env bash
# gen: `rapport gen` as a user drives it: help, option errors, determinism by seed, the exact
# --events count (0: the default), -o and --labels files, --start, --mix, JSON Lines that are
# valid events, --rate pacing with --duration, and --brokers progress (librdkafka mock cluster).
# Env: RAPPORT (the binary). Exits non-zero on the first failed check.
set -euo pipefail
: "${RAPPORT:?RAPPORT must point to the rapport binary}"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() {
    echo "FAIL gen: $*" >&2
    exit 1
}

# --help documents every option and archetype, on stdout, status 0.
"$RAPPORT" gen --help >"$tmp/help" || fail "--help exited non-zero"
for word in --customers --seed --days --events --rate --start --mix --format --labels --brokers \
    --topic --duration loyal advocate drifting silent_churner ignored_complainer \
    served_complainer transactional window_shopper unsubscriber; do
    grep -q -- "$word" "$tmp/help" || fail "--help does not mention $word"
done

# Usage errors exit 2 with a message naming the problem.
expect_usage_error() {
    local rc=0
    "$RAPPORT" gen "$@" >/dev/null 2>"$tmp/err" || rc=$?
    [ "$rc" -eq 2 ] || fail "'gen $*' exited $rc, want 2"
    grep -q "rapport gen" "$tmp/err" || fail "'gen $*' printed no message"
}
expect_usage_error --customers 0
expect_usage_error --customers abc
expect_usage_error --days -1
expect_usage_error --format xml
expect_usage_error --mix nobody=3
expect_usage_error --start yesterday
expect_usage_error --brokers 127.0.0.1:9092
expect_usage_error --bogus
expect_usage_error extra-argument
expect_usage_error --brokers 127.0.0.1:1 --topic t -X noequals
expect_usage_error --brokers 127.0.0.1:1 --topic t -X no.such.property=1

# Same seed, same bytes; another seed, other bytes.
"$RAPPORT" gen --customers 300 --days 20 --seed 4 >"$tmp/a"
"$RAPPORT" gen --customers 300 --days 20 --seed 4 >"$tmp/b"
"$RAPPORT" gen --customers 300 --days 20 --seed 5 >"$tmp/c"
cmp -s "$tmp/a" "$tmp/b" || fail "same seed gave different output"
cmp -s "$tmp/a" "$tmp/c" && fail "different seeds gave the same output"
[ "$(wc -l <"$tmp/a")" -gt 3000 ] || fail "only $(wc -l <"$tmp/a") events for 300 customers x 20 days"

# -o FILE writes what stdout would; msgpack differs from JSON but has the same event count.
"$RAPPORT" gen --customers 300 --days 20 --seed 4 -o "$tmp/o" --labels "$tmp/labels"
cmp -s "$tmp/a" "$tmp/o" || fail "-o FILE differs from stdout"
[ "$(wc -l <"$tmp/labels")" -eq 301 ] || fail "labels: $(wc -l <"$tmp/labels") lines, want 301"
head -1 "$tmp/labels" | grep -qx 'cid,archetype' || fail "labels: no header"

# --events N: exactly N events; --start moves the span.
"$RAPPORT" gen --customers 100 --days 5 --events 1234 --start 2025-06-01T00:00:00Z >"$tmp/n"
[ "$(wc -l <"$tmp/n")" -eq 1234 ] || fail "--events 1234 gave $(wc -l <"$tmp/n") events"

# --events 0 is the default (natural density), and --help says so rather than "exactly 0".
"$RAPPORT" gen --customers 5 --days 3 --events 0 >"$tmp/e0"
"$RAPPORT" gen --customers 5 --days 3 >"$tmp/e0d"
cmp -s "$tmp/e0" "$tmp/e0d" || fail "--events 0 differs from the default"
grep -q -- "--days; 0 (the default): every event of the span" "$tmp/help" ||
    fail "--help does not say what --events 0 means"

# --mix: only drifting customers; the labels say so.
"$RAPPORT" gen --customers 50 --days 5 --mix only:drifting=1 --labels "$tmp/l2" >/dev/null
[ "$(grep -c ',drifting$' "$tmp/l2")" -eq 50 ] || fail "--mix only:drifting=1 not honoured"

# JSON Lines: every line a valid event of SPEC §1 with the fields its type needs, in time order,
# inside the span, from customers of the labels file.
python3 - "$tmp/a" "$tmp/n" "$tmp/labels" <<'PY' || fail "JSON output is not valid events"
import csv, json, sys
types = {"view", "click", "login", "email_open", "like", "comment", "signup", "purchase", "refund",
         "question", "reply", "complaint", "resolution", "review", "nps", "mention", "share",
         "referral", "answer", "unsubscribe"}
cids = {r["cid"] for r in csv.DictReader(open(sys.argv[3]))}

def check(path, start, end, known):
    last = 0
    for i, line in enumerate(open(path)):
        e = json.loads(line)
        where = f"{path}:{i + 1}"
        assert e.get("v", 1) == 1, where
        assert e["type"] in types, where
        assert start <= e["ts"] < end and e["ts"] >= last, f"{where}: ts {e['ts']}"
        last = e["ts"]
        if known:
            assert e["cid"] in cids, f"{where}: unknown cid {e['cid']}"
        t = e["type"]
        if t in ("purchase", "refund"):
            assert e["value"] >= 0, where
        if t == "nps":
            assert 0 <= e["score"] <= 10, where
        if t == "review":
            assert 1 <= e["score"] <= 5, where
        if t in ("question", "reply", "complaint", "resolution"):
            assert 1 <= len(e["ref"]) <= 64, where
        if t in ("referral", "answer"):
            assert e["target"] and e["target"] != e["cid"], where
        if "sentiment" in e:
            assert -1 <= e["sentiment"] <= 1, where

day = 86400000
check(sys.argv[1], 1767225600000, 1767225600000 + 20 * day, True)
# --events runs may pass the span's end a little
check(sys.argv[2], 1748736000000, 1748736000000 + 8 * day, False)
PY

# --rate 500 for --duration 1: about 500 events in about a second.
t0=$(date +%s%N)
"$RAPPORT" gen --customers 100 --days 30 --rate 500 --duration 1 >"$tmp/r"
t1=$(date +%s%N)
n=$(wc -l <"$tmp/r")
ms=$(((t1 - t0) / 1000000))
[ "$n" -ge 400 ] && [ "$n" -le 520 ] || fail "--rate 500 --duration 1 wrote $n events"
[ "$ms" -ge 900 ] && [ "$ms" -le 5000 ] || fail "--rate 500 --duration 1 took $ms ms"
# --brokers: the final progress line (the end state) is printed once. librdkafka's mock cluster
# (-X test.mock.num.brokers) stands in for Kafka; 30 events at 20/s outlast the first report
# second, so the drain loop runs after a report is due.
"$RAPPORT" gen --customers 5 --days 1 --events 30 --rate 20 --brokers 127.0.0.1:1 --topic t \
    -X test.mock.num.brokers=1 >"$tmp/k.out" 2>"$tmp/k.err" ||
    fail "--brokers (mock): $(cat "$tmp/k.err")"
grep -qx "delivered 30 events" "$tmp/k.out" || fail "--brokers (mock): $(cat "$tmp/k.out")"
n=$(grep -c "^gen: .* produced 30 delivered 30 failed 0 " "$tmp/k.err" || true)
[ "$n" -eq 1 ] || fail "--brokers: the final progress line printed $n times: $(cat "$tmp/k.err")"
echo "gen: all checks passed"
