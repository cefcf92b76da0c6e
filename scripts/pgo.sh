#!/usr/bin/env bash
# A profile-guided build of rapport (and its benchmarks) in BUILD_DIR (default build-pgo):
#   1. an instrumented build (RP_PGO=generate);
#   2. training on the product's own offline path: `rapport gen` writes 1 M events of 200 k
#      customers over 60 days (msgpack, and a JSON Lines slice), `rapport score` scores them and
#      fires the timers to the end of the span;
#   3. the optimised build from those profiles (RP_PGO=use), in the same folder (profiles are
#      named after the object files).
# Same signals as the default build, bit for bit; bench/RESULTS.md has the speed-up.
set -euo pipefail
cd "$(dirname "$0")/.."
B=${1:-build-pgo}
rm -rf "$B/pgo"
cmake -S . -B "$B" -G Ninja -DRP_PGO=generate -DRP_TESTS=OFF >/dev/null
cmake --build "$B"
t=$(mktemp -d)
trap 'rm -rf "$t"' EXIT
"$B/rapport" gen --customers 200000 --days 60 --events 1000000 --seed 7 --format msgpack \
    -o "$t/train.mp"
"$B/rapport" gen --customers 20000 --days 30 --events 100000 --seed 8 -o "$t/train.jsonl"
"$B/rapport" score --until 2026-03-15T00:00:00Z "$t/train.mp" >/dev/null 2>&1
"$B/rapport" score --until 2026-02-15T00:00:00Z "$t/train.jsonl" >/dev/null 2>&1
cmake -S . -B "$B" -DRP_PGO=use >/dev/null
cmake --build "$B"
echo "profile-guided build in $B ($B/rapport, $B/bench/)"
