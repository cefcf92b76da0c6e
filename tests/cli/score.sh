#!/usr/bin/env bash
# score: `rapport score` as a user runs it (SPEC §4): help, rejected lines counted by code,
# timers fired by --until, --state-out, JSON and msgpack giving the same signals, determinism,
# input detection, over-large msgpack records.
# Env: RAPPORT (the binary). Exits non-zero on the first failed check.
set -euo pipefail
: "${RAPPORT:?RAPPORT must point to the rapport binary}"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
strip() { sed 's/"emitted_at":[0-9]*,//' "$@"; }

# --help and usage errors
"$RAPPORT" score --help > "$tmp/help" || fail "--help exits non-zero"
grep -q -- "--until" "$tmp/help" && grep -q -- "--state-out" "$tmp/help" || fail "--help text"
set +e
"$RAPPORT" score --no-such-option < /dev/null > /dev/null 2>&1; rc=$?
"$RAPPORT" score --until yesterday < /dev/null > /dev/null 2>&1; rc2=$?
"$RAPPORT" score /no/such/file > /dev/null 2>&1; rc3=$?
set -e
[ "$rc" = 2 ] || fail "unknown option: exit $rc, want 2"
[ "$rc2" = 2 ] || fail "bad --until: exit $rc2, want 2"
[ "$rc3" = 1 ] || fail "missing file: exit $rc3, want 1"

# A complaint nobody resolves, a question answered in time, and bad lines of every kind.
cat > "$tmp/in.jsonl" <<'J'
{"cid":"ann","ts":"2026-01-01T10:00:00Z","type":"complaint","ref":"k1","sentiment":-0.5}
{"cid":"bob","ts":"2026-01-01T10:01:00Z","type":"question","ref":"q1"}
this is not json
{"cid":"bob","ts":"2026-01-01T12:00:00Z","type":"reply","ref":"q1"}
{"cid":"cy","ts":1767268800000,"type":"teleport"}
{"ts":1767268800000,"type":"view"}

{"cid":"dee","ts":"2026-01-01T11:00:00Z","type":"view"}
{"cid":"eve","ts":"2026-01-01T11:54:59Z","type":"view"}
J
"$RAPPORT" score "$tmp/in.jsonl" > "$tmp/sig0" 2> "$tmp/err0" || fail "exit status with bad lines"
cat "$tmp/err0"
grep -q "rejected 1: malformed" "$tmp/err0" || fail "malformed not counted"
grep -q "rejected 1: unknown_type" "$tmp/err0" || fail "unknown_type not counted"
grep -q "rejected 1: missing_field" "$tmp/err0" || fail "missing_field not counted"
grep -q "rejected 2: too_late" "$tmp/err0" || fail "too_late not counted (dee and eve are late)"
grep -q "line 3: malformed" "$tmp/err0" || fail "line number of the malformed line"
grep -q " 3 applied" "$tmp/err0" || fail "applied count"
[ ! -s "$tmp/sig0" ] || fail "no signal before the complaint SLA: $(cat "$tmp/sig0")"

# --until 3 days later: the complaint's SLA timer fires with no new event from ann.
"$RAPPORT" score --until 2026-01-04T12:00:00Z --state-out "$tmp/state" "$tmp/in.jsonl" \
    > "$tmp/sig1" 2> /dev/null
python3 - "$tmp/sig1" "$tmp/state" <<'PY'
import json, sys
sigs = [json.loads(l) for l in open(sys.argv[1])]
assert len(sigs) == 1, sigs
s = sigs[0]
assert (s["cid"], s["kind"], s["transition"], s["episode"]) == ("ann", "churn_risk", "enter", 1), s
# the check is filed where churn_risk crosses 0.70 (to the minute), before the 72 h SLA
opened = 1767261600000
assert opened + 48 * 3600000 < s["as_of"] <= opened + 72 * 3600000, s["as_of"] - opened
assert 0.70 <= s["score"] < 0.7005 and s["previous_score"] < 0.70, s
assert s["reasons"][0]["code"] == "OPEN_COMPLAINT", s
assert len(s["signal_id"]) == 16 and len(s["model"]) == 16
state = [json.loads(l) for l in open(sys.argv[2])]
assert [v["cid"] for v in state] == ["ann", "bob"], state
want = {"cid", "churn_risk", "advocate", "segment", "p_alive", "x", "t_x_weeks", "T_weeks",
        "engagement_short", "engagement_long", "reasons"}
