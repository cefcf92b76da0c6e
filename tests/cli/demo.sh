#!/usr/bin/env bash
# demo: `rapport demo --seconds 20` as a user runs it: exits 0 by itself, prints churn-risk and
# advocate signals in the readable form and status lines, serves HTTP meanwhile; usage errors.
# Env: RAPPORT (the binary). Exits non-zero on the first failed check.
set -euo pipefail
: "${RAPPORT:?RAPPORT must point to the rapport binary}"
tmp=$(mktemp -d)
pid=
cleanup() {
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT
fail() {
    echo "FAIL demo: $*" >&2
    for f in out err; do
        [ -f "$tmp/$f" ] && { echo "--- demo std$f (last 20 lines):" >&2; tail -20 "$tmp/$f" >&2; }
    done
    exit 1
}
# wait_for SECONDS CMD...: runs CMD until it succeeds, or fails after SECONDS.
wait_for() {
    local deadline=$((SECONDS + $1))
    shift
    until "$@"; do
        [ "$SECONDS" -lt "$deadline" ] || return 1
        sleep 0.2
    done
}

# --help: status 0, every option on stdout.
"$RAPPORT" demo --help >"$tmp/help" || fail "--help exited non-zero"
for opt in --seconds --config --http --customers --speed --seed --partitions; do
    grep -q -- "$opt" "$tmp/help" || fail "--help does not mention $opt"
done

# Usage errors exit 2 with a message, before anything starts.
expect_usage_error() {
    local rc=0
    timeout 30 "$RAPPORT" demo "$@" >/dev/null 2>"$tmp/uerr" || rc=$?
    [ "$rc" -eq 2 ] || fail "'demo $*' exited $rc, want 2"
    grep -q "rapport demo" "$tmp/uerr" || fail "'demo $*' printed no message"
}
expect_usage_error --seconds abc
expect_usage_error --seconds 0
expect_usage_error --speed 0
expect_usage_error --customers 0
expect_usage_error --bogus
expect_usage_error --http not-an-address --seconds 1
expect_usage_error -c "$tmp/missing.conf" --seconds 1
printf '[engine]\nno_such_key = 1\n' >"$tmp/bad.conf"
expect_usage_error -c "$tmp/bad.conf" --seconds 1
grep -q "bad.conf:2" "$tmp/uerr" || fail "config error does not name file and line"
# A busy HTTP port is the user's to change: usage error, and the message says how.
python3 -c 'import socket, time
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen()
print(s.getsockname()[1], flush=True); time.sleep(120)' >"$tmp/port" &
holder=$!
wait_for 10 test -s "$tmp/port" || fail "could not open a listening socket for the test"
expect_usage_error --http "127.0.0.1:$(cat "$tmp/port")" --seconds 1
grep -q -- "--http" "$tmp/uerr" || fail "busy port: the message does not mention --http"
kill "$holder" 2>/dev/null || true
wait "$holder" 2>/dev/null || true

# The run: 20 s, HTTP on a free port, output to a file (not a terminal: plain lines).
start=$SECONDS
"$RAPPORT" demo --seconds 20 --http 127.0.0.1:0 >"$tmp/out" 2>"$tmp/err" &
pid=$!

# HTTP is served while it runs: the intro prints the URL, /readyz turns ready, /metrics counts.
wait_for 30 grep -q '^  http     http://127.0.0.1:[0-9]*/metrics' "$tmp/out" ||
    fail "no HTTP URL printed"
url=$(sed -n 's|^  http     \(http://127.0.0.1:[0-9]*\)/metrics.*|\1|p' "$tmp/out")
wait_for 30 curl -fs -o /dev/null "$url/readyz" || fail "/readyz never ready at $url"
curl -fsS "$url/healthz" | grep -qx ok || fail "/healthz"
consumed_over_100() {
    local n
    n=$(curl -fsS "$url/metrics" | awk '/^rapport_events_consumed_total/ {s += $2} END {print s + 0}')
    [ "$n" -gt 100 ]
}
wait_for 30 consumed_over_100 || fail "rapport_events_consumed_total stays below 100"
code=$(curl -s -o "$tmp/cust" -w '%{http_code}' "$url/customers/c42")
case "$code" in
200) grep -q '"cid":"c42"' "$tmp/cust" || fail "/customers/c42 answered $(cat "$tmp/cust")" ;;
404) ;; # not seen yet: allowed (Zipf activity), the route still answered
*) fail "/customers/c42: HTTP $code" ;;
esac

