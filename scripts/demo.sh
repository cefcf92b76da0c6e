#!/usr/bin/env bash
# The demo on a fresh Debian/Ubuntu machine: installs what is missing (scripts/setup.sh, without
# the test tools), builds, then runs `rapport demo` on its embedded default: an in-process Kafka
# cluster, the synthetic generator and the engine, printing signals as they happen.
# Usage: scripts/demo.sh [rapport demo options]   e.g. scripts/demo.sh --seconds 60
# Set-up output goes to stderr, so stdout carries only the demo's.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${RP_BUILD_DIR:-build}
# The test suite needs Criterion, which only `setup.sh --tests` installs: build it only where
# it is already there (a fresh machine builds just the binary and the benchmarks).
tests=OFF
if command -v pkg-config >/dev/null && pkg-config --exists criterion; then
    tests=ON
fi
scripts/setup.sh --build-dir "$build" --cmake-args "-DRP_TESTS=$tests" >&2
exec "$build/rapport" demo "$@"
