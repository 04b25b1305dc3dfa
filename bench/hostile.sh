#!/usr/bin/env bash
# bench/hostile.sh - the edge server under a stranger's load, on 127.0.0.1,
# while legitimate devices keep downloading (each round: a full
# `tinylarge device` run, plan + signed download + install, 10 s timeout):
#   1. malformed datagrams (random bytes, half with a CoAP version-1 header);
#   2. abandoned sessions: 100,000 confirmable plan requests, each from an
#      address of its own, never followed; the server's memory after;
#   3. a context flood (POST /context for made-up devices), and how many
#      notifications one context change causes among watching devices;
#   4. a DTLS handshake flood: 2,000 spoofed ClientHellos a second, at
#      the server and at one started with --no-dtls-gate (DTLS_SECONDS,
#      default 20: the flood's length and its legitimate rounds).
# The stranger's datagrams come from bench/hostile_load.c (one address per
# datagram in 127/8, as spoofed traffic would). Uses the main job's
# catalogue (build/main-job/catalogue), making one if it is missing.
# Prints, per attack: datagrams sent, the server alive or not, the
# legitimate rounds that succeeded, the server's resident memory.
# usage: bench/hostile.sh BUILD_DIR
set -euo pipefail
case ${1:-} in -h | --help) sed -n '2,/^[^#]/{/^#/p}' "$0"; exit 0 ;; esac
[ $# -ge 1 ] || { sed -n '2,/^[^#]/{/^#/p}' "$0" >&2; exit 2; }
build=$1
bin=$build/tinylarge
stranger=$build/bench/hostile_load
work=$build/bench/hostile
[ -x "$stranger" ] || { echo "bench: $stranger is missing (make build)" >&2; exit 1; }
# shellcheck source=edge_library.sh
. "$(dirname "$0")/edge_library.sh"
"$bin" library add --db "$work/library.db" --name fashion-hall --catalogue "$cat" --key "$work/server.key" \
    --tag task=fashion-mnist --tag location=hall >/dev/null
printf 'dev-a 00112233445566778899aabbccddeeff\n' >"$work/server.psk"
port=$((20000 + RANDOM % 20000))
dport=$((port + 1))
"$bin" serve --db "$work/library.db" --port "$port" --poll 0.2 --quiet 2>"$work/udp.log" &
udp_pid=$!
"$bin" serve --db "$work/library.db" --port "$dport" --psk "$work/server.psk" --quiet 2>"$work/dtls.log" &
dtls_pid=$!
"$bin" serve --db "$work/library.db" --port "$((port + 2))" --psk "$work/server.psk" --no-dtls-gate --quiet \
    2>"$work/dtls-open.log" &
open_pid=$!
watchers=()
trap 'kill $udp_pid $dtls_pid $open_pid "${watchers[@]}" 2>/dev/null' EXIT
sleep 1
rss() { sed -n 's/^VmRSS:\s*//p' "/proc/$1/status" 2>/dev/null || echo gone; }
alive() { kill -0 "$1" 2>/dev/null && echo alive || echo DEAD; }
# legit ROUNDS PORT [--psk FILE]: full device runs one after another; prints "ok/total".
legit() {
    local rounds=$1 at=$2 ok=0; shift 2
    for i in $(seq "$rounds"); do
        rm -rf "$work/legit"
        if timeout 20 "$bin" device --server "127.0.0.1:$at" --slots "$work/legit" --name fashion --flash 256K \
            --ram 64K --mac-rate 20M --rate 250K --pub "$work/server.pub" --timeout 10 "$@" >"$work/round.log" 2>&1; then
            ok=$((ok + 1))
        else
            sed "s/^/round $i: /" "$work/round.log" | tail -1 >>"$work/failed.log"
        fi
    done
    echo "$ok/$rounds"
}

printf "machine: %s, %s cores\n\n" "$(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1)" "$(nproc)"
printf "%-44s %-42s %-7s %-10s %s\n" attack sent server "legit ok" "server RSS"
printf "%-44s %-42s %-7s %-10s %s\n" "(none: 20 rounds, UDP)" "-" "$(alive $udp_pid)" "$(legit 20 "$port")" \
    "$(rss $udp_pid)"
attack() { # LABEL PID PORT KIND COUNT RATE LEGIT-ROUNDS [device options]
    local label=$1 pid=$2 at=$3 kind=$4 count=$5 rate=$6 rounds=$7; shift 7
    "$stranger" "$kind" "127.0.0.1:$at" "$count" "$rate" >"$work/sent" &
    local flood=$!
    sleep 0.5
    local ok
    ok=$(legit "$rounds" "$at" "$@")
    wait "$flood"
    printf "%-44s %-42s %-7s %-10s %s\n" "$label" "$(cat "$work/sent")" "$(alive "$pid")" "$ok" "$(rss "$pid")"
}
attack "1. malformed datagrams, 20,000/s" $udp_pid "$port" garbage 200000 20000 20
attack "2. abandoned sessions, 10,000/s" $udp_pid "$port" abandon 100000 10000 20
sleep 6 # idle sessions time out after 5 s
printf "%-44s %-42s %-7s %-10s %s\n" "   6 s later" "-" "$(alive $udp_pid)" "-" "$(rss $udp_pid)"
attack "3. context flood, 5,000/s" $udp_pid "$port" contexts 50000 5000 20
# DTLS_SECONDS (default 20): the flood's length, and as many legitimate rounds.
flood=${DTLS_SECONDS:-20}
attack "4. DTLS handshake flood, 2,000 hellos/s" $dtls_pid "$dport" hellos $((flood * 2000)) 2000 "$flood" \
    --psk "$work/server.psk"
attack "   the same, without the gate" $open_pid "$((port + 2))" hellos $((flood * 2000)) 2000 "$flood" \
    --psk "$work/server.psk"
echo

# Notifications: 20 devices watch /plan; a context change for one of them
# that leaves its plan as it was, then one that changes it.
for i in $(seq 20); do
    "$bin" device --server "127.0.0.1:$port" --slots "$work/watch$i" --id "w$i" --context task=fashion-mnist \
        --flash 256K --ram 64K --mac-rate 20M --rate 250K --pub "$work/server.pub" --watch 12 \
        >"$work/watch$i.log" 2>&1 &
    watchers+=($!)
done
sleep 3
count() { cat "$work"/watch*.log | grep -c notified || true; }
before=$(count)
"$bin" context --server "127.0.0.1:$port" --device w1 app=counter >/dev/null
sleep 1
same=$(( $(count) - before ))
"$bin" context --server "127.0.0.1:$port" --device w1 location=hall >/dev/null
sleep 1.5
changed=$(( $(count) - before - same ))
"$bin" context --server "127.0.0.1:$port" --device nobody location=hall >/dev/null
sleep 1
nobody=$(( $(count) - before - same - changed ))
echo "notifications among 20 watching devices (goal: only the devices whose plan changes):"
echo "   a context change that leaves w1's plan as it was:   $same"
echo "   a context change for a device that watches nothing: $nobody"
echo "   a context change that changes w1's plan:            $changed (w1 observes /plan/w1: w1 alone)"
[ -s "$work/failed.log" ] && { echo "failed legitimate rounds:"; cat "$work/failed.log"; }
exit 0