# It stops by itself, cleanly, soon after 20 s.
rc=0
wait "$pid" || rc=$?
pid=
elapsed=$((SECONDS - start))
[ "$rc" -eq 0 ] || fail "exited $rc, want 0"
[ "$elapsed" -ge 19 ] || fail "stopped after ${elapsed}s, before --seconds 20"
[ "$elapsed" -le 45 ] || fail "took ${elapsed}s to stop after --seconds 20"
grep -q 'rapport: stopped$' "$tmp/err" || fail "the engine did not log a clean stop"
grep -q 'warning' "$tmp/err" && fail "warnings on stderr: $(grep warning "$tmp/err" | head -3)"

# Signals in the readable form: event time, kind, transition, cid, score, segment, reasons.
line_re='^[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}  (churn_risk|advocate  ) (enter|exit ) '
line_re+=' c[0-9]+ +score [01]\.[0-9]{2} \(was [01]\.[0-9]{2}\)  segment [a-z_]+ +'
line_re+='(reasons [A-Z_]+ [0-9]\.[0-9]{2}(, [A-Z_]+ [0-9]\.[0-9]{2}){0,2}|\(no reasons\))'
line_re+='(  \(archetype: [a-z_]+\))?$'
churn_re='^.{18}churn_risk enter .*reasons (ENGAGEMENT_DROP|SILENCE|LOW_P_ALIVE|'
churn_re+='UNANSWERED_QUESTION|OPEN_COMPLAINT|NEGATIVE_SENTIMENT|REFUNDS|UNSUBSCRIBED) '
adv_re='^.{18}advocate   enter .*reasons (REFERRALS_CONVERTED|REFERRALS|SHARES|HELPED_OTHERS|'
adv_re+='PROMOTER|POSITIVE_REVIEWS) '
n_churn=$(grep -cE "$churn_re" "$tmp/out" || true)
n_adv=$(grep -cE "$adv_re" "$tmp/out" || true)
[ "$n_churn" -ge 1 ] || fail "no churn_risk enter signal with a churn reason"
[ "$n_adv" -ge 1 ] || fail "no advocate enter signal with an advocacy reason"
# The generator's archetypes label the signals: both kinds land on the customers built for them.
grep -qE '^.{18}churn_risk enter .*\(archetype: (ignored_complainer|unsubscriber|silent_churner|drifting)\)$' \
    "$tmp/out" || fail "no churn_risk enter on a complaining, unsubscribing or leaving customer"
grep -qE '^.{18}advocate   enter .*\(archetype: advocate\)$' "$tmp/out" ||
    fail "no advocate enter on a customer of the advocate archetype"
n_signals=$(grep -cE '^[0-9]{4}-[0-9]{2}-[0-9]{2} ' "$tmp/out" || true)
n_wellformed=$(grep -cE "$line_re" "$tmp/out" || true)
[ "$n_signals" -eq "$n_wellformed" ] ||
    fail "$((n_signals - n_wellformed)) signal lines not in the readable form, e.g.:
$(grep -E '^[0-9]{4}-[0-9]{2}-[0-9]{2} ' "$tmp/out" | grep -vE "$line_re" | head -3)"

