#!/usr/bin/env bash
# The whole test suite on a fresh Debian/Ubuntu machine: installs what is missing, builds, starts
# a real single-node Kafka broker (scripts/kafka.sh), runs every test (ctest), stops the broker.
# Usage: scripts/test.sh [ctest args...]   e.g. scripts/test.sh -L unit
set -euo pipefail
cd "$(dirname "$0")/.."
build=${RP_BUILD_DIR:-build}
werror=OFF
[ "${CI:-}" = true ] && werror=ON
scripts/setup.sh --tests --build-dir "$build" --cmake-args "-DRP_WERROR=$werror"

need_kafka=1
case " $* " in *" -L unit "*|*" -L cli "*) need_kafka=0 ;; esac
root=$PWD
if [ "$need_kafka" = 1 ] && [ -x scripts/kafka.sh ]; then
    scripts/kafka.sh start
    trap '"$root"/scripts/kafka.sh stop' EXIT
    export KAFKA_BOOTSTRAP=$(scripts/kafka.sh bootstrap)
fi
cd "$build"
ctest --output-on-failure "$@"
