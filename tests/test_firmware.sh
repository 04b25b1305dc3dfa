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
# The runner image reads any model file over semihosting and runs it on the
# seeded input (as `tinylarge run` does by default).
runner=$build/firmware/fw_runner.elf
on_m4() { # on_m4 MODEL [--densify]
    timeout 300 qemu-system-arm -M mps2-an386 -nographic -monitor none -serial none \
        -semihosting-config enable=on,target=native,arg=runner,arg="$1"${2:+,arg=$2} -icount shift=0 \
        -kernel "$runner" 2>&1
}
# runner_matches_host NAME MODEL [--densify]: the firmware's output equals
# the host's (with --densify, the M4 first makes the model dense itself).
runner_matches_host() {
    local log got host
    log=$(on_m4 "$2" "${3:-}")
    local dense_ok=1 # with --densify, the runner must say it expanded the model
    [ -z "${3:-}" ] || grep -q "^densified on the device: [0-9]* bytes" <<<"$log" || dense_ok=0
    got=$(sed -n 's/^output: //p' <<<"$log")
    "$build/tinylarge" run "$2" --output "$2.host.out" >/dev/null
    host=$(od -An -v -td1 "$2.host.out" | xargs)
    if [ -n "$got" ] && [ "$got" = "$host" ] && [ "$dense_ok" -eq 1 ]; then
        passed=$((passed + 1))
        echo "runner, $1: output matches host; ~$(($(sed -n 's/^timer ticks: //p' <<<"$log") * 40)) instructions"
    else
        failed=$((failed + 1))
        echo "FAIL: runner, $1 (firmware: '$got', host: '$host')"
        sed 's/^/  | /' <<<"$log" | head -5
    fi
}
model=$build/models/kws_ref_model.tlm
if [ -f "$runner" ] && [ -f "$model" ]; then
    runner_matches_host "a model file read over semihosting" "$model"
    if grep -q "runner: cannot read /nonexistent.tlm (missing" <<<"$(on_m4 /nonexistent.tlm)"; then
        passed=$((passed + 1))
    else
        failed=$((failed + 1))
        echo "FAIL: runner on a missing file"
    fi
fi
# Operators the MLPerf models do not use, from TFLite Micro's own examples:
# an int16 input, QUANTIZE, SVDF with int16 state and an int16 softmax
# (keyword_scrambled); the integer LSTM with its int16 cell (the MNIST LSTM).
examples=$shared/models/tflm-examples
if [ -f "$runner" ] && [ -f "$examples/keyword_scrambled.tflite" ]; then
    for example in keyword_scrambled trained_lstm_int8; do
        "$build/tinylarge" import "$examples/$example.tflite" -o "$build/models/$example.tlm" >/dev/null &&
            runner_matches_host "TFLM example $example" "$build/models/$example.tlm"
    done
fi
# Trained models in the encodings the MLPerf models do not use: packed int4
# (the DSP-extension int4 dot products) and pruned weights (the sparse
# kernels), each also expanded to dense int8 by the M4 (tl_model_densify). A student trained for one epoch on 600 images is enough.
data=/usr/share/datasets/fashion-mnist
if [ -f "$runner" ] && [ -f "$data/train-images-idx3-ubyte.gz" ]; then
    work=$build/firmware-encodings
    mkdir -p "$work"
    "$build/tinylarge" train --arch student --epochs 1 --limit 600 --prune 0.6 --out "$work/student.tlc" >/dev/null 2>&1
    for encoding in int4 sparse; do
        model=$work/student-$encoding.tlm
        if "$build/tinylarge" export "$work/student.tlc" -o "$model" --"$encoding" --limit 100 --calibration 100 \
            >/dev/null 2>&1; then
            runner_matches_host "student, $encoding weights" "$model"
            runner_matches_host "student, $encoding weights made dense on the M4" "$model" --densify
        else
            failed=$((failed + 1))
            echo "FAIL: could not export the $encoding student"
        fi
    done
fi
# The M4 convolution kernels (every DSP path) against a plain reference on
# 600 random shapes, and its requantisation on 20,000 values (firmware/kernels.c).
kernels=$build/firmware/fw_kernels.elf
if [ -f "$kernels" ]; then
    log=$(timeout 300 qemu-system-arm -M mps2-an386 -nographic -monitor none -serial none \
        -semihosting-config enable=on,target=native -icount shift=0 -kernel "$kernels" 2>&1)
    if [ $? -eq 0 ] && grep -q "^kernel cases: 601 passed, 0 failed" <<<"$log"; then
        passed=$((passed + 1))
        echo "convolution kernels on the M4: 600 random shapes and 20,000 requantisations match the reference"
    else
        failed=$((failed + 1))
        echo "FAIL: convolution kernels on the M4"
        sed 's/^/  | /' <<<"$log" | head -10
    fi
fi
# The device's own Ed25519 verifier on the M4: RFC 8032's third vector
# holds, the same signature with a bit flipped is refused.
verify=$build/firmware/fw_verify.elf
if [ -f "$verify" ]; then
    log=$(timeout 300 qemu-system-arm -M mps2-an386 -nographic -monitor none -serial none \
        -semihosting-config enable=on,target=native -icount shift=0 -kernel "$verify" 2>&1)
    if [ $? -eq 0 ] && grep -q "^signature check: ok" <<<"$log" && grep -q "^tampered: refused" <<<"$log"; then
        passed=$((passed + 1))
        echo "signature check on the M4: ok, tampered refused; ~$(($(sed -n 's/^timer ticks: //p' <<<"$log") * 40)) instructions"
    else
        failed=$((failed + 1))
        echo "FAIL: signature check on the M4"
        sed 's/^/  | /' <<<"$log" | head -5
    fi
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
