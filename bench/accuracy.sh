#!/usr/bin/env bash
# bench/accuracy.sh - the compression results on Fashion-MNIST's full test
# split (10,000 images), for docs/benchmarks.md:
#   - the student trained alone (25 epochs, SGD, cosine; ~45 minutes on one
#     core) unless a checkpoint is given;
#   - its int8 export, float vs device accuracy, bytes, arena, Cortex-M4;
#   - int4: post-training and after one epoch of quantisation-aware training;
#   - structured pruning: 25% and 50% of every convolution's filters
#     removed, 3 epochs of fine-tuning, exported int8;
#   - the early-exit cascade of the two-exit student (8 epochs);
#   - the variant catalogue (sparsity 0 / 0.5 / 0.75 x int8 / int4; pruned
#     tensors stored in the smallest encoding, bitmap at these sparsities);
#   - the accuracy of each bit-plane prefix of the int8 model.
# usage: bench/accuracy.sh BUILD_DIR [STUDENT.tlc]
set -euo pipefail
# The header above is the usage.
case ${1:-} in -h | --help) sed -n '2,/^[^#]/{/^#/p}' "$0"; exit 0 ;; esac
[ $# -ge 1 ] || { sed -n '2,/^[^#]/{/^#/p}' "$0" >&2; exit 2; }
build=$1
bin=$build/tinylarge
out=$build/accuracy
mkdir -p "$out"
student=${2:-$out/student.tlc}
if [ ! -f "$student" ]; then
    "$bin" train --arch student --epochs 25 --out "$student"
fi
echo "== the student, float"
"$bin" eval "$student"
echo "== int8 export"
"$bin" export "$student" -o "$out/student-int8.tlm"
"$bin" inspect "$out/student-int8.tlm" | tail -1
if m4=$("$(dirname "$0")/../scripts/m4-instructions.sh" "$build" "$out/student-int8.tlm"); then
    echo "Cortex-M4 (QEMU): $m4 instructions per inference"
fi
echo "== int4: post-training, then after one epoch of quantisation-aware training"
"$bin" export "$student" --int4 -o "$out/student-int4-ptq.tlm"
"$bin" train --init "$student" --qat 4 --epochs 1 --lr 0.002 --out "$out/student-qat4.tlc" 2>/dev/null
"$bin" export "$out/student-qat4.tlc" --int4 -o "$out/student-int4-qat.tlm"
"$bin" inspect "$out/student-int4-qat.tlm" | tail -1
echo "== bit-plane progressive prefixes of the int8 model"
"$bin" progressive "$out/student-int8.tlm" -o "$out/student-int8.tlp" --accuracy --limit 10000
echo "== structured pruning: filters removed, then 3 epochs of fine-tuning"
for f in 0.25 0.5; do
    "$bin" train --init "$student" --prune-channels "$f" --epochs 3 --lr 0.01 --out "$out/slim-$f.tlc" 2>&1 | tail -1
    "$bin" export "$out/slim-$f.tlc" -o "$out/slim-$f.tlm"
    "$bin" inspect "$out/slim-$f.tlm" | tail -1
    if m4=$("$(dirname "$0")/../scripts/m4-instructions.sh" "$build" "$out/slim-$f.tlm"); then
        echo "Cortex-M4 (QEMU): $m4 instructions per inference"
    fi
done
echo "== the early-exit cascade: the two-exit student, 8 epochs, int8"
exits=$out/student-exits.tlc
[ -f "$exits" ] || "$bin" train --arch student-exits --epochs 8 --out "$exits" 2>&1 | tail -1
"$bin" export "$exits" -o "$out/student-exits.tlm"
"$bin" cascade "$out/student-exits.tlm"
echo "== the variant catalogue"
"$bin" compress "$student" --out-dir "$out/catalogue" --sparsity 0,0.5,0.75 --bits 8,4 \
    --finetune-epochs 1 --finetune-limit 60000 --limit 10000
