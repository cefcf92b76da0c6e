#!/usr/bin/env python3
"""cdnow_to_events: the CDNOW purchase log (tests/data/cdnow/CDNOW_sample.txt) as rapport events.

Each line "master_id sample_id YYYYMMDD quantity amount" becomes one JSON Lines `purchase` event:
cid = the sample id as a number (1..2357, the ID of cdnow_customers_summary.csv), ts = the date
at 00:00 UTC in ms, value = amount, id = the line number. Events are written in event-time order
(date, then line), as `rapport score` expects a stream roughly in time order.

Usage: cdnow_to_events.py CDNOW_sample.txt [--until YYYY-MM-DD] > events.jsonl
  --until  keep only purchases dated on or before that day (the calibration period).
"""
import argparse
import calendar
import json
import sys


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("log")
    ap.add_argument("--until", help="last day kept, YYYY-MM-DD")
    args = ap.parse_args()
    until = args.until.replace("-", "") if args.until else None
    events = []
    with open(args.log) as f:
        for lineno, line in enumerate(f, 1):
            parts = line.split()
            if not parts:
                continue
            sample_id, date, amount = int(parts[1]), parts[2], float(parts[4])
            if until and date > until:
                continue
            ts = calendar.timegm((int(date[:4]), int(date[4:6]), int(date[6:8]), 0, 0, 0)) * 1000
            events.append((ts, lineno, sample_id, amount))
    events.sort()
    out = sys.stdout
    for ts, lineno, sample_id, amount in events:
        out.write(json.dumps({"cid": sample_id, "ts": ts, "type": "purchase", "value": amount,
                              "id": lineno}, separators=(",", ":")) + "\n")


if __name__ == "__main__":
    main()
