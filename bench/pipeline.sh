#!/usr/bin/env bash
# bench/pipeline.sh - layer-pipelined download and inference, for
# docs/benchmarks.md: how soon a device with a pending input has its first
# full-accuracy answer while the model arrives in 1 KB blocks over an
# emulated link, against the download alone (goal: <= 1.1x) and against
# downloading first and computing after. Each block's work (hash it, run
# the operators whose bytes are in, verify at the end) is measured on the
# Cortex-M4 under QEMU by `tinylarge pipeline`, then timed at two
# instruction rates: 64 M/s (a Cortex-M4 at 64 MHz, one instruction a
# cycle: the project's convention) and 41 M/s (TFLM + CMSIS-NN's QEMU
# instructions over its published latency on a 120 MHz Cortex-M4 board,
# ../shared/anchors.md: KWS 41.7, VWW 39.6, IC 42.3 M/s).
# usage: bench/pipeline.sh BUILD_DIR [RATE_BPS [MODEL.tlm ...]]
#   default rate 1M; default models: the main job's int8 student
#   (BUILD_DIR/main-job/catalogue/e0-s00-int8.tlm, left by `make run`) and
#   the four MLPerf Tiny models (BUILD_DIR/models/*.tlm)
set -euo pipefail
# The header above is the usage.
case ${1:-} in -h | --help) sed -n '2,/^[^#]/{/^#/p}' "$0"; exit 0 ;; esac
[ $# -ge 1 ] || { sed -n '2,/^[^#]/{/^#/p}' "$0" >&2; exit 2; }
build=$1
rate=${2:-1M}
shift $(( $# >= 2 ? 2 : 1 ))
bin=$build/tinylarge
models=("$@")
if [ ${#models[@]} -eq 0 ]; then
    [ -f "$build/main-job/catalogue/e0-s00-int8.tlm" ] && models+=("$build/main-job/catalogue/e0-s00-int8.tlm")
    for m in kws_ref_model vww_96_int8 pretrainedResnet_quant ad01_int8; do
        [ -f "$build/models/$m.tlm" ] && models+=("$build/models/$m.tlm")
    done
fi
[ ${#models[@]} -gt 0 ] || { echo "pipeline.sh: no models (run make run, or name them)" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
field() { sed -n "s/.*\"$2\": \([^,}]*\).*/\1/p" "$1" | head -1; }

echo "link $rate bit/s, 1 KB blocks; first full-accuracy answer, seconds and x the download alone"
printf '%-24s %8s %6s %9s %9s %9s %9s %9s %5s\n' model bytes "M ips" download work "dl+work" pipelined "x dl" goal
for model in "${models[@]}"; do
    for ips in 64M 41M; do
        "$bin" pipeline "$model" --rate "$rate" --ips "$ips" --json "$work/p.json" >"$work/p.txt" ||
            { cat "$work/p.txt" >&2; exit 1; }
        grep -q "device_measured\": true" "$work/p.json" || echo "pipeline.sh: $model: M4 not measured (no QEMU?)" >&2
        x=$(field "$work/p.json" pipelined_over_download)
        goal=$(awk -v x="$x" 'BEGIN { print (x <= 1.1) ? "met" : "no" }')
        printf '%-24s %8s %6s %9.4f %9.4f %9.4f %9.4f %9.3f %5s\n' "$(basename "$model" .tlm)" \
            "$(field "$work/p.json" bytes)" "${ips%M}" "$(field "$work/p.json" download_s)" \
            "$(field "$work/p.json" compute_s)" "$(field "$work/p.json" sequential_s)" \
            "$(field "$work/p.json" pipelined_s)" "$x" "$goal"
    done
done
echo "answers: every pipelined answer equalled the whole model's on this host and on the M4 (else it stops)"
