#!/usr/bin/env bash
# test_firmware.sh - the Cortex-M4 firmware images under QEMU (mps2-an386).
# Each image runs its model on golden input 1; the output it prints must
# equal the host runtime's output and TensorFlow Lite Micro's golden bytes.
# usage: test_firmware.sh BUILD_DIR SHARED_DIR MODEL...
set -u
build=$1
shared=$2
shift 2
if ! command -v qemu-system-arm >/dev/null; then
    echo "skipped: qemu-system-arm is not installed"
    exit 77
fi
passed=0
failed=0
for model in "$@"; do
    elf=$build/firmware/fw_$model.elf
    log=$(timeout 300 qemu-system-arm -M mps2-an386 -nographic -monitor none -serial none \
        -semihosting-config enable=on,target=native -icount shift=0 -kernel "$elf" 2>&1)
    status=$?
    got=$(sed -n 's/^output: //p' <<<"$log")
    want=$(od -An -v -td1 "$shared/models/mlperf-tiny/golden/$model/1.out" | xargs)
    "$build/tinylarge" run "$build/models/$model.tlm" --input "$build/models/$model.in" \
        --output "$build/models/$model.host.out" >/dev/null
    host=$(od -An -v -td1 "$build/models/$model.host.out" | xargs)
    if [ "$status" -eq 0 ] && [ -n "$got" ] && [ "$got" = "$want" ] && [ "$got" = "$host" ]; then
        passed=$((passed + 1))
        ticks=$(sed -n 's/^timer ticks: //p' <<<"$log")
        echo "$model: output matches host and golden; ~$((ticks * 40)) instructions"
    else
        failed=$((failed + 1))
        echo "FAIL: $model (qemu status $status)"
        echo "  firmware: $got"
        echo "  host:     $host"
        echo "  golden:   $want"
        sed 's/^/  | /' <<<"$log" | head -10
    fi
done
# The runner image reads any model file over semihosting: the imported KWS
# model on the seeded input must give the host's output.
runner=$build/firmware/fw_runner.elf
model=$build/models/kws_ref_model.tlm
if [ -f "$runner" ] && [ -f "$model" ]; then
    log=$(timeout 300 qemu-system-arm -M mps2-an386 -nographic -monitor none -serial none \
        -semihosting-config enable=on,target=native,arg=runner,arg="$model" -icount shift=0 -kernel "$runner" 2>&1)
    got=$(sed -n 's/^output: //p' <<<"$log")
    "$build/tinylarge" run "$model" --output "$build/models/kws.seed1.out" >/dev/null
    host=$(od -An -v -td1 "$build/models/kws.seed1.out" | xargs)
    if [ -n "$got" ] && [ "$got" = "$host" ]; then
        passed=$((passed + 1))
        echo "runner: a model file read over semihosting matches the host"
    else
        failed=$((failed + 1))
        echo "FAIL: runner (firmware: '$got', host: '$host')"
        sed 's/^/  | /' <<<"$log" | head -5
    fi
    log=$(timeout 60 qemu-system-arm -M mps2-an386 -nographic -monitor none -serial none \
        -semihosting-config enable=on,target=native,arg=runner,arg=/nonexistent.tlm -icount shift=0 -kernel "$runner" 2>&1)
    if grep -q "runner: cannot open /nonexistent.tlm" <<<"$log"; then
        passed=$((passed + 1))
    else
        failed=$((failed + 1))
        echo "FAIL: runner on a missing file: $log"
    fi
fi
# Trained models in the encodings the MLPerf models do not use: packed int4
# (the DSP-extension int4 dot products) and pruned weights (the sparse
# kernels). A student trained for one epoch on 600 images is enough: the
# firmware's output must equal the host's on the seeded input.
data=/usr/share/datasets/fashion-mnist
if [ -f "$runner" ] && [ -f "$data/train-images-idx3-ubyte.gz" ]; then
    work=$build/firmware-encodings
    mkdir -p "$work"
    "$build/tinylarge" train --arch student --epochs 1 --limit 600 --prune 0.6 --out "$work/student.tlc" >/dev/null 2>&1
    for encoding in int4 sparse; do
        model=$work/student-$encoding.tlm
        if ! "$build/tinylarge" export "$work/student.tlc" -o "$model" --"$encoding" --limit 100 --calibration 100 \
            >/dev/null 2>&1; then
            failed=$((failed + 1))
            echo "FAIL: could not export the $encoding student"
            continue
        fi
        log=$(timeout 300 qemu-system-arm -M mps2-an386 -nographic -monitor none -serial none \
            -semihosting-config enable=on,target=native,arg=runner,arg="$model" -icount shift=0 -kernel "$runner" 2>&1)
        got=$(sed -n 's/^output: //p' <<<"$log")
        "$build/tinylarge" run "$model" --output "$work/student-$encoding.host.out" >/dev/null
        host=$(od -An -v -td1 "$work/student-$encoding.host.out" | xargs)
        if [ -n "$got" ] && [ "$got" = "$host" ]; then
            passed=$((passed + 1))
            ticks=$(sed -n 's/^timer ticks: //p' <<<"$log")
            echo "student, $encoding weights: output matches host; ~$((ticks * 40)) instructions"
        else
            failed=$((failed + 1))
            echo "FAIL: student, $encoding weights (firmware: '$got', host: '$host')"
            sed 's/^/  | /' <<<"$log" | head -5
        fi
    done
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
