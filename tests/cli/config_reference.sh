#!/usr/bin/env bash
# config_reference: the README's configuration reference (between its config-reference markers)
# names exactly the keys the code knows, with the code's defaults and meanings: compared with
# `rapport run --print-config-reference`, generated from the parser's own key table.
# Env: RAPPORT (the binary). `bash tests/cli/config_reference.sh --update` rewrites the README's
# block from the binary instead of checking it.
set -euo pipefail
: "${RAPPORT:?RAPPORT must point to the rapport binary}"
readme=${README:-$(cd "$(dirname "$0")/../.." && pwd)/README.md}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() {
    echo "FAIL config_reference: $*" >&2
    echo "(regenerate: RAPPORT=$RAPPORT bash $0 --update)" >&2
    exit 1
}

"$RAPPORT" run --print-config-reference >"$tmp/raw" || fail "--print-config-reference exited non-zero"
[ -s "$tmp/raw" ] || fail "--print-config-reference printed nothing"
# The reference sits under the README's "## Configuration": its headings go two levels down.
sed -e 's/^## /#### /' -e 's/^# /### /' "$tmp/raw" >"$tmp/code"

rc=0
python3 - "$readme" "$tmp/code" "${1:-}" <<'EOF' || rc=$?
import re, sys

readme_path, code_path, mode = sys.argv[1], sys.argv[2], sys.argv[3]
BEGIN, END = "<!-- config-reference:begin -->", "<!-- config-reference:end -->"
text = open(readme_path, encoding="utf-8").read()
code = open(code_path, encoding="utf-8").read()
if text.count(BEGIN) != 1 or text.count(END) != 1 or text.index(BEGIN) > text.index(END):
    sys.exit("README.md must hold exactly one %s ... %s block" % (BEGIN, END))
head, rest = text.split(BEGIN)
block, tail = rest.split(END)

if mode == "--update":
    open(readme_path, "w", encoding="utf-8").write(head + BEGIN + "\n" + code + END + tail)
    print("config_reference: README.md block rewritten")
    sys.exit(0)
if mode:
    sys.exit("unknown argument " + mode)

def keys(md):
    """{section.key: (default, meaning)} from the reference's tables, and the section order."""
    out, order, section = {}, [], None
    for line in md.splitlines():
        m = re.match(r"^#+ \[([a-z_]+)\]\s*$", line)
        if m:
            section = m.group(1)
            order.append(section)
            continue
        m = re.match(r"^\| `([^`]+)` \| (.*?) \| (.*) \|$", line)
        if m and section:
            k = section + "." + m.group(1)
            if k in out:
                sys.exit("key %s listed twice" % k)
            out[k] = (m.group(2), m.group(3))
    return out, order

doc, doc_sections = keys(block)
ref, ref_sections = keys(code)
if len(ref) < 20:
    sys.exit("the code's reference lists only %d keys: parsing went wrong" % len(ref))
problems = []
for k in sorted(set(ref) - set(doc)):
    problems.append("in the code, missing from README.md: " + k)
for k in sorted(set(doc) - set(ref)):
    problems.append("in README.md, unknown to the code: " + k)
for k in sorted(set(doc) & set(ref)):
    if doc[k][0] != ref[k][0]:
        problems.append("%s: README.md default %s, code default %s" % (k, doc[k][0], ref[k][0]))
    elif doc[k][1] != ref[k][1]:
        problems.append("%s: README.md meaning differs from the code's" % k)
if doc_sections != ref_sections:
    problems.append("sections differ: README.md %s, code %s" % (doc_sections, ref_sections))
if not problems and block.strip() != code.strip():
    problems.append("same keys, defaults and meanings, but the surrounding text differs")
if problems:
    print("\n".join(problems), file=sys.stderr)
    sys.exit(1)
print("config_reference: ok (%d keys in %d sections)" % (len(ref), len(ref_sections)))
EOF
[ "$rc" -eq 0 ] || fail "README.md and the code disagree (above)"
