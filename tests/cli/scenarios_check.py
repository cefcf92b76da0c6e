#!/usr/bin/env python3
"""scenarios_check: holds `rapport score`'s signals on a `rapport gen` population to the rates
rapport promises per archetype (tests/cli/scenarios.sh). Prints the per-archetype table, then
every rate that misses its bound, and exits 1 if any does.

usage: scenarios_check.py LABELS SIGNALS STATE EVENTS
"""
import collections
import csv
import json
import sys

# The rates the model is held to, per archetype: (low, high) bounds on the share of customers
# with at least one `enter` of that kind over the span. None: reported, not asserted.
#   churn_risk: customers who go silent, drift away, are ignored after complaining or
#   unsubscribe must be caught (>= 80 %); steady customers, served complainers, advocates and
#   window shoppers must mostly not be flagged (<= 20 %), transactional customers (whose
#   engagement is low by nature) <= 30 %.
#   advocate: advocates are recognised (>= 70 %), nobody else much (<= 10 %).
CHURN = {
    "silent_churner": (0.80, 1.0),
    "drifting": (0.80, 1.0),
    "ignored_complainer": (0.80, 1.0),
    "unsubscriber": (0.80, 1.0),
    "loyal": (0.0, 0.20),
    "served_complainer": (0.0, 0.20),
    "advocate": (0.0, 0.20),
    "transactional": (0.0, 0.30),
    "window_shopper": (0.0, 0.20),
}
ADVOCATE = {a: (0.0, 0.10) for a in CHURN}
ADVOCATE["advocate"] = (0.70, 1.0)

# Reasons must name the cause: among the customers of these archetypes who got a churn enter,
# at least REASON_SHARE must have one of these codes in the reasons of one of their enters.
CAUSES = {
    "silent_churner": {"SILENCE", "ENGAGEMENT_DROP", "LOW_P_ALIVE"},
    "drifting": {"SILENCE", "ENGAGEMENT_DROP", "LOW_P_ALIVE"},
    "ignored_complainer": {"OPEN_COMPLAINT", "UNANSWERED_QUESTION", "NEGATIVE_SENTIMENT"},
    "unsubscriber": {"UNSUBSCRIBED"},
}
ADVOCATE_CAUSES = {"REFERRALS_CONVERTED", "REFERRALS", "SHARES", "HELPED_OTHERS", "PROMOTER",
                   "POSITIVE_REVIEWS"}
REASON_SHARE = 0.90
# Segment at --until (SPEC §2): the share of each archetype whose final segment is one of these.
SEGMENTS = {
    "silent_churner": ({"at_risk", "lapsed"}, 0.90),
    "ignored_complainer": ({"at_risk", "lapsed"}, 0.80),
    "unsubscriber": ({"at_risk", "lapsed"}, 0.90),
    "loyal": ({"engaged", "advocate", "new"}, 0.80),
    "served_complainer": ({"engaged", "advocate", "new"}, 0.80),
    "advocate": ({"advocate"}, 0.70),
    "transactional": ({"transactional", "new"}, 0.60),
    "window_shopper": ({"engaged", "new"}, 0.70),
}
# Timers: a silent churner sends nothing after it stops, so its churn enter must come from a
# timer (as_of after its last event) for at least this share of the silent churners.
SILENT_BY_TIMER = 0.80
# How fast: the median silent churner is flagged within 3 weeks of its last event, and an
# unsubscribe is acted on at once (churn enter within an hour for >= 90 % of unsubscribers).
SILENT_MEDIAN_DAYS = 21.0
UNSUB_WITHIN_HOURS, UNSUB_SHARE = 1.0, 0.90


