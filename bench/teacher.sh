#!/usr/bin/env bash
# bench/teacher.sh - the teacher's results on Fashion-MNIST's full test split
# (10,000 images), for docs/benchmarks.md:
#   - the teacher (ResNet, 1.56 M parameters) trained 15 epochs on two
#     threads (72 minutes on a 2-core AVX-512 machine) unless a checkpoint is given;
#   - knowledge distillation: the student distilled from it, 25 epochs, one
#     thread, against the student trained alone with the same settings
#     (bench/accuracy.sh's checkpoint, trained here if missing);
#   - the teacher compressed: int8 and int4 post-training, then 30% of each
#     prunable convolution's filters removed with 3 epochs of int4
#     quantisation-aware fine-tuning, exported int4; bytes against the float
#     network's (4 bytes per parameter).
# usage: bench/teacher.sh BUILD_DIR [TEACHER.tlc [STUDENT.tlc [DISTILLED.tlc]]]
set -euo pipefail
# The header above is the usage.
case ${1:-} in -h | --help) sed -n '2,/^[^#]/{/^#/p}' "$0"; exit 0 ;; esac
[ $# -ge 1 ] || { sed -n '2,/^[^#]/{/^#/p}' "$0" >&2; exit 2; }
build=$1
bin=$build/tinylarge
out=$build/accuracy
mkdir -p "$out"
teacher=${2:-$out/teacher.tlc}
student=${3:-$out/student.tlc}
distilled=${4:-$out/student-kd.tlc}
if [ ! -f "$teacher" ]; then
    start=$SECONDS
    "$bin" train --arch teacher --epochs 15 --threads 2 --out "$teacher"
    echo "teacher: $((SECONDS - start)) s wall, 2 threads"
fi
[ -f "$student" ] || "$bin" train --arch student --epochs 25 --out "$student"
[ -f "$distilled" ] || "$bin" distill --teacher "$teacher" --arch student --epochs 25 --out "$distilled"
echo "== the teacher, float"
"$bin" eval "$teacher"
echo "== the student: alone, then distilled from the teacher (same settings)"
"$bin" eval "$student"
"$bin" eval "$distilled"
float_bytes=$("$bin" eval "$teacher" --limit 1 2>&1 | sed -n "s/.*, \([0-9]*\) parameters,.*/\1/p")
float_bytes=$((float_bytes * 4))
ratio() { awk -v f="$float_bytes" -v b="$(stat -c %s "$1")" 'BEGIN { printf "%s: %d bytes, %.2fx smaller than the float teacher (%d bytes)\n", ARGV[1], b, f / b, f }' "$1"; }
echo "== the teacher, post-training int8 and int4"
"$bin" export "$teacher" -o "$out/teacher-int8.tlm"
ratio "$out/teacher-int8.tlm"
"$bin" export "$teacher" --int4 -o "$out/teacher-int4.tlm"
ratio "$out/teacher-int4.tlm"
echo "== the teacher: 30% of the filters removed, 3 epochs of int4 quantisation-aware fine-tuning"
slim=$out/teacher-c30-q4.tlc
[ -f "$slim" ] || "$bin" train --init "$teacher" --prune-channels 0.3 --qat 4 --epochs 3 --lr 0.01 --out "$slim"
"$bin" export "$slim" --int4 -o "$out/teacher-c30-int4.tlm"
ratio "$out/teacher-c30-int4.tlm"
