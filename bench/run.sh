#!/usr/bin/env bash
# bench/run.sh - device runtime benchmarks on the MLPerf Tiny models, printed
# beside TensorFlow Lite Micro's figures from ../shared/anchors.md (same
# models, same inputs) as ratios (ours / TFLM; below 1 is better).
#
#   - instructions per inference on x86-64 (valgrind --tool=callgrind, only
#     tl_interp_invoke and what it calls; -O2 build), vs TFLM reference kernels
#   - instructions per inference on the Cortex-M4 image (QEMU mps2-an386,
#     -icount shift=0, timer ticks x 40), vs TFLM reference and CMSIS-NN
#   - arena bytes and model bytes, vs TFLM
#   - the runtime's Cortex-M4 flash and RAM (arm-none-eabi-size)
# usage: bench/run.sh BUILD_DIR SHARED_DIR
set -euo pipefail
# The header above is the usage.
case ${1:-} in -h | --help) sed -n '2,/^[^#]/{/^#/p}' "$0"; exit 0 ;; esac
[ $# -ge 2 ] || { sed -n '2,/^[^#]/{/^#/p}' "$0" >&2; exit 2; }
build=$1
shared=$2
anchors=$shared/anchors.md
src=$shared/models/mlperf-tiny
work=$build/bench
mkdir -p "$work"
for tool in valgrind qemu-system-arm arm-none-eabi-size; do
    command -v $tool >/dev/null || { echo "bench: $tool is missing (make deps)" >&2; exit 1; }
done

# anchors.md row of a model: | name | tflite B | arena x86 | arena M4 | x86 ref | M4 ref | M4 CMSIS-NN |
anchor() { # anchor ROW_PREFIX COLUMN
    grep -m1 "^| $1" "$anchors" | awk -F'|' -v c="$(($2 + 2))" '{ gsub(/[ ,]/, "", $c); print $c }'
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else printf "-" }'; }

printf "machine: %s, %s cores; %s; %s\n" "$(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1)" \
    "$(nproc)" "$(gcc --version | head -1)" "$(qemu-system-arm --version | head -1)"
echo
printf "%-24s %9s %6s %9s %6s %13s %6s %12s %6s %12s %6s\n" model "model B" ratio "arena B" ratio \
    "x86 instr" ratio "M4 instr" "/ref" "" "/CMSIS"
models=("kws_ref_model KWS" "vww_96_int8 VWW" "pretrainedResnet_quant IC" "ad01_int8 AD")
profiles=()
stacks=()
for entry in "${models[@]}"; do
    read -r name row <<<"$entry"
    "$build/tinylarge" import "$src/$name.tflite" -o "$work/$name.tlm" >/dev/null
    info=$("$build/tinylarge" inspect "$work/$name.tlm" | tail -1)
    model_bytes=$(sed -n 's/.* \([0-9]*\) model bytes.*/\1/p' <<<"$info")
    arena=$(sed -n 's/.*arena \([0-9]*\) bytes.*/\1/p' <<<"$info")
    valgrind --tool=callgrind --toggle-collect=tl_interp_invoke --callgrind-out-file="$work/$name.cg" \
        "$build/tinylarge" run "$work/$name.tlm" --input "$src/golden/$name/1.in" >/dev/null 2>&1
    x86=$(sed -n 's/^summary: //p' "$work/$name.cg")
    log=$(qemu-system-arm -M mps2-an386 -nographic -monitor none -serial none \
        -semihosting-config enable=on,target=native -icount shift=0 -kernel "$build/firmware/fw_$name.elf" 2>&1)
    m4=$(($(sed -n 's/^timer ticks: //p' <<<"$log") * 40))
    stacks+=("$row $(sed -n 's/^stack: //p' <<<"$log") B")
    # The firmware's per-operator profile, summed by operator kind.
    profiles+=("$row: $(sed -n 's/^profile: //p' <<<"$log" | tr ' ' '\n' | awk -F= 'NF == 2 {
        if (!($1 in n)) order[++k] = $1; n[$1]++; t[$1] += $2 * 40 }
        END { for (i = 1; i <= k; i++) printf "%s%s x%d %d", (i > 1 ? ", " : ""), order[i], n[order[i]], t[order[i]] }')")
    printf "%-24s %9s %6s %9s %6s %13s %6s %12s %6s %12s %6s\n" "$name" \
        "$model_bytes" "$(ratio "$model_bytes" "$(anchor "$row" 1)")" \
        "$arena" "$(ratio "$arena" "$(anchor "$row" 2)")" \
        "$x86" "$(ratio "$x86" "$(anchor "$row" 4)")" \
        "$m4" "$(ratio "$m4" "$(anchor "$row" 5)")" "" "$(ratio "$m4" "$(anchor "$row" 6)")"
done
echo
echo "ratios: ours / TFLite Micro (anchors.md); M4 counts are +-40 instructions."
echo
echo "Cortex-M4 instructions per operator kind (the firmware's profile, one operator at a time):"
printf "  %s\n" "${profiles[@]}"
echo
# Runtime footprint on the Cortex-M4: the device library's objects, and the
# firmware image minus the embedded model and input.
# The update state machine and its crypto (src/device/update/) are counted
# apart, below: the runtime's figure stays the inference runtime's.
update_objects='^(sha512|ed25519|cbor|manifest|update)\.c\.obj'
sizes=$(arm-none-eabi-size "$build/firmware/libtl_device.a" | tail -n +2)
read -r text data bss <<<"$(awk -v u="$update_objects" '{ split($6, f, " "); if (f[1] !~ u) { t += $1; d += $2; b += $3 } } END { print t, d, b }' <<<"$sizes")"
echo "Cortex-M4 runtime library (-O2): text $text B, data $data B, bss $bss B" \
     "(TFLM library part with reference kernels: 42035 B text, ratio $(ratio "$text" 42035))"
# The KWS image links the operators of the four MLPerf Tiny models (the
# table `tinylarge resolver` wrote); fw_all_ops.elf is the same image with
# every operator.
blobs=$(( $(stat -c %s "$build/models/kws_ref_model.tlm") + $(stat -c %s "$build/models/kws_ref_model.in") ))
for image in kws_ref_model all_ops; do
    fw_text=$(arm-none-eabi-size "$build/firmware/fw_$image.elf" | tail -1 | awk '{ print $1 }')
    what="the MLPerf Tiny set's $(grep -c '= &tl_op_' "$build/models/op_resolver.c") operators"
    [ "$image" = all_ops ] && what="all $(grep -c '= &tl_op_' "$(dirname "$0")/../src/device/op_table.c") operators"
    echo "Cortex-M4 firmware text without the model, $what: $((fw_text - blobs)) B" \
         "(TFLM firmware with reference kernels: 60484 B)"
done
# The runtime a device links for the MLPerf set: the text of the KWS image's
# functions that come from the device library (the rest is the board's
# startup and semihosting code and libc's memcpy).
lib_symbols=$(arm-none-eabi-nm --defined-only "$build/firmware/libtl_device.a" 2>/dev/null | awk 'NF == 3 && $2 ~ /[tT]/ { print $3 }')
runtime=$(arm-none-eabi-nm -S -t d "$build/firmware/fw_kws_ref_model.elf" |
    awk 'NR == FNR { lib[$1] = 1; next } NF == 4 && $3 ~ /[tT]/ && ($4 in lib) { t += $2 } END { print t + 0 }' \
        <(printf '%s\n' "$lib_symbols") -)
echo "Cortex-M4 runtime the MLPerf image links (the library's functions in it): $runtime B"
# Stack: one inference's, measured by each image (the stack painted before,
# the deepest byte changed found after); loading's from gcc -fstack-usage
# (the loader and SHA-256 frames).
su=$(find "$build/firmware" -name '*.su' -exec cat {} +)
frame() { awk -F'\t' -v f="$1" '{ n = split($1, a, ":"); if (a[n] ~ "^" f "(\\.|$)") { if ($2 > m) m = $2 } } END { print m + 0 }' <<<"$su"; }
load=$(( $(frame tl_model_load) + $(frame tl_model_load_ex) + $(frame load) + $(frame compress) ))
echo "Cortex-M4 stack: one inference (measured) $(IFS=,; sed 's/,/, /g' <<<"${stacks[*]}"); model load <= $load B" \
     "(-fstack-usage); RAM = arena + stack, no heap, no static data"
# The update code (signed manifest, Ed25519, state machine) on the M4: its
# flash, the RAM its state holds, and one signature check's instructions
# and stack, from the fw_verify image (RFC 8032's third vector).
update_text=$(awk -v u="$update_objects" '{ split($6, f, " "); if (f[1] ~ u) t += $1 } END { print t + 0 }' <<<"$sizes")
log=$(timeout 300 qemu-system-arm -M mps2-an386 -nographic -monitor none -serial none \
    -semihosting-config enable=on,target=native -icount shift=0 -kernel "$build/firmware/fw_verify.elf" 2>&1)
grep -q "^signature check: ok" <<<"$log" || { echo "bench: the M4 signature check failed" >&2; exit 1; }
echo "Cortex-M4 update code (src/device/update, -O2): text $update_text B; state (tl_update) $(sed -n 's/^update state: //p' <<<"$log") B;" \
     "one Ed25519 signature check ~$(($(sed -n 's/^timer ticks: //p' <<<"$log") * 40)) instructions," \
     "$(sed -n 's/^stack: //p' <<<"$log") B of stack"
