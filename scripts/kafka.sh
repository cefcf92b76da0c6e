#!/usr/bin/env bash
# The real single-node Kafka broker (KRaft, 3.9) the integration tests run against, from Apache
# Kafka's jars on Maven Central: no Docker, no Kafka package needed, only a JDK, Maven and kcat.
#
# Usage: scripts/kafka.sh fetch|start|stop|crash SECONDS|pause SECONDS|status|bootstrap|topic NAME PARTITIONS [key=value ...]
#   fetch      resolve the broker's jars into the cache (only when the cache is incomplete)
#   start      fetch if needed, format a fresh data dir, start the broker in the background and
#              wait until it answers; succeeds at once when our broker is already healthy
#   stop       SIGTERM (then SIGKILL after a deadline) and remove the data dir
#   crash      SIGKILL the broker, keep it down SECONDS, start it again on the same data and wait
#              until it answers (a fault for the tests: a broker that dies and recovers)
#   pause      SIGSTOP the broker for SECONDS, then SIGCONT (a fault for the tests: a broker that
#              hangs, or a network partition: connections stay open and nothing answers)
#   status     says whether it runs; exit 0 when healthy, 3 when not running, 1 when unhealthy
#   bootstrap  prints 127.0.0.1:PORT
#   topic      create a topic (idempotent) and wait until every partition has a leader
# Environment:
#   RP_KAFKA_PORT            PLAINTEXT port (19092); the controller listens on PORT+1 unless
#                            RP_KAFKA_CONTROLLER_PORT is set
#   RP_KAFKA_DIR             state dir: data, pid, log, properties (/tmp/rapport-kafka-PORT)
#   RP_KAFKA_CACHE           where the jars go (${XDG_CACHE_HOME:-$HOME/.cache}/rapport/kafka-3.9.1/libs)
#   RP_KAFKA_HEAP            JVM heap (1g)
#   RP_KAFKA_START_TIMEOUT   seconds start waits for the broker to answer (90)
#   KAFKA_BOOTSTRAP          for `topic`: the broker to talk to (default 127.0.0.1:PORT)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
KAFKA_VERSION=3.9.1 # keep in step with scripts/kafka/pom.xml and docker-compose.yml
pom=$here/kafka/pom.xml
log4j=$here/kafka/log4j.properties
log4j_tools=$here/kafka/log4j-tools.properties

port=${RP_KAFKA_PORT:-19092}
cport=${RP_KAFKA_CONTROLLER_PORT:-$((port + 1))}
dir=${RP_KAFKA_DIR:-${TMPDIR:-/tmp}/rapport-kafka-$port}
cache=${RP_KAFKA_CACHE:-${XDG_CACHE_HOME:-${HOME:-/tmp}/.cache}/rapport/kafka-$KAFKA_VERSION/libs}
heap=${RP_KAFKA_HEAP:-1g}
start_timeout=${RP_KAFKA_START_TIMEOUT:-90}
stop_timeout=30
host=127.0.0.1
marker=$cache/.complete # written only after a successful fetch; holds the pom's hash
pidfile=$dir/broker.pid
logfile=$dir/broker.log
props=$dir/server.properties

say() { echo "kafka.sh: $*" >&2; }
die() {
    say "$*"
    exit 1
}

java_bin() {
    if [ -n "${JAVA_HOME:-}" ] && [ -x "$JAVA_HOME/bin/java" ]; then
        echo "$JAVA_HOME/bin/java"
    elif command -v java >/dev/null; then
        echo java
    else
        die "no java on PATH: run scripts/setup.sh --tests (installs default-jdk-headless)"
    fi
}

# One JVM for a Kafka main class with the cached jars. Start-up costs 2-3 s: call it rarely.
kjava() {
    "$(java_bin)" -Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Djava.awt.headless=true \
        -Dlog4j.configuration="file:$log4j_tools" -cp "$cache/*" "$@" </dev/null
}

pom_hash() { sha256sum "$pom" | cut -d' ' -f1; }

cache_complete() { [ -f "$marker" ] && [ "$(cat "$marker")" = "$(pom_hash)" ]; }

cmd_fetch() {
    if cache_complete; then
        say "jars of Kafka $KAFKA_VERSION already in $cache"
        return 0
    fi
    command -v mvn >/dev/null || die "no mvn on PATH: run scripts/setup.sh --tests (installs maven)"
    say "fetching Kafka $KAFKA_VERSION jars from Maven Central into $cache (about a minute)"
    mkdir -p "$(dirname "$cache")"
    # Resolve into a scratch dir and move it in place, so that an interrupted fetch never leaves
    # a cache that looks complete.
    local tmp
    tmp=$(mktemp -d "$(dirname "$cache")/.fetch.XXXXXX")
    # (sed: Debian's Maven prints colour resets even in batch mode)
    if ! mvn -B -q --no-transfer-progress -Dstyle.color=never -f "$pom" dependency:copy-dependencies \
        -DincludeScope=runtime -DoutputDirectory="$tmp" </dev/null 2>&1 | sed 's/\x1b\[[0-9;]*m//g' >&2; then
        rm -rf "$tmp"
        die "maven could not resolve $pom (network? proxy settings in ~/.m2/settings.xml?)"
    fi
    ls "$tmp"/kafka_2.13-"$KAFKA_VERSION".jar >/dev/null 2>&1 || {
        rm -rf "$tmp"
        die "maven finished but kafka_2.13-$KAFKA_VERSION.jar is missing"
    }
    rm -rf "$cache"
    mv "$tmp" "$cache"
    pom_hash >"$marker"
    say "fetched $(find "$cache" -name '*.jar' | wc -l) jars into $cache"
}

