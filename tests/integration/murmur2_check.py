#!/usr/bin/env python3
"""murmur2_check: checks that every key sits on the partition Kafka's Java client would pick.

Usage: murmur2_check.py FILE PARTITIONS [KEY_REGEX]
FILE has one message a line, "partition<TAB>key[<TAB>anything]" (kcat -f '%p\\t%k\\n'). Every key
must be on toPositive(murmur2(key)) % PARTITIONS (org.apache.kafka.common.utils.Utils.murmur2),
match KEY_REGEX when given, and every partition must be used. Exit status 1 on any miss.
"""
import re
import sys


def murmur2(data: bytes) -> int:
    m, r, mask = 0x5BD1E995, 24, 0xFFFFFFFF
    h = (0x9747B28C ^ len(data)) & mask
    n4 = len(data) // 4
    for i in range(n4):
        k = int.from_bytes(data[4 * i:4 * i + 4], "little")
        k = (k * m) & mask
        k ^= k >> r
        k = (k * m) & mask
        h = ((h * m) & mask) ^ k
    rest = data[4 * n4:]
    if len(rest) == 3:
        h ^= rest[2] << 16
    if len(rest) >= 2:
        h ^= rest[1] << 8
    if len(rest) >= 1:
        h ^= rest[0]
        h = (h * m) & mask
    h ^= h >> 13
    h = (h * m) & mask
    h ^= h >> 15
    return h


def main() -> int:
    path, parts = sys.argv[1], int(sys.argv[2])
    key_re = re.compile(sys.argv[3]) if len(sys.argv) > 3 else None
    bad = 0
    seen = set()
    with open(path) as f:
        for line in f:
            p, key = line.rstrip("\n").split("\t")[:2]
            want = (murmur2(key.encode()) & 0x7FFFFFFF) % parts
            seen.add(int(p))
            why = None
            if key_re and not key_re.fullmatch(key):
                why = f"odd key {key}"
            elif int(p) != want:
                why = f"key {key} on partition {p}, murmur2 says {want}"
            if why:
                bad += 1
                if bad <= 5:
                    print(why, file=sys.stderr)
    if len(seen) != parts:
        print(f"keys used only partitions {sorted(seen)}", file=sys.stderr)
        return 1
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
