#!/usr/bin/env bash
# bench/edge.sh - in-situ downloading benchmarks on 127.0.0.1:
#   1. planner + adaptation latency per /plan request (p50/p99), as a device
#      sees it: context match, plan, CBOR manifest, one CoAP round trip;
#   2. downloads per second of a ~50 KB model with 100 and 1,000 concurrent devices:
#      tinylarge serve (each download: /plan, then the chosen variant
#      block-wise), as one process and with one download worker per core
#      (--workers), against libcoap's own example server (coap-server-notls,
#      Debian's libcoap3-bin) serving the same bytes as a static resource,
#      same client (bench/coap_load.c, which costs a server far less CPU
#      than a libcoap client would), alternating rounds, in the same run;
#   3. time to first inference over an emulated 1 Mbit/s link: the whole
#      model vs the progressive stream (first 4 or 5 bit planes).
# Uses the main job's catalogue (build/main-job/catalogue), making one the
# same way if it is missing. Run on an otherwise idle machine.
# usage: bench/edge.sh BUILD_DIR [SECONDS_PER_ROUND]
set -euo pipefail
# The header above is the usage.
case ${1:-} in -h | --help) sed -n '2,/^[^#]/{/^#/p}' "$0"; exit 0 ;; esac
[ $# -ge 1 ] || { sed -n '2,/^[^#]/{/^#/p}' "$0" >&2; exit 2; }
build=$1
seconds=${2:-5}
bin=$build/tinylarge
load=$build/bench/coap_load
work=$build/bench/edge
rounds=3
for tool in coap-server-notls coap-client-notls; do
    command -v $tool >/dev/null || { echo "bench: $tool is missing (make deps)" >&2; exit 1; }
done
[ -x "$load" ] || { echo "bench: $load is missing (make build)" >&2; exit 1; }
# shellcheck source=edge_library.sh
. "$(dirname "$0")/edge_library.sh"
# Both servers move the same bytes: the variant the planner chooses for the
# devices' profile below is the one libcoap's server is given.
chosen=$("$bin" plan --db "$work/library.db" --name fashion --flash 256000 --ram 65536 --mac-rate 20000000 \
    --rate 250000 | sed -n 's/^chosen \([^:]*\):.*/\1/p')
[ -n "$chosen" ] || { echo "bench: the planner chose no variant for the devices' profile" >&2; exit 1; }
model=$cat/$chosen.tlm
bytes=$(stat -c %s "$model")
port=$((20000 + RANDOM % 20000))
static_port=$((port + 1))
workers=$(nproc)
workers_port=$((port + 100))
"$bin" serve --db "$work/library.db" --port "$port" --quiet &
tl_pid=$!
"$bin" serve --db "$work/library.db" --port "$workers_port" --workers "$workers" --quiet &
tlw_pid=$!
coap-server-notls -A 127.0.0.1 -p "$static_port" -d 4 -v 0 >/dev/null 2>&1 &
peer_pid=$!
trap 'kill $tl_pid $tlw_pid $peer_pid 2>/dev/null' EXIT
sleep 1
coap-client-notls -m put -f "$model" "coap://127.0.0.1:$static_port/model" >/dev/null
profile="task=fashion-mnist&flash=256000&ram=65536&macs=20000000&rate=250000"

printf "machine: %s, %s cores; %s\n" "$(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1)" "$(nproc)" \
    "$(coap-server-notls -h 2>&1 | sed -n 's/.*\(v[0-9][0-9.]*\).*/libcoap \1/p' | head -1)"
echo
echo "1. planner + adaptation latency (5000 /plan requests, one device, context match + plan + CBOR):"
"$load" latency "127.0.0.1:$port" 5000 "$profile"
echo
median() { printf "%s\n" "$@" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
for devices in 100 1000; do
    echo "2. downloads of the $bytes-byte $chosen variant (the planner's choice, served by all), $devices concurrent" \
         "devices, $rounds rounds of $seconds s:"
    one=(); many=(); peer=()
    for r in $(seq "$rounds"); do
        p=$("$load" fetch "127.0.0.1:$static_port" "$devices" "$seconds" model)
        o=$("$load" fetch "127.0.0.1:$port" "$devices" "$seconds" x "$profile")
        w=$("$load" fetch "127.0.0.1:$workers_port" "$devices" "$seconds" x "$profile")
        echo "   round $r: libcoap example server:            $p"
        echo "   round $r: tinylarge, one process:            $o"
        echo "   round $r: tinylarge, $workers download workers:     $w"
        peer+=("$(sed 's/.*  \([0-9.]*\) downloads\/s.*/\1/' <<<"$p")")
        one+=("$(sed 's/.*  \([0-9.]*\) downloads\/s.*/\1/' <<<"$o")")
        many+=("$(sed 's/.*  \([0-9.]*\) downloads\/s.*/\1/' <<<"$w")")
    done
    mp=$(median "${peer[@]}"); mo=$(median "${one[@]}"); mw=$(median "${many[@]}")
    printf "   per round, tinylarge with workers / libcoap: %s\n" "$(for i in "${!many[@]}"; do
        printf "%s " "$(ratio "${many[$i]}" "${peer[$i]}")"; done)"
    printf "   median downloads/s (KB/s of model): libcoap example server %s (%s), tinylarge one process %s (%s)," \
        "$mp" "$(awk -v a="$mp" -v n="$bytes" 'BEGIN { printf "%.0f", a * n / 1000 }')" \
        "$mo" "$(awk -v a="$mo" -v n="$bytes" 'BEGIN { printf "%.0f", a * n / 1000 }')"
    printf " with workers %s (%s)\n" "$mw" "$(awk -v a="$mw" -v n="$bytes" 'BEGIN { printf "%.0f", a * n / 1000 }')"
    printf "   ratio to libcoap's example server: one process %s, with %s workers %s (goal 1.8); round 1 alone: %s\n" \
        "$(ratio "$mo" "$mp")" "$workers" "$(ratio "$mw" "$mp")" "$(ratio "${many[0]}" "${peer[0]}")"
done
echo
echo "3. time to first inference at 1 Mbit/s (a device with no model; 1,000 test images for accuracy):"
printf "   %-26s %12s %10s %10s\n" download "first (s)" planes accuracy
first_inference() { # LABEL OPTIONS...
    local label=$1; shift
    rm -rf "$work/device"
    local log
    log=$("$bin" device --server "127.0.0.1:$port" --slots "$work/device" --context task=fashion-mnist \
        --flash 256K --ram 64K --mac-rate 20M --rate 1M --link-rate 1M --pub "$work/server.pub" --eval 1000 "$@")
    local first planes acc
    first=$(sed -n 's/^first inference after \([0-9.]*\) s.*/\1/p' <<<"$log" | head -1)
    planes=$(sed -n 's/^first inference after .*(\([0-9]\) of 8 planes).*/\1/p' <<<"$log" | head -1)
    acc=$(grep -E "^(prefix of|active model)" <<<"$log" | head -1 | sed 's/.*accuracy \([0-9.]*\).*/\1/')
    printf "   %-26s %12s %10s %10s\n" "$label" "$first" "$planes/8" "$acc"
}
first_inference "whole model"
first_inference "progressive, 5 planes" --progressive --first-planes 5
first_inference "progressive, 4 planes" --progressive --first-planes 4