# Status lines: plain (no terminal: no escape codes), periodic, and a final one that agrees
# with the signals printed.
grep -q $'\033' "$tmp/out" && fail "escape codes in output that is not a terminal"
status_re='^status \[ *[0-9]+s\] churn_risk [0-9]+ enter [0-9]+ exit \| advocate [0-9]+ enter '
status_re+='[0-9]+ exit \| [0-9]+ events/s \| [0-9]+ customers \| lag [0-9]+ \| event time '
[ "$(grep -cE "$status_re" "$tmp/out")" -ge 2 ] || fail "fewer than 2 periodic status lines"
final=$(tail -1 "$tmp/out")
[[ "$final" =~ ^status\ \[\ *[0-9]+s\]\ stopped\ \|\ churn_risk\ ([0-9]+)\ enter\ ([0-9]+)\ exit\ \|\ advocate\ ([0-9]+)\ enter\ ([0-9]+)\ exit\ \|\ ([0-9]+)\ events.*\|\ ([0-9]+)\ customers ]] ||
    fail "last line is not the final status: $final"
[ "${BASH_REMATCH[1]}" -eq "$(grep -cE '^.{18}churn_risk enter ' "$tmp/out")" ] ||
    fail "final status counts ${BASH_REMATCH[1]} churn_risk enters, lines say otherwise"
[ "${BASH_REMATCH[3]}" -eq "$(grep -cE '^.{18}advocate   enter ' "$tmp/out")" ] ||
    fail "final status counts ${BASH_REMATCH[3]} advocate enters, lines say otherwise"
[ "${BASH_REMATCH[5]}" -gt 10000 ] || fail "only ${BASH_REMATCH[5]} events in 20 s"
[ "${BASH_REMATCH[6]}" -gt 1000 ] || fail "only ${BASH_REMATCH[6]} customers of 2000"

# -c FILE applies over the embedded default: another churn topic, JSON signals, one worker,
# and the options of the population; the signals still arrive, decoded from JSON.
printf '[topics]\nchurn_risk = demo.churn\n[output]\nformat = json\n[engine]\nworkers = 1\n' \
    >"$tmp/over.conf"
rc=0
timeout 90 "$RAPPORT" demo --seconds 10 --speed 2 --customers 1000 --seed 3 --http '' \
    -c "$tmp/over.conf" >"$tmp/out2" 2>"$tmp/err2" || rc=$?
[ "$rc" -eq 0 ] || fail "run with -c exited $rc: $(tail -3 "$tmp/err2")"
grep -q '^  signals  demo.churn and rapport.signals.advocate' "$tmp/out2" ||
    fail "-c [topics] churn_risk not applied"
grep -q 'started: 1 workers' "$tmp/err2" || fail "-c [engine] workers not applied"
grep -q '^  input .* 1000 customers (seed 3), 2 days of event time per second' "$tmp/out2" ||
    fail "--customers/--seed/--speed not shown in the intro"
grep -qE "$churn_re" "$tmp/out2" || fail "no churn_risk enter signal with -c (JSON signals)"
grep -q '^  http     off' "$tmp/out2" || fail "--http '' did not disable HTTP"

# Without --seconds it runs until SIGINT (Ctrl-C), then stops cleanly with a final status line.
"$RAPPORT" demo --http '' >"$tmp/out3" 2>"$tmp/err3" &
pid=$!
wait_for 60 grep -qE '^[0-9]{4}-[0-9]{2}-[0-9]{2} .* enter ' "$tmp/out3" ||
    fail "no signal within 60 s of a run without --seconds"
kill -INT "$pid"
rc=0
wait_for 30 eval '! kill -0 "$pid" 2>/dev/null' || fail "still running 30 s after SIGINT"
wait "$pid" || rc=$?
pid=
[ "$rc" -eq 0 ] || fail "exited $rc after SIGINT, want 0"
tail -1 "$tmp/out3" | grep -q '^status \[ *[0-9]*s\] stopped | ' || fail "no final status after SIGINT"

echo "demo: ok ($n_signals signals: $n_churn churn_risk enter, $n_adv advocate enter; ${elapsed}s)"