for v in state:
    assert set(v) == want, set(v) ^ want
assert state[0]["segment"] == "at_risk" and state[0]["churn_risk"] >= 0.7, state[0]
assert state[1]["churn_risk"] == 0, state[1]  # answered within the SLA: no friction
PY

# --until before the input's own watermark: the watermark never goes back, the state is written
# as of the watermark (said on stderr), not as of a time before events it already holds.
"$RAPPORT" score --until 2026-01-01T00:00:00Z --state-out "$tmp/state_early" "$tmp/in.jsonl" \
    > /dev/null 2> "$tmp/err_early"
grep -q "is before the input's watermark" "$tmp/err_early" || fail "no word on an early --until"
"$RAPPORT" score --state-out "$tmp/state_wm" "$tmp/in.jsonl" > /dev/null 2> /dev/null
cmp -s "$tmp/state_early" "$tmp/state_wm" || fail "early --until: state not as of the watermark"

# -c: the [scoring] section changes the model (and its fingerprint); a bad key is a configuration
# error (exit 2, as for run and demo) that names file, line and key.
printf '[scoring]\nchurn_risk.enter = 0.3\nchurn_risk.exit = 0.1\n' > "$tmp/low.ini"
"$RAPPORT" score -c "$tmp/low.ini" --until 2026-01-04T12:00:00Z "$tmp/in.jsonl" > "$tmp/sigc" \
    2> /dev/null
grep -q '"cid":"ann".*"threshold":0.3' "$tmp/sigc" || fail "-c: lower enter threshold not used"
[ "$(grep -o '"model":"[0-9a-f]*"' "$tmp/sigc" | head -1)" != \
  "$(grep -o '"model":"[0-9a-f]*"' "$tmp/sig1" | head -1)" ] || fail "-c: same model fingerprint"
printf '[scoring]\nno_such_key = 1\n' > "$tmp/bad.ini"
set +e
"$RAPPORT" score -c "$tmp/bad.ini" "$tmp/in.jsonl" > /dev/null 2> "$tmp/cerr"; rc=$?
set -e
[ "$rc" = 2 ] || fail "-c with a bad key: exit $rc, want 2 (a configuration error)"
grep -q "bad.ini:2" "$tmp/cerr" || fail "-c error names file and line: $(cat "$tmp/cerr")"

# Several files in order, and stdin as `-`: same as one file.
head -n 4 "$tmp/in.jsonl" > "$tmp/a.jsonl"
tail -n +5 "$tmp/in.jsonl" > "$tmp/b.jsonl"
"$RAPPORT" score --until 2026-01-04T12:00:00Z "$tmp/a.jsonl" - < "$tmp/b.jsonl" > "$tmp/sig2" \
    2> /dev/null
cmp <(strip "$tmp/sig1") <(strip "$tmp/sig2") || fail "files + stdin differ from one file"

# A generated population: JSON Lines and msgpack give the same signals; two runs are identical
# except emitted_at.
if "$RAPPORT" gen --help > /dev/null 2>&1; then
    "$RAPPORT" gen --customers 400 --days 45 --seed 9 > "$tmp/g.jsonl"
    "$RAPPORT" gen --customers 400 --days 45 --seed 9 --format msgpack > "$tmp/g.mp"
    "$RAPPORT" score --state-out "$tmp/st1" "$tmp/g.jsonl" > "$tmp/g1" 2> /dev/null
    "$RAPPORT" score --state-out "$tmp/st2" < "$tmp/g.jsonl" > "$tmp/g2" 2> /dev/null
    "$RAPPORT" score --state-out "$tmp/st3" "$tmp/g.mp" > "$tmp/g3" 2> "$tmp/gerr"
    [ "$(wc -l < "$tmp/g1")" -gt 10 ] || fail "a generated population gives signals"
    cmp <(strip "$tmp/g1") <(strip "$tmp/g2") || fail "two runs differ beyond emitted_at"
    cmp <(strip "$tmp/g1") <(strip "$tmp/g3") || fail "msgpack and JSON input differ"
    cmp "$tmp/st1" "$tmp/st2" || fail "--state-out differs between runs"
    cmp "$tmp/st1" "$tmp/st3" || fail "--state-out differs between msgpack and JSON"
    ! grep -q "^rapport score: rejected" "$tmp/gerr" || fail "generated events rejected"
    # a truncated msgpack stream: the last record is counted as malformed, the rest applied
    head -c -3 "$tmp/g.mp" > "$tmp/trunc.mp"
    "$RAPPORT" score "$tmp/trunc.mp" > /dev/null 2> "$tmp/terr"
    grep -q "rejected 1: malformed" "$tmp/terr" || fail "truncated msgpack: $(cat "$tmp/terr")"
