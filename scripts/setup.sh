#!/usr/bin/env bash
# Installs what rapport needs on a fresh Debian/Ubuntu machine (idempotent, non-interactive) and
# builds it. Usage: scripts/setup.sh [--tests] [--build-dir DIR] [--cmake-args "..."]
#   --tests   also install what the test suite needs (Criterion, clang for fuzzing, kcat, a JDK
#             and Maven for the Kafka broker the integration tests start).
set -euo pipefail
cd "$(dirname "$0")/.."

want_tests=0
build_dir=build
cmake_args=()
while [ $# -gt 0 ]; do
    case "$1" in
    --tests) want_tests=1 ;;
    --build-dir) build_dir=$2; shift ;;
    --cmake-args) read -r -a cmake_args <<<"$2"; shift ;;
    *) echo "setup.sh: unknown argument $1" >&2; exit 2 ;;
    esac
    shift
done

pkgs=(build-essential cmake ninja-build pkg-config git
      librdkafka-dev libmsgpack-dev libjemalloc-dev libmicrohttpd-dev libxxhash-dev libck-dev)
if [ "$want_tests" = 1 ]; then
    pkgs+=(libcriterion-dev clang libclang-rt-14-dev clang-format kcat
           default-jdk-headless maven curl python3
           docker-compose) # (the client only, for .ci/run's `docker-compose config`)
fi

missing=()
for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "setup: installing ${missing[*]}"
    sudo=""
    [ "$(id -u)" = 0 ] || sudo="sudo"
    export DEBIAN_FRONTEND=noninteractive
    $sudo apt-get update -qq
    $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
    echo "setup: all packages present"
fi

# The test build always builds the tests (a demo-only build may have cached RP_TESTS=OFF).
[ "$want_tests" = 1 ] && cmake_args+=(-DRP_TESTS=ON)
cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo "${cmake_args[@]}" >/dev/null
cmake --build "$build_dir"
