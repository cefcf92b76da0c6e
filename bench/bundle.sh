#!/usr/bin/env bash
# bundle: the benchmarks and everything they need, in one directory that runs on another x86-64
# Linux machine (glibc >= this one's) with nothing installed there: no JDK, no Maven, no kcat,
# no librdkafka. It is how the figures of a bigger machine in bench/RESULTS.md were taken.
#
# Usage: bench/bundle.sh OUT_DIR [BUILD_DIR]      (BUILD_DIR: a Release build, default build)
# Then, on the other machine, from a checkout of the same commit:
#   . OUT_DIR/env.sh                 (unpacks once; sets PATH, JAVA_HOME, RP_KAFKA_CACHE)
#   RP_KAFKA_PORT=19592 scripts/kafka.sh start
#   KAFKA_BOOTSTRAP=127.0.0.1:19592 bench/bench_e2e.sh OUT_DIR/build
#
# What goes in (one bundle.tar.xz, env.sh unpacks it in place; about 40 MB, 200 MB unpacked):
#   build/   rapport and the bench programs, each a small wrapper that sets LD_LIBRARY_PATH to
#            lib/ for that program alone (exec: same pid), so that the other machine's own tools
#            (its curl, say) keep their own libraries
#   lib/     every shared library they and kcat load, except glibc's own
#   bin/kcat the broker script's health checks
#   jre/     a JRE made with jlink from this machine's JDK: the modules the broker uses
#   kafka/   the broker's jars from scripts/kafka.sh's cache, without Kafka Connect's web stack
#            and without the other platforms' native code in the compression jars
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
out=${1:?usage: bench/bundle.sh OUT_DIR [BUILD_DIR]}
build=${2:-$here/build}
progs=(rapport bench/bench_e2e bench/bench_scaling bench/bench_pipeline)
for p in "${progs[@]}"; do
    [ -x "$build/$p" ] || { echo "bundle: build $build/$p first" >&2; exit 2; }
done
for t in jlink kcat xz zip; do
    command -v $t >/dev/null || { echo "bundle: needs $t (apt-get install default-jdk-headless kcat xz-utils zip)" >&2; exit 2; }
done
"$here/scripts/kafka.sh" fetch
cache=${RP_KAFKA_CACHE:-${XDG_CACHE_HOME:-${HOME:-/tmp}/.cache}/rapport/kafka-3.9.1/libs}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
s=$tmp/stage
mkdir -p "$s/build/bench" "$s/real" "$s/lib" "$s/bin"
for p in "${progs[@]}"; do
    cp "$build/$p" "$s/real/"
    n=$(basename "$p")
    cat >"$s/build/$p" <<EOF
#!/bin/sh
d=\$(cd "\$(dirname "\$0")" && pwd)
while [ ! -d "\$d/real" ]; do d=\$(dirname "\$d"); done
LD_LIBRARY_PATH="\$d/lib" exec "\$d/real/$n" "\$@"
EOF
    chmod +x "$s/build/$p"
done
cp "$(command -v kcat)" "$s/real/kcat"
printf '#!/bin/sh\nd=$(cd "$(dirname "$0")/.." && pwd)\nLD_LIBRARY_PATH="$d/lib" exec "$d/real/kcat" "$@"\n' >"$s/bin/kcat"
chmod +x "$s/bin/kcat"

# Shared libraries, glibc's own left to the other machine.
for f in "$s"/real/*; do ldd "$f"; done | awk '$3 ~ /^\// {print $3}' | sort -u |
    grep -Ev '/(libc|libm|libpthread|libdl|librt|libresolv|ld-linux-x86-64)\.so' |
    while read -r l; do cp -L "$l" "$s/lib/"; done

# Uncompressed: xz packs the whole bundle far better than jlink's and the jars' own deflate.
jlink --add-modules java.base,java.compiler,java.desktop,java.instrument,java.logging,java.management,java.management.rmi,java.naming,java.net.http,java.rmi,java.scripting,java.security.jgss,java.security.sasl,java.sql,java.xml,jdk.crypto.ec,jdk.management,jdk.unsupported,jdk.zipfs,jdk.naming.dns,jdk.security.auth,jdk.security.jgss,jdk.jfr,jdk.management.jfr \
    --strip-debug --no-header-files --no-man-pages --compress=0 --output "$s/jre"

mkdir "$s/kafka"
cp "$cache"/*.jar "$s/kafka/"
(
    cd "$s/kafka"
    # Kafka Connect and its REST stack come with kafka-tools' dependencies; the broker and the
    # two tools scripts/kafka.sh runs (StorageTool, TopicCommand) load none of it.
    rm -f connect-* jetty-* jersey-* hk2-* jakarta.* javax.* jaxb-* javassist-* jackson-jaxrs-* \
        jackson-module-jaxb-* swagger-* reflections-* osgi-* aopalliance-* activation-* \
        maven-artifact-* plexus-utils-* commons-beanutils* commons-digester* \
        commons-collections* commons-logging* jackson-dataformat-csv*
    zip -q -d zstd-jni-*.jar 'darwin/*' 'freebsd/*' 'win/*' 'linux/aarch64/*' 'linux/arm/*' \
        'linux/i386/*' 'linux/loongarch64/*' 'linux/mips64/*' 'linux/ppc64/*' 'linux/ppc64le/*' \
        'linux/riscv64/*' 'linux/s390x/*'
    zip -q -d snappy-java-*.jar 'org/xerial/snappy/native/AIX/*' 'org/xerial/snappy/native/FreeBSD/*' \
        'org/xerial/snappy/native/Mac/*' 'org/xerial/snappy/native/SunOS/*' \
        'org/xerial/snappy/native/Windows/*' 'org/xerial/snappy/native/Linux/a*' \
        'org/xerial/snappy/native/Linux/p*' 'org/xerial/snappy/native/Linux/r*' \
        'org/xerial/snappy/native/Linux/s*' 'org/xerial/snappy/native/Linux/x86/*'
    # Every jar rewritten with its entries stored, not deflated: see jlink above.
    python3 -c '
import glob, zipfile
for j in glob.glob("*.jar"):
    with zipfile.ZipFile(j) as src:
        items = [(i, src.read(i.filename)) for i in src.infolist()]
    with zipfile.ZipFile(j, "w", zipfile.ZIP_STORED) as dst:
        for i, data in items:
            i.compress_type = zipfile.ZIP_STORED
            dst.writestr(i, data)
'
    # scripts/kafka.sh takes a cache whose marker holds its pom's hash as complete
    sha256sum "$here/scripts/kafka/pom.xml" | cut -d' ' -f1 >.complete
)

rm -rf "$out"
mkdir -p "$out"
tar -C "$s" -cf - . | xz -9 -T0 >"$out/bundle.tar.xz"
cat >"$out/env.sh" <<'EOF'
# . env.sh: unpacks the bundle next to this file once, then sets the environment that
# scripts/kafka.sh and bench/bench_e2e.sh need.
_rp_b=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
[ -f "$_rp_b/kafka/.complete" ] || xz -dc "$_rp_b/bundle.tar.xz" | tar -C "$_rp_b" -xf -
export JAVA_HOME=$_rp_b/jre RP_KAFKA_CACHE=$_rp_b/kafka PATH=$_rp_b/bin:$PATH
unset _rp_b
EOF
du -sh "$out"