fi

# bounded memory: a 3 MB line is one too_large, and the lines after it are still applied; a
# msgpack header claiming 4 GiB is too_large without being buffered
python3 -c '
import sys
w = sys.stdout.write
w("{\"cid\":\"a\",\"ts\":1000,\"type\":\"view\"}\n")
w("{\"cid\":\"b\",\"x\":\"" + "y" * 3000000 + "\"}\n")
w("{\"cid\":\"c\",\"ts\":2000,\"type\":\"view\"}\n")' > "$tmp/long.jsonl"
"$RAPPORT" score --state-out "$tmp/long.st" "$tmp/long.jsonl" > /dev/null 2> "$tmp/lerr"
grep -q "rejected 1: too_large" "$tmp/lerr" || fail "over-long line: $(cat "$tmp/lerr")"
[ "$(cut -d, -f1 "$tmp/long.st" | tr '\n' ' ')" = '{"cid":"a" {"cid":"c" ' ] ||
    fail "lines around an over-long line: $(cut -c1-20 "$tmp/long.st")"
{ printf '\xdb\xff\xff\xff\xff'; head -c 200000 /dev/zero; } > "$tmp/big.mp"
"$RAPPORT" score "$tmp/big.mp" > /dev/null 2> "$tmp/berr"
grep -q "rejected 1: too_large" "$tmp/berr" || fail "4 GiB msgpack header: $(cat "$tmp/berr")"

# Input detection (SPEC §4): msgpack only when the first non-blank byte is a map header; a UTF-8
# byte order mark is skipped, and a bad first line is one rejected line, not a misread input.
ok='{"cid":"a","ts":1700000000000,"type":"view"}'
printf '\xef\xbb\xbf%s\n' "$ok" | "$RAPPORT" score > /dev/null 2> "$tmp/d1"
grep -q " 1 applied, 0 rejected" "$tmp/d1" || fail "byte order mark: $(cat "$tmp/d1")"
printf '[1,2]\n%s\n' "$ok" | "$RAPPORT" score > /dev/null 2> "$tmp/d2"
grep -q " 1 applied, 1 rejected" "$tmp/d2" && grep -q "line 1: not_a_map" "$tmp/d2" ||
    fail "first line [1,2]: $(cat "$tmp/d2")"
printf '\n  not json\n%s\n' "$ok" | "$RAPPORT" score > /dev/null 2> "$tmp/d3"
grep -q " 1 applied, 1 rejected" "$tmp/d3" && grep -q "line 2: malformed" "$tmp/d3" ||
    fail "first line not json: $(cat "$tmp/d3")"
"$RAPPORT" score --help | grep -q "0x80-0x8f, 0xde, 0xdf" || fail "--help: detection rule"

# No event applied: the watermark is none, not INT64_MIN.
"$RAPPORT" score < /dev/null 2> "$tmp/w"
grep -q "watermark none$" "$tmp/w" || fail "empty input: $(cat "$tmp/w")"

# A msgpack record over the largest event, not all buffered when met, is one too_large record and
# the records after it are applied: its extent comes from its headers (str, bin, ext, array and
# map lengths), even when a header straddles a read (the buffer is 1 MiB). A 0xc1 inside it ends
# the input, with the bytes skipped reported and counted.
cat > "$tmp/bigmp.py" <<'PY'
import struct, sys
BUF = 1 << 20  # cmd_score.c's first read
def s(x):
    b = x.encode()
    return bytes([0xa0 | len(b)]) + b
def ev(i, extra=b""):
    return (bytes([0x83 + (1 if extra else 0)]) + s("cid") + s("c%d" % (i % 50)) + s("ts") +
            b"\xcf" + struct.pack(">Q", 1700000000000 + i * 1000) + s("type") + s("view") + extra)
mode, at = sys.argv[1], int(sys.argv[2])
# the big record: an event with a ~200 KB "pad" made of many kinds of headers; heads[] holds the
# offset and size of every header of more than one byte
big = bytearray(b"\x84" + ev(0)[1:] + s("pad") + b"\xdc" + struct.pack(">H", 100))
heads = []
def put(b, hlen):
    if hlen > 1:
        heads.append((len(big), hlen))
    big.extend(b[:hlen])
    return b[hlen:]
