#!/usr/bin/env bash
# cdnow: the real CDNOW purchase log through `rapport score --until 1997-09-30`: x, t_x and T of
# every customer must equal the published summary, and P(alive) the BG/NBD formula (SPEC §2).
# Env: RAPPORT (the binary), DATA (tests/data). Exits non-zero on any mismatch.
set -euo pipefail
: "${RAPPORT:?RAPPORT must point to the rapport binary}"
DATA=${DATA:-$(cd "$(dirname "$0")/../data" && pwd)}
SRC=$(cd "$(dirname "$0")/../.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Purchases dated on or before 1997-09-30 only: --until is "the state at that time", so later
# purchases are simply not fed (they would move the customers' clocks past it).
python3 "$SRC/scripts/cdnow_to_events.py" "$DATA/cdnow/CDNOW_sample.txt" --until 1997-09-30 \
    > "$tmp/events.jsonl"
"$RAPPORT" score --until 1997-09-30T00:00:00Z --state-out "$tmp/state.jsonl" "$tmp/events.jsonl" \
    > "$tmp/signals.jsonl" 2> "$tmp/stderr"
cat "$tmp/stderr"
grep -q "^rapport score: rejected" "$tmp/stderr" && { echo "FAIL: events were rejected"; exit 1; }

python3 - "$DATA/cdnow/cdnow_customers_summary.csv" "$tmp/state.jsonl" "$tmp/signals.jsonl" <<'PY'
import csv, json, math, sys

r, alpha, a, b = 0.243, 4.414, 0.793, 2.426

def p_alive(x, t_x, T):
    if x == 0:
        return 1.0
    return 1.0 / (1.0 + a / (b + x - 1) * ((alpha + T) / (alpha + t_x)) ** (r + x))

# The README's reference values (rounded there to 4 decimals).
for (x, tx, T), want in [((2, 30.43, 38.86), 0.7266), ((1, 1.71, 38.86), 0.2121),
                         ((10, 34.14, 38.86), 0.8153)]:
    got = p_alive(x, tx, T)
    assert abs(got - want) < 5e-5, (x, tx, T, got, want)

summary = {}
with open(sys.argv[1]) as f:
    for row in csv.DictReader(f):
        summary[row["ID"]] = (int(row["frequency"]), float(row["recency"]), float(row["T"]))

state = {}
with open(sys.argv[2]) as f:
    for line in f:
        v = json.loads(line)
        state[v["cid"]] = v
        for k in ("churn_risk", "advocate", "p_alive", "engagement_short", "engagement_long"):
            assert math.isfinite(v[k]) and 0 <= v[k] <= 1e12, (v["cid"], k, v[k])
        assert 0 <= v["churn_risk"] <= 1 and 0 <= v["advocate"] <= 1, v

bad = 0
if set(state) != set(summary):
    print("FAIL: customers differ: %d in state, %d in summary, %d in common"
          % (len(state), len(summary), len(set(state) & set(summary))))
    bad += 1
worst_p = 0.0
for cid, (x, tx, T) in summary.items():
    v = state.get(cid)
    if v is None:
        continue
    errs = []
    if v["x"] != x:
        errs.append("x %r != %r" % (v["x"], x))
    if abs(v["t_x_weeks"] - tx) > 0.005 + 1e-9:
        errs.append("t_x %r != %r" % (v["t_x_weeks"], tx))
    if abs(v["T_weeks"] - T) > 0.005 + 1e-9:
        errs.append("T %r != %r" % (v["T_weeks"], T))
    # P(alive) against the formula on the exact (unrounded) weeks of the log...
    want = p_alive(v["x"], v["t_x_weeks"], v["T_weeks"])
    # ...and on the summary's rounded weeks (the rounding moves it by < 1e-3).
    want_rounded = p_alive(x, tx, T)
    worst_p = max(worst_p, abs(v["p_alive"] - want_rounded))
    if abs(v["p_alive"] - want) > 1e-9 or abs(v["p_alive"] - want_rounded) > 1e-3:
        errs.append("p_alive %r != %r (rounded summary: %r)" % (v["p_alive"], want, want_rounded))
    if errs:
        bad += 1
        if bad <= 10:
            print("FAIL cid %s: %s" % (cid, "; ".join(errs)))

# The three reference customers of the README, as found in the log.
refs = {"1": 0.7266, "2": 0.2121}
for cid, want in refs.items():
    if abs(state[cid]["p_alive"] - want) > 1e-3:
        print("FAIL reference cid %s: p_alive %r, want %r" % (cid, state[cid]["p_alive"], want))
        bad += 1
tens = [v for v in state.values() if v["x"] == 10 and abs(v["t_x_weeks"] - 34.14) < 0.01
        and abs(v["T_weeks"] - 38.86) < 0.01]
if not tens or any(abs(v["p_alive"] - 0.8153) > 1e-3 for v in tens):
    print("FAIL reference (10, 34.14, 38.86): %r" % [(v["cid"], v["p_alive"]) for v in tens])
    bad += 1

# Signals are well-formed JSON Lines with the SPEC §3 fields.
fields = {"signal_id", "cid", "kind", "transition", "score", "previous_score", "threshold",
          "segment", "reasons", "as_of", "emitted_at", "episode", "model"}
n = 0
with open(sys.argv[3]) as f:
    for line in f:
        s = json.loads(line)
        n += 1
        if set(s) != fields:
            print("FAIL signal fields: %r" % sorted(set(s) ^ fields))
            bad += 1
            break

print("cdnow: %d customers checked, %d mismatches, max |p_alive - formula(summary)| = %.2e, "
      "%d signals" % (len(summary), bad, worst_p, n))
sys.exit(1 if bad else 0)
PY
