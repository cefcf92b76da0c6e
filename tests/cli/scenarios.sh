#!/usr/bin/env bash
# scenarios: a `rapport gen` population with known archetypes (2000 customers, 120 days, seed 7)
# through `rapport score`: per archetype, the share of customers with churn_risk and advocate
# enters must meet the rates in scenarios_check.py, and the reasons must name the cause.
# Env: RAPPORT (the binary). Prints the per-archetype table; exits non-zero on any missed rate.
set -euo pipefail
: "${RAPPORT:?RAPPORT must point to the rapport binary}"
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# 120 days from the default start 2026-01-01: the span ends on 2026-05-01.
"$RAPPORT" gen --customers 2000 --days 120 --seed 7 --labels "$tmp/labels.csv" >"$tmp/events.jsonl"
"$RAPPORT" score --until 2026-05-01T00:00:00Z --state-out "$tmp/state.jsonl" "$tmp/events.jsonl" \
    >"$tmp/signals.jsonl" 2>"$tmp/stderr" || {
    cat "$tmp/stderr"
    echo "FAIL: rapport score failed"
    exit 1
}
cat "$tmp/stderr"
if grep -q "rejected" "$tmp/stderr" && ! grep -q " 0 rejected" "$tmp/stderr"; then
    echo "FAIL: rapport score rejected generated events"
    exit 1
fi

# The same pipeline through a pipe and msgpack gives the same signals (ids and all): the
# generator is deterministic and its two formats carry the same events.
"$RAPPORT" gen --customers 2000 --days 120 --seed 7 --format msgpack |
    "$RAPPORT" score --until 2026-05-01T00:00:00Z 2>/dev/null >"$tmp/signals2.jsonl"
sed 's/"emitted_at":[0-9]*,//' "$tmp/signals.jsonl" >"$tmp/a"
sed 's/"emitted_at":[0-9]*,//' "$tmp/signals2.jsonl" >"$tmp/b"
cmp -s "$tmp/a" "$tmp/b" || {
    echo "FAIL: JSON and msgpack runs of the same population gave different signals"
    exit 1
}

python3 "$here/scenarios_check.py" "$tmp/labels.csv" "$tmp/signals.jsonl" "$tmp/state.jsonl" \
    "$tmp/events.jsonl"