for k in range(100):
    if mode == "c1" and k == 99:
        big.extend(b"\xc1" + bytes(3992))  # no value starts with 0xc1: unframeable
    elif k % 3 == 0:
        big.extend(put(b"\xc5" + struct.pack(">H", 3990), 3) + bytes(3990))
    elif k % 3 == 1:
        big.extend(b"\x92")
        big.extend(put(b"\xc7\xff\x05", 3) + bytes(255))
        big.extend(b"\x81" + s("k"))
        big.extend(put(b"\xdb" + struct.pack(">I", 1700), 5) + b"y" * 1700)
    else:
        put(b"\xdd" + struct.pack(">I", 3), 5)
        big.extend(put(b"\xcb" + bytes(8), 9))
        big.extend(put(b"\xd8\x01", 2) + bytes(16))
        big.extend(b"\xc0")
# where the big record starts: so that the first read ends 1 byte into header number `at`
# (counted among those past the first 64 KiB, which are met unbuffered)
late = [h for h in heads if h[0] > 70000]
off, hlen = late[at % len(late)]
start = BUF - off - 1
out = bytearray()
i = 0
while start - len(out) > 280:
    out += ev(i)
    i += 1
fill = start - len(out) - len(ev(i)) - len(s("x")) - 2
out += ev(i, s("x") + b"\xd9" + bytes([fill]) + b"z" * fill)  # an unknown field: still valid
i += 1
assert len(out) == start, (len(out), start)
out += big
for k in range(200):
    out += ev(i + 1 + k)
sys.stdout.buffer.write(out)
print(i + 200, len(big), start, file=sys.stderr)
PY
for at in 0 1 2 3 4 5; do
    python3 "$tmp/bigmp.py" ok "$at" > "$tmp/bigrec.mp" 2> "$tmp/bigrec.want"
    read -r want_applied big_len big_at < "$tmp/bigrec.want"
    "$RAPPORT" score "$tmp/bigrec.mp" > /dev/null 2> "$tmp/bigrec.err"
    grep -q "rapport score: $want_applied applied, 1 rejected," "$tmp/bigrec.err" &&
        grep -q "rejected 1: too_large" "$tmp/bigrec.err" &&
        grep -q "msgpack value of $big_len bytes (from byte $big_at)" "$tmp/bigrec.err" ||
        fail "200 KB msgpack record (header $at at the read's end): $(cat "$tmp/bigrec.err")"
done
cat "$tmp/bigrec.mp" | "$RAPPORT" score > /dev/null 2> "$tmp/bigrec.err2"
grep -q "rapport score: $want_applied applied, 1 rejected," "$tmp/bigrec.err2" ||
    fail "200 KB msgpack record on stdin: $(cat "$tmp/bigrec.err2")"
python3 "$tmp/bigmp.py" c1 0 > "$tmp/bigc1.mp" 2> /dev/null
size=$(wc -c < "$tmp/bigc1.mp")
"$RAPPORT" score "$tmp/bigc1.mp" > /dev/null 2> "$tmp/bigc1.err"
big_at=$(grep -o "from byte [0-9]*" "$tmp/bigc1.err" | head -1 | cut -d' ' -f3)
[ -n "$big_at" ] || fail "0xc1 in a big record: $(cat "$tmp/bigc1.err")"
skipped=$((size - big_at))
grep -q "rejected 1: malformed" "$tmp/bigc1.err" &&
    grep -q "$skipped bytes skipped from byte $big_at to the end" "$tmp/bigc1.err" &&
    grep -q "1 rejected, $skipped bytes skipped," "$tmp/bigc1.err" ||
    fail "0xc1 in a big record: $(cat "$tmp/bigc1.err")"
# a small record with a 0xc1: the bytes from it to the end are counted, not silently lost
{ head -c 60 "$tmp/bigc1.mp"; printf '\x81\xa1k\xc1'; head -c 96 /dev/zero; } > "$tmp/c1.mp"
"$RAPPORT" score "$tmp/c1.mp" > /dev/null 2> "$tmp/c1.err"
grep -q "100 bytes skipped from byte 60" "$tmp/c1.err" && grep -q "rejected 1: malformed" \
    "$tmp/c1.err" || fail "0xc1 in a small record: $(cat "$tmp/c1.err")"
echo "score: ok"
