#!/usr/bin/env bash
# readme: the README's signal example is true: its input, run through the `rapport score` command
# the README shows, gives exactly the signals printed there (emitted_at aside, the wall clock).
# Env: RAPPORT (the binary). `bash tests/cli/readme.sh --update` rewrites the README's output
# block from the binary instead of checking it.
set -euo pipefail
: "${RAPPORT:?RAPPORT must point to the rapport binary}"
readme=${README:-$(cd "$(dirname "$0")/../.." && pwd)/README.md}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() {
    echo "FAIL readme: $*" >&2
    exit 1
}

block() { # block NAME: the lines between <!-- NAME:begin --> and <!-- NAME:end -->, no fences
    awk -v b="<!-- $1:begin -->" -v e="<!-- $1:end -->" \
        '$0 == e {on = 0} on && !/^```/ {print} $0 == b {on = 1}' "$readme"
}
block signal-example-input >"$tmp/examples.jsonl"
block signal-example-output >"$tmp/expected"
[ -s "$tmp/examples.jsonl" ] || fail "no signal-example-input block in $readme"
until=$(sed -n 's/.*`rapport score --until \([^ ]*\) examples.jsonl`.*/\1/p' "$readme" | head -1)
[ -n "$until" ] || fail "README does not show the 'rapport score --until T examples.jsonl' command"

"$RAPPORT" score --until "$until" "$tmp/examples.jsonl" >"$tmp/actual" 2>"$tmp/stderr" ||
    fail "rapport score failed: $(cat "$tmp/stderr")"
grep -q ' 0 rejected' "$tmp/stderr" || fail "the example input has rejected lines: $(cat "$tmp/stderr")"

if [ "${1:-}" = --update ]; then
    python3 - "$readme" "$tmp/actual" <<'EOF'
import sys
path, actual = sys.argv[1], open(sys.argv[2], encoding="utf-8").read()
B, E = "<!-- signal-example-output:begin -->", "<!-- signal-example-output:end -->"
text = open(path, encoding="utf-8").read()
head, rest = text.split(B)
_, tail = rest.split(E)
open(path, "w", encoding="utf-8").write(head + B + "\n```json\n" + actual + "```\n" + E + tail)
EOF
    echo "readme: signal example output rewritten"
    exit 0
fi

rc=0
python3 - "$tmp/expected" "$tmp/actual" <<'EOF' || rc=$?
import json, sys
def load(p):
    out = []
    for line in open(p, encoding="utf-8"):
        if line.strip():
            s = json.loads(line)
            s.pop("emitted_at", None)
            out.append(s)
    return out
exp, act = load(sys.argv[1]), load(sys.argv[2])
kinds = sorted({s["kind"] for s in exp})
if kinds != ["advocate", "churn_risk"]:
    sys.exit("the README example should show both kinds, shows %s" % kinds)
if exp != act:
    print("README shows:\n  %s\nrapport score writes:\n  %s" % (
        "\n  ".join(map(json.dumps, exp)), "\n  ".join(map(json.dumps, act))), file=sys.stderr)
    sys.exit(1)
print("readme: signal example ok (%d signals)" % len(act))
EOF
[ "$rc" -eq 0 ] || fail "the README's signal example is stale (RAPPORT=$RAPPORT bash $0 --update)"