# The pid in the pid file, only when it is alive and is the broker this state dir started (a pid
# may be reused by an unrelated process after a crash).
our_pid() {
    [ -f "$pidfile" ] || return 1
    local pid
    pid=$(cat "$pidfile")
    [ -n "$pid" ] && [ -r "/proc/$pid/cmdline" ] || return 1
    tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q -- "kafka.Kafka $props" || return 1
    echo "$pid"
}

port_in_use() { (exec 3<>"/dev/tcp/$host/$1") 2>/dev/null; }

# Healthy = the broker answers a metadata request and lists itself.
healthy() {
    timeout 10 kcat -L -b "$host:$port" -m 5 2>/dev/null | grep -q '^ *1 brokers:'
}

write_props() {
    cat >"$props" <<EOF
# Written by scripts/kafka.sh for the tests: one KRaft node that is broker and controller.
# Keep in step with docker-compose.yml (service kafka).
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@$host:$cport
listeners=PLAINTEXT://$host:$port,CONTROLLER://$host:$cport
advertised.listeners=PLAINTEXT://$host:$port
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
controller.listener.names=CONTROLLER
log.dirs=$dir/data
# One node: every replication factor is 1, and internal topics are small so that the first
# consumer group or transaction does not wait for 50 partitions to be created.
num.partitions=4
default.replication.factor=1
min.insync.replicas=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=4
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=4
# Tests create their topics explicitly (scripts/kafka.sh topic): a typo must fail, not create.
auto.create.topics.enable=false
delete.topic.enable=true
# Groups rebalance at once, and tests may use short session timeouts (kill an instance, see its
# partitions move within seconds).
group.initial.rebalance.delay.ms=0
group.min.session.timeout.ms=1000
# Small disk and memory footprint; compaction of changelog topics runs soon after a segment rolls
# (tests that need it set segment.ms / min.cleanable.dirty.ratio on their topic).
log.segment.bytes=16777216
log.retention.hours=24
log.retention.check.interval.ms=60000
log.cleaner.dedupe.buffer.size=16777216
log.cleaner.backoff.ms=1000
num.network.threads=2
num.io.threads=4
num.recovery.threads.per.data.dir=1
EOF
}

cmd_start() {
    command -v kcat >/dev/null || die "no kcat on PATH: run scripts/setup.sh --tests"
    if pid=$(our_pid); then
        if healthy; then
            say "broker already running (pid $pid) on $host:$port"
            return 0
        fi
        say "broker pid $pid does not answer: restarting it"
        cmd_stop
    fi
    if port_in_use "$port" || port_in_use "$cport"; then
        die "port $port or $cport is in use by something else: set RP_KAFKA_PORT"
    fi
    cmd_fetch
    rm -rf "$dir"
    mkdir -p "$dir/data"
    write_props
    # A random cluster id (Kafka's Uuid: 16 bytes, URL-safe base64, no padding) saves a JVM start
    # for `StorageTool random-uuid`.
    local cluster_id
    # (one that starts with '-' would be taken for an option by the tool's argument parser)
    cluster_id=-
    while [[ "$cluster_id" == -* ]]; do
        cluster_id=$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=')
    done
    say "formatting $dir/data (cluster $cluster_id)"
    if ! kjava kafka.tools.StorageTool format -t "$cluster_id" -c "$props" >"$dir/format.log" 2>&1; then
        cat "$dir/format.log" >&2
        die "storage format failed"
    fi
    say "starting Kafka $KAFKA_VERSION on $host:$port (controller $cport, log $logfile)"
    launch
}

# Starts the broker on the formatted data dir in the background and waits until it answers.
launch() {
    # setsid: the broker outlives this script and is not hit by signals to the caller's group.
    setsid "$(java_bin)" -Xms256m -Xmx"$heap" -XX:+UseG1GC -XX:MaxGCPauseMillis=20 \
        -Djava.awt.headless=true -Dlog4j.configuration="file:$log4j" \
        -cp "$cache/*" kafka.Kafka "$props" </dev/null >>"$logfile" 2>&1 9>&- &
    echo $! >"$pidfile"
    local pid=$! deadline=$((SECONDS + start_timeout)) t0=$SECONDS
    until healthy; do
        if ! kill -0 "$pid" 2>/dev/null; then
            say "broker exited during start-up; last lines of $logfile:"
            tail -n 40 "$logfile" >&2
            rm -f "$pidfile"
            exit 1
        fi
        if [ $SECONDS -ge $deadline ]; then
            say "broker did not answer within ${start_timeout}s; last lines of $logfile:"
            tail -n 40 "$logfile" >&2
            cmd_stop
            exit 1
        fi
        sleep 0.5 # poll interval of the wait above, not a wait in itself
    done
    say "broker ready (pid $pid) after $((SECONDS - t0))s: bootstrap $host:$port"
}