def main():
    labels_path, signals_path, state_path, events_path = sys.argv[1:5]
    arch = {}
    with open(labels_path) as f:
        for row in csv.DictReader(f):
            arch[row["cid"]] = row["archetype"]
    members = collections.defaultdict(list)
    for cid, a in arch.items():
        members[a].append(cid)

    last_event, unsubscribed = {}, {}
    with open(events_path) as f:
        for line in f:
            e = json.loads(line)
            last_event[e["cid"]] = e["ts"]
            if e["type"] == "unsubscribe":
                unsubscribed.setdefault(e["cid"], e["ts"])

    enters = {"churn_risk": {}, "advocate": {}}  # kind -> cid -> [enter signals]
    n_signals = 0
    with open(signals_path) as f:
        for line in f:
            s = json.loads(line)
            n_signals += 1
            if s["transition"] == "enter":
                enters[s["kind"]].setdefault(s["cid"], []).append(s)
    state = {}
    with open(state_path) as f:
        for line in f:
            st = json.loads(line)
            state[str(st["cid"])] = st

    failures = []

    def check(what, value, bounds):
        if bounds is None:
            return ""
        lo, hi = bounds
        ok = lo <= value <= hi
        if not ok:
            failures.append(f"{what}: {100 * value:.1f} % not in [{100 * lo:.0f} %, {100 * hi:.0f} %]")
        return "" if ok else " <-- MISS"

    print(f"{len(arch)} customers, {len(last_event)} with events, {n_signals} signals")
    hdr = f"{'archetype':<20}{'n':>6}{'churn enter':>13}{'want':>11}{'adv enter':>11}{'want':>11}" \
          f"{'cause named':>13}{'churn_risk':>12}{'advocate':>10}{'segment ok':>12}"
    print(hdr)
    print("-" * len(hdr))
    for a in sorted(members, key=lambda a: list(CHURN).index(a) if a in CHURN else 99):
        cids = members[a]
        n = len(cids)
        churned = [c for c in cids if c in enters["churn_risk"]]
        advocated = [c for c in cids if c in enters["advocate"]]
        churn_rate = len(churned) / n
        adv_rate = len(advocated) / n
        miss = check(f"{a}: churn_risk enter", churn_rate, CHURN.get(a))
        miss += check(f"{a}: advocate enter", adv_rate, ADVOCATE.get(a))
        cause = ""
        if a in CAUSES and churned:
            named = sum(1 for c in churned
                        if any(r["code"] in CAUSES[a] for s in enters["churn_risk"][c]
                               for r in s["reasons"]))
            share = named / len(churned)
            cause = f"{100 * share:.0f} %"
            miss += check(f"{a}: churn reasons name {sorted(CAUSES[a])}", share, (REASON_SHARE, 1.0))
        if a == "advocate" and advocated:
            named = sum(1 for c in advocated
                        if any(r["code"] in ADVOCATE_CAUSES for s in enters["advocate"][c]
                               for r in s["reasons"]))
            share = named / len(advocated)
            cause = f"{100 * share:.0f} %"
            miss += check("advocate: advocate reasons name acts of advocacy", share, (REASON_SHARE, 1.0))
        scores = [state[c] for c in cids if c in state]
        mean_churn = sum(s["churn_risk"] for s in scores) / max(1, len(scores))
        mean_adv = sum(s["advocate"] for s in scores) / max(1, len(scores))

        seg_ok = ""
        if a in SEGMENTS:
            allowed, low = SEGMENTS[a]
            share = sum(1 for st in scores if st["segment"] in allowed) / max(1, len(scores))
            seg_ok = f"{100 * share:.0f} %"
            miss += check(f"{a}: final segment in {sorted(allowed)}", share, (low, 1.0))

        def want(b):
            return "-" if b is None else f"{100 * b[0]:.0f}-{100 * b[1]:.0f}%"

        print(f"{a:<20}{n:>6}{100 * churn_rate:>12.1f}%{want(CHURN.get(a)):>11}"
              f"{100 * adv_rate:>10.1f}%{want(ADVOCATE.get(a)):>11}{cause:>13}"
              f"{mean_churn:>12.3f}{mean_adv:>10.3f}{seg_ok:>12}{miss}")

    # Silent churners are caught by timers, after their last event.
    silent = members.get("silent_churner", [])
    if silent:
        by_timer = sum(1 for c in silent
                       if any(s["as_of"] > last_event.get(c, 0) for s in enters["churn_risk"].get(c, [])))
        share = by_timer / len(silent)
        print(f"silent churners with a churn enter after their last event (timer): {100 * share:.1f} %")
        check("silent_churner: churn enter fired by a timer after the last event", share,
              (SILENT_BY_TIMER, 1.0))
        lat = sorted((min(t for t in (s["as_of"] for s in enters["churn_risk"].get(c, []))
                          if t > last_event[c]) - last_event[c]) / 86400000.0
                     for c in silent
                     if any(s["as_of"] > last_event.get(c, 0)
                            for s in enters["churn_risk"].get(c, [])))
        if lat:
            med = lat[len(lat) // 2]
            print(f"silent churners: days from last event to churn enter: median {med:.1f}, "
                  f"p90 {lat[int(0.9 * len(lat))]:.1f}, max {lat[-1]:.1f}")
            if med > SILENT_MEDIAN_DAYS:
                failures.append(f"silent_churner: median detection {med:.1f} d > "
                                f"{SILENT_MEDIAN_DAYS:.0f} d")
    if unsubscribed:
        prompt = sum(1 for c, t in unsubscribed.items()
                     if any(t <= s["as_of"] <= t + UNSUB_WITHIN_HOURS * 3600000
                            for s in enters["churn_risk"].get(c, [])))
        share = prompt / len(unsubscribed)
        print(f"unsubscribers with a churn enter within {UNSUB_WITHIN_HOURS:.0f} h of unsubscribing:"
              f" {100 * share:.1f} %")
        check(f"unsubscribe: churn enter within {UNSUB_WITHIN_HOURS:.0f} h", share,
              (UNSUB_SHARE, 1.0))

    # Consistency of signals with state: a customer whose final score is at or above the enter
    # threshold must have had an enter of that kind (a score reaches 0.70 only by rising to it,
    # and the watermark moved to --until, so every due timer fired).
    for kind in ("churn_risk", "advocate"):
        unsignalled = sorted(c for c, st in state.items()
                             if c in arch and st[kind] >= 0.70 and c not in enters[kind])
        if unsignalled:
            ex = ", ".join(f"{c} ({arch[c]}, {state[c][kind]:.2f})" for c in unsignalled[:5])
            failures.append(f"{len(unsignalled)} customers end with {kind} >= 0.70 but never got "
                            f"a {kind} enter, e.g. {ex}")
        print(f"customers ending with {kind} >= 0.70 and no {kind} enter: {len(unsignalled)}")

    # Referrals that convert reach the referrer (cross-customer credit).
    conv = sum(1 for c in members.get("advocate", [])
               if any(r["code"] == "REFERRALS_CONVERTED" for s in enters["advocate"].get(c, [])
                      for r in s["reasons"]))
    print(f"advocates whose advocate reasons include REFERRALS_CONVERTED: {conv}")

    if failures:
        print("\nrates missed:")
        for f in failures:
            print("  " + f)
        return 1
    print("all rates held")
    return 0


if __name__ == "__main__":
    sys.exit(main())
