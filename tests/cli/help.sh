#!/usr/bin/env bash
# help: every subcommand's --help exits 0 and lists exactly the options that the README's
# "Command line" section documents for it (both ways), and the README documents every subcommand
# that `rapport --help` lists.
# Also: `rapport --version` names the allocator the build links (ALLOCATOR, when set).
# Env: RAPPORT (the binary), ALLOCATOR (optional). Exits non-zero on the first failed check.
set -euo pipefail
: "${RAPPORT:?RAPPORT must point to the rapport binary}"
readme=${README:-$(cd "$(dirname "$0")/../.." && pwd)/README.md}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() {
    echo "FAIL help: $*" >&2
    exit 1
}

"$RAPPORT" --version >"$tmp/version" || fail "rapport --version exited non-zero"
grep -q '^rapport [0-9]' "$tmp/version" || fail "rapport --version: no version line"
# (the allocator the build links: ALLOCATOR, set by tests/CMakeLists.txt)
if [ -n "${ALLOCATOR:-}" ]; then
    grep -q "^allocator: $ALLOCATOR" "$tmp/version" ||
        fail "rapport --version: want 'allocator: $ALLOCATOR', got: $(tr '\n' ' ' <"$tmp/version")"
fi

"$RAPPORT" --help >"$tmp/top" || fail "rapport --help exited non-zero"
commands=$(sed -n 's/^  \([a-z][a-z]*\)  *.*/\1/p' "$tmp/top")
[ "$(echo "$commands" | wc -w)" -ge 4 ] || fail "rapport --help lists only: $commands"
rc=0
"$RAPPORT" >/dev/null 2>&1 || rc=$?
[ "$rc" -eq 2 ] || fail "rapport without a command exited $rc, want 2"

for cmd in $commands; do
    "$RAPPORT" "$cmd" --help >"$tmp/$cmd.help" 2>"$tmp/$cmd.err" ||
        fail "rapport $cmd --help exited non-zero"
    [ -s "$tmp/$cmd.help" ] || fail "rapport $cmd --help printed nothing on stdout"
    grep -q "usage: rapport $cmd" "$tmp/$cmd.help" || fail "rapport $cmd --help: no usage line"
    "$RAPPORT" "$cmd" -h >"$tmp/$cmd.h" 2>/dev/null || fail "rapport $cmd -h exited non-zero"
    cmp -s "$tmp/$cmd.help" "$tmp/$cmd.h" || fail "rapport $cmd -h differs from --help"
done

rc=0
python3 - "$readme" "$tmp" $commands <<'EOF' || rc=$?
import re, sys

readme, tmp, commands = sys.argv[1], sys.argv[2], sys.argv[3:]
text = open(readme, encoding="utf-8").read()
opt = re.compile(r"^(--?[A-Za-z][A-Za-z0-9-]*)")

def readme_options(cmd):
    """Options in the first cell of the table rows under README's ### `rapport CMD` heading."""
    m = re.search(r"^### `rapport %s`\s*$(.*?)(?=^##)" % re.escape(cmd), text, re.M | re.S)
    if not m:
        return None
    found = set()
    for line in m.group(1).splitlines():
        cells = line.split("|")
        if not line.startswith("|") or len(cells) < 3:
            continue
        for item in re.findall(r"`([^`]+)`", cells[1]):
            o = opt.match(item)
            if o:
                found.add(o.group(1))
    return found

def help_options(cmd):
    """Options of the help text: lines that start with two blanks and a dash."""
    found = set()
    for line in open("%s/%s.help" % (tmp, cmd), encoding="utf-8"):
        if not re.match(r"^  -", line):
            continue
        for item in line.strip().split(", "):
            o = opt.match(item)
            if not o:
                break
            found.add(o.group(1))
    return found

problems = []
documented = re.findall(r"^### `rapport ([a-z]+)`\s*$", text, re.M)
for cmd in documented:
    if cmd not in commands:
        problems.append("README documents `rapport %s`, which rapport --help does not list" % cmd)
for cmd in commands:
    doc = readme_options(cmd)
    if doc is None:
        problems.append("README has no ### `rapport %s` section" % cmd)
        continue
    hlp = help_options(cmd)
    if len(doc) < 2 or len(hlp) < 2:
        problems.append("%s: too few options found (README %s, help %s)" % (cmd, doc, hlp))
    for o in sorted(doc - hlp):
        problems.append("rapport %s --help does not list %s, which README documents" % (cmd, o))
    for o in sorted(hlp - doc):
        problems.append("README does not document %s, which rapport %s --help lists" % (o, cmd))
    if not problems:
        print("help: %s: %s" % (cmd, " ".join(sorted(doc))))
if problems:
    print("\n".join(problems), file=sys.stderr)
    sys.exit(1)
EOF
[ "$rc" -eq 0 ] || fail "README.md and the help texts disagree (above)"
echo "help: ok ($(echo $commands))"