cmd_crash() {
    [[ "${1:-}" =~ ^[0-9]+$ ]] || die "usage: kafka.sh crash SECONDS"
    local pid
    pid=$(our_pid) || die "no broker of ours running on port $port"
    say "crash: SIGKILL broker pid $pid, down for ${1}s"
    kill -KILL "$pid"
    while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
    sleep "$1" # the fault's length: how long the broker stays down
    launch
}

cmd_pause() {
    [[ "${1:-}" =~ ^[0-9]+$ ]] || die "usage: kafka.sh pause SECONDS"
    local pid
    pid=$(our_pid) || die "no broker of ours running on port $port"
    say "pause: SIGSTOP broker pid $pid for ${1}s"
    # shellcheck disable=SC2064 # (expanded now: never leave it stopped, even when interrupted)
    trap "kill -CONT $pid 2>/dev/null" EXIT
    kill -STOP "$pid"
    sleep "$1" # the fault's length: connections stay open, nothing answers
    kill -CONT "$pid"
    trap - EXIT
    say "pause: SIGCONT broker pid $pid"
}

cmd_stop() {
    local pid
    if pid=$(our_pid); then
        say "stopping broker pid $pid"
        kill -TERM "$pid" 2>/dev/null || true
        local deadline=$((SECONDS + stop_timeout))
        while kill -0 "$pid" 2>/dev/null && [ $SECONDS -lt $deadline ]; do
            sleep 0.2 # poll interval while the broker shuts down
        done
        if kill -0 "$pid" 2>/dev/null; then
            say "broker still alive after ${stop_timeout}s: SIGKILL"
            kill -KILL "$pid" 2>/dev/null || true
            while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
        fi
    else
        say "no broker of ours running on port $port"
    fi
    rm -rf "$dir"
}

cmd_status() {
    local pid
    if ! pid=$(our_pid); then
        echo "kafka: not running (port $port, dir $dir)"
        return 3
    fi
    if healthy; then
        echo "kafka: running, pid $pid, bootstrap $host:$port, dir $dir"
        return 0
    fi
    echo "kafka: pid $pid alive but not answering on $host:$port (log $logfile)"
    return 1
}

cmd_topic() {
    [ $# -ge 2 ] || die "usage: kafka.sh topic NAME PARTITIONS [key=value ...]"
    local name=$1 parts=$2
    shift 2
    [[ "$parts" =~ ^[1-9][0-9]*$ ]] || die "topic $name: PARTITIONS must be a positive integer, not '$parts'"
    local bs=${KAFKA_BOOTSTRAP:-$host:$port} args=()
    for kv in "$@"; do
        [[ "$kv" == *=* ]] || die "topic $name: '$kv' is not key=value"
        args+=(--config "$kv")
    done
    cache_complete || cmd_fetch
    kjava org.apache.kafka.tools.TopicCommand --bootstrap-server "$bs" --create --if-not-exists \
        --topic "$name" --partitions "$parts" --replication-factor 1 "${args[@]}" >&2 ||
        die "could not create topic $name on $bs"
    # Creation returns before every partition has a leader; a produce right after could fail.
    local deadline=$((SECONDS + 30)) n
    while :; do
        n=$(timeout 10 kcat -L -b "$bs" -t "$name" -m 5 2>/dev/null |
            grep -c '^ *partition [0-9]*, leader [0-9]' || true)
        [ "$n" -ge "$parts" ] && break
        [ $SECONDS -lt $deadline ] || die "topic $name: only $n of $parts partitions have a leader after 30s"
        sleep 0.2 # poll interval
    done
    say "topic $name ready ($parts partitions${*:+, $*})"
}

# Serialise start/stop/status on one port, so that two callers never start two brokers.
with_lock() {
    mkdir -p "${TMPDIR:-/tmp}"
    exec 9>"${TMPDIR:-/tmp}/rapport-kafka-$port.lock"
    flock -w 180 9 || die "another kafka.sh holds the lock for port $port"
    "$@"
}

case "${1:-}" in
fetch) cmd_fetch ;;
start) with_lock cmd_start ;;
stop) with_lock cmd_stop ;;
crash) with_lock cmd_crash "${2:-}" ;;
pause) with_lock cmd_pause "${2:-}" ;;
status) cmd_status ;;
bootstrap) echo "$host:$port" ;;
topic)
    shift
    cmd_topic "$@"
    ;;
*)
    sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//' >&2
    exit 2
    ;;
esac
