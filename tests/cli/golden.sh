#!/usr/bin/env bash
# golden: the signals of a fixed `rapport gen` population through `rapport score` are exactly those
# pinned in tests/cli/golden.sha256: ids, kinds, transitions, episodes, as_of, segments, reason
# codes, and scores to 4 decimals (to the side of float rounding). A speed-up of the operators must
# leave them unchanged; a deliberate model change regenerates the pin and says why in its commit:
#   RAPPORT=build/rapport bash tests/cli/golden.sh --update
# Env: RAPPORT (the binary).
set -euo pipefail
: "${RAPPORT:?RAPPORT must point to the rapport binary}"
here=$(cd "$(dirname "$0")" && pwd)
pin=$here/golden.sha256
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

"$RAPPORT" gen --customers 3000 --days 120 --seed 11 --format msgpack >"$tmp/events.mp"
"$RAPPORT" score --until 2026-05-01T00:00:00Z "$tmp/events.mp" >"$tmp/signals.jsonl" 2>"$tmp/err"
python3 - "$tmp/signals.jsonl" >"$tmp/canon" <<'PY'
import json, sys
rows = []
for line in open(sys.argv[1]):
    s = json.loads(line)
    rows.append("%s %s %s %s %d %d %s %s %.4f %.4f" % (
        s["signal_id"], s["cid"], s["kind"], s["transition"], s["episode"], s["as_of"],
        s["segment"], ",".join(r["code"] for r in s["reasons"]), s["score"], s["previous_score"]))
rows.sort()
print("\n".join(rows))
PY
n=$(wc -l <"$tmp/canon")
sum=$(sha256sum "$tmp/canon" | cut -d' ' -f1)
if [ "${1:-}" = "--update" ]; then
    echo "$sum $n" >"$pin"
    echo "golden: pinned $n signals ($sum)"
    exit 0
fi
[ "$n" -gt 1000 ] || { echo "FAIL golden: only $n signals"; cat "$tmp/err"; exit 1; }
want=$(cat "$pin")
if [ "$sum $n" != "$want" ]; then
    echo "FAIL golden: signals changed: got $sum over $n signals, pinned $want"
    echo "(a deliberate model change: RAPPORT=$RAPPORT bash $0 --update, and say why in the commit)"
    exit 1
fi
echo "golden: $n signals as pinned"
