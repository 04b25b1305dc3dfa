#!/usr/bin/env bash
# sim.sh - the network simulator's five experiments and its scale, each a
# table (docs/benchmarks.md records them). Sections:
#   connectivity  the bandwidth a cell needs so that N devices get a model of
#                 S bytes within T (sim/connectivity.ini), full vs adaptive
#   strategies    in-situ adaptive vs full model vs cloud vs device-only over
#                 a day (sim/city.ini)
#   broadcast     shared layers broadcast once per cell vs unicast (sim/broadcast.ini)
#   pipeline      layer-pipelined download and inference vs download-then-infer
#                 (sim/pipeline.ini)
#   cache         the three-tier library's hit rates: LRU, LFU, popularity x
#                 edge cache sizes (sim/cache.ini)
#   federated     federated rounds over the network: selection x update compression
#                 x aggregation rule, a tenth of the devices poisoned (sim/federated.ini)
#   scale         a million devices: events per second on one core, memory,
#                 1/2/4 MPI ranks with identical results (sim/city.ini)
# usage: bench/sim.sh BUILD_DIR [SECTION ...]   (no section: all)
# Environment: DEVICES (strategies/broadcast/pipeline/cache, default 20000),
# SCALE_DEVICES (default 1000000), SCALE_DURATION (virtual s, default 900),
# SIM_DIR (the scenarios, default the sim/ folder beside bench/).
set -euo pipefail
build=$1
shift
bin=$build/tinylarge
here=$(cd "$(dirname "$0")/.." && pwd)
sim=${SIM_DIR:-$here/sim}
sections=("$@")
[ ${#sections[@]} -eq 0 ] && sections=(connectivity strategies broadcast pipeline cache federated scale)
devices=${DEVICES:-20000}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo "machine: $(nproc) cores, $(sed -n 's/^model name[^:]*: //p' /proc/cpuinfo | head -1), $(date -u +%Y-%m-%d)"

value() { sed -n "s/.*\"$2\": \([0-9.e+-]*\).*/\1/p" "$1" | head -1; }
class_sum() { # class_sum JSON FIELD: the field summed over the classes
    sed -n '/"classes"/,/}$/p' "$1" | grep -o "\"$2\": [0-9]*" | awk '{ s += $2 } END { printf "%.0f", s }'
}

connectivity() {
    echo
    echo "== 1. connectivity: the downlink bandwidth one cell needs (95% of N devices with the model within T)"
    echo "   phones in one cell, all asking at once; PF scheduler, TR 38.901 UMa, 3.5 GHz, 46 dBm per 100 MHz"
    echo "   (MHz: the smallest bandwidth found, within 2%; Gbit/s: bytes sent / T; sent: the share of the full model"
    echo "   each device got, 1 = full, 0.254 = int8, 0.092 = pruned int4 at -0.2 points)"
    printf "%7s %9s %7s | %14s %12s | %14s %12s %6s\n" N "model" T "full: MHz" "Gbit/s" "adaptive: MHz" "Gbit/s" "sent"
    for n in 10 100 1000 10000; do
        for kb in 10 100 1000 10000; do
            for ms in 10 100 1000; do
                local row=()
                for mode in full adaptive; do
                    # Log-bisection on the bandwidth: the smallest that meets 95%.
                    local lo=0.5 hi=100000000
                    local args=(sim "$sim/connectivity.ini" --quiet --devices "$n" --strategy "$mode"
                                --set "app.vision-large.model_kb=$kb" --set "app.vision-large.deadline_ms=$ms")
                    if ! "$bin" "${args[@]}" --set "radio.bandwidth_mhz=$hi" --json "$work/c.json" >/dev/null; then
                        echo "sim failed"; return 1
                    fi
                    if awk -v r="$(value "$work/c.json" deadline_hit_rate)" 'BEGIN { exit !(r >= 0.95) }'; then
                        for _ in $(seq 20); do
                            local mid
                            mid=$(awk -v a="$lo" -v b="$hi" 'BEGIN { printf "%.6g", sqrt(a * b) }')
                            "$bin" "${args[@]}" --set "radio.bandwidth_mhz=$mid" --json "$work/c.json" >/dev/null
                            if awk -v r="$(value "$work/c.json" deadline_hit_rate)" 'BEGIN { exit !(r >= 0.95) }'; then
                                hi=$mid
                            else
                                lo=$mid
                            fi
                        done
                        "$bin" "${args[@]}" --set "radio.bandwidth_mhz=$hi" --json "$work/m.json" >/dev/null
                        local gbps sent
                        gbps=$(awk -v b="$(value "$work/m.json" air_bytes_down)" -v t="$ms" 'BEGIN { printf "%.3g", b * 8 / (t / 1000) / 1e9 }')
                        sent=$(awk -v b="$(value "$work/m.json" air_bytes_down)" -v n="$n" -v kb="$kb" 'BEGIN { printf "%.3f", b / n / (kb * 1000) }')
                        local shown
                        shown=$(awk -v h="$hi" 'BEGIN { if (h <= 0.51) print "<= 0.5"; else printf "%.4g", h }')
                        row+=("$(printf "%14s %12s" "$shown" "$gbps")")
                        [ "$mode" = adaptive ] && row+=("$(printf "%6s" "$sent")")
                    else
                        row+=("$(printf "%14s %12s" "> 1e8" "-")")
                        [ "$mode" = adaptive ] && row+=("$(printf "%6s" "-")")
                    fi
                done
                printf "%7s %6s KB %4s ms | %s | %s %s\n" "$n" "$kb" "$ms" "${row[0]}" "${row[1]}" "${row[2]}"
            done
        done
    done
}

strategies() {
    echo
    echo "== 2. strategies over a day: $devices devices, sim/city.ini"
    printf "%-9s %10s %9s %9s %10s %10s %12s %12s %12s\n" strategy requests "in time" accurate "p95 s" downloads \
        "kB/device" "J/device" "MB on air"
    for mode in adaptive full cloud device; do
        "$bin" sim "$sim/city.ini" --quiet --devices "$devices" --strategy "$mode" --json "$work/s.json" >/dev/null
        local bytes energy
        bytes=$(awk -v d="$(class_sum "$work/s.json" bytes_down)" -v u="$(class_sum "$work/s.json" bytes_up)" 'BEGIN { printf "%.0f", d + u }')
        energy=$(class_sum "$work/s.json" energy_uj)
        printf "%-9s %10s %9.4f %9.4f %10s %10s %12.1f %12.3f %12.1f\n" "$mode" "$(value "$work/s.json" requests)" \
            "$(value "$work/s.json" deadline_hit_rate)" "$(value "$work/s.json" accuracy)" \
            "$(value "$work/s.json" latency_p95_s)" "$(value "$work/s.json" downloads)" \
            "$(awk -v b="$bytes" -v n="$devices" 'BEGIN { print b / n / 1e3 }')" \
            "$(awk -v e="$energy" -v n="$devices" 'BEGIN { print e / n / 1e6 }')" \
            "$(awk -v a="$(value "$work/s.json" air_bytes_down)" -v u="$(value "$work/s.json" air_bytes_up)" 'BEGIN { print (a + u) / 1e6 }')"
    done
}

download_row() { # download_row LABEL JSON
    printf "%-22s %10s %10s %11s %11s %12s %10s %10s\n" "$1" "$(value "$2" download_requests)" \
        "$(awk -v m="$(value "$2" download_deadline_met)" -v r="$(value "$2" download_requests)" 'BEGIN { printf "%.4f", r ? m / r : 0 }')" \
        "$(value "$2" download_latency_mean_s)" "$(value "$2" download_latency_p95_s)" \
        "$(awk -v a="$(value "$2" air_bytes_down)" 'BEGIN { printf "%.1f", a / 1e6 }')" \
        "$(value "$2" broadcasts)" "$(value "$2" deadline_hit_rate)"
}

broadcast() {
    echo
    echo "== 3. broadcasting shared layers once per cell vs unicast: $devices devices, sim/broadcast.ini"
    echo "   (broadcast rows: which devices join (SINR floor), how long a cell gathers them)"
    printf "%-22s %10s %10s %11s %11s %12s %10s %10s\n" "" downloads "in time" "mean s" "p95 s" "MB air down" \
        broadcasts "all in time"
    "$bin" sim "$sim/broadcast.ini" --quiet --devices "$devices" --set strategy.broadcast=0 --json "$work/u.json" >/dev/null
    download_row "unicast" "$work/u.json"
    for floor in -100 0 5; do
        for wait in 50 200 1000; do
            "$bin" sim "$sim/broadcast.ini" --quiet --devices "$devices" --set strategy.broadcast=1 \
                --set strategy.broadcast_wait_ms=$wait --set strategy.broadcast_min_sinr_db=$floor \
                --json "$work/b.json" >/dev/null
            download_row "$([ "$floor" = -100 ] && echo "all" || echo ">= $floor dB"), ${wait} ms" "$work/b.json"
        done
    done
}

pipeline() {
    echo
    echo "== 4. layer-pipelined download and inference vs download-then-infer: $devices devices, sim/pipeline.ini"
    printf "%-22s %10s %10s %11s %11s %12s %10s %10s\n" "" downloads "in time" "mean s" "p95 s" "MB air down" \
        broadcasts "all in time"
    for p in 0 1; do
        "$bin" sim "$sim/pipeline.ini" --quiet --devices "$devices" --set strategy.pipeline=$p --json "$work/p$p.json" >/dev/null
        download_row "$([ $p = 1 ] && echo "pipelined (SLIDE)" || echo "download, then infer")" "$work/p$p.json"
    done
}

cache() {
    echo
    echo "== 5. the three-tier library's hit rates: $devices devices, sim/cache.ini"
    printf "%-11s %9s %9s | %9s %9s %9s | %12s\n" policy "edge MB" "region MB" "edge" "region" "central" "backhaul MB"
    for mb in 1 4 16; do
        for policy in lru lfu popularity; do
            "$bin" sim "$sim/cache.ini" --quiet --devices "$devices" --set "library.policy=$policy" \
                --set "library.edge_cache_mb=$mb" --set "library.region_cache_mb=$((mb * 5))" --json "$work/h.json" >/dev/null
            local rates
            rates=$(sed -n 's/.*"edge": {[^}]*"hit_rate": \([0-9.]*\)}, "region": {[^}]*"hit_rate": \([0-9.]*\)}, "central": {[^}]*"hit_rate": \([0-9.]*\)}.*/\1 \2 \3/p' "$work/h.json")
            # shellcheck disable=SC2086
            printf "%-11s %9s %9s | %9s %9s %9s | %12.1f\n" "$policy" "$mb" "$((mb * 5))" $rates \
                "$(awk -v b="$(value "$work/h.json" backhaul_bytes)" 'BEGIN { print b / 1e6 }')"
        done
    done
}

federated() {
    echo
    echo "== 6. federated rounds over the network: sim/federated.ini (44,868-value updates, 2 s to send them, 10% poisoned)"
    printf "%-8s %-8s %-10s | %8s %8s %8s | %10s | %8s\n" rule selection compress asked "in time" late "MB up" cosine
    for rule in median mean; do
        for selection in uniform aware; do
            for compress in none int8 topk:0.05; do
                "$bin" sim "$sim/federated.ini" --quiet --set "federated.rule=$rule" --set "federated.selection=$selection" \
                    --set "federated.compress=$compress" --json "$work/f.json" >/dev/null
                local line
                line=$(grep '"federated"' "$work/f.json")
                field() { sed -n "s/.*\"$1\": \([0-9.-]*\).*/\1/p" <<<"$line"; }
                printf "%-8s %-8s %-10s | %8s %8s %8s | %10.1f | %8s\n" "$rule" "$selection" "$compress" "$(field selected)" \
                    "$(field received)" "$(field late)" "$(awk -v b="$(field bytes_up)" 'BEGIN { print b / 1e6 }')" "$(field cosine_mean)"
            done
        done
    done
}

scale() {
    local n=${SCALE_DEVICES:-1000000} duration=${SCALE_DURATION:-900}
    echo
    echo "== scale: $n devices, $duration s of virtual time, sim/city.ini"
    printf "%-8s %12s %10s %10s %14s %12s %s\n" ranks events "wall s" "setup s" "events/s/rank" "max RSS MB" results
    local first=""
    for ranks in 1 2 4; do
        local cmd=("$bin" sim "$sim/city.ini" --quiet --devices "$n" --duration "$duration" --json "$work/r$ranks.json")
        if [ "$ranks" -gt 1 ]; then
            command -v mpirun >/dev/null || { echo "mpirun not installed: ranks > 1 skipped"; break; }
            cmd=(env OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 mpirun --oversubscribe -n "$ranks"
                 --mca btl self,vader "${cmd[@]}")
        fi
        /usr/bin/time -f "%M" -o "$work/rss" "${cmd[@]}" >/dev/null
        [ "$ranks" -gt 1 ] && echo "-" >"$work/rss" # mpirun's own, not the ranks'
        local digest same
        digest=$(sed -n '/"results"/,/"timing"/p' "$work/r$ranks.json" | md5sum | cut -c1-12)
        [ -z "$first" ] && first=$digest
        same=$([ "$digest" = "$first" ] && echo "identical to 1 rank ($digest)" || echo "DIFFERENT ($digest)")
        printf "%-8s %12s %10s %10s %14s %12s %s\n" "$ranks" "$(value "$work/r$ranks.json" events)" \
            "$(value "$work/r$ranks.json" wall_s)" "$(value "$work/r$ranks.json" setup_s)" \
            "$(value "$work/r$ranks.json" events_per_second)" "$(awk '{ print $1 == "-" ? "-" : int($1 / 1024) }' "$work/rss")" "$same"
    done
    echo "bytes of state per device: $(value "$work/r1.json" bytes_per_device) (device record + index + its queue entry)"
}

for section in "${sections[@]}"; do
    case $section in
        connectivity|strategies|broadcast|pipeline|cache|federated|scale) "$section" ;;
        *) echo "unknown section $section (connectivity strategies broadcast pipeline cache federated scale)" >&2; exit 2 ;;
    esac
done
