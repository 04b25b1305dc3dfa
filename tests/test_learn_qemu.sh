#!/usr/bin/env bash
# test_learn_qemu.sh - on-device transfer learning is the same on the host
# and on the Cortex-M4. A small student is trained and exported on a test
# dataset; `tinylarge learn` adapts its head to a shifted, class-skewed slice
# of it and logs the samples it learnt from; the M4 image (firmware/learn.c)
# learns from the same log under QEMU mps2-an386. The adapted models and the
# heads' deltas must be identical byte for byte.
# usage: test_learn_qemu.sh BUILD_DIR MAKE_DATASET
set -u
build=$1
make_dataset=$2
bin=$build/tinylarge
elf=$build/firmware/fw_learn.elf
if ! command -v qemu-system-arm >/dev/null; then
    echo "skipped: qemu-system-arm is not installed"; exit 77
fi
if [ ! -f "$elf" ]; then
    echo "skipped: the learning firmware is not built"; exit 77
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# shellcheck source=check.sh
. "$(dirname "$0")/check.sh"

mkdir -p "$work/data" && "$make_dataset" "$work/data" idx >/dev/null
"$bin" train --arch student-tiny --epochs 2 --data "$work/data" --out "$work/s.tlc" >/dev/null
"$bin" export "$work/s.tlc" -o "$work/s.tlm" --data "$work/data" >/dev/null
check "the host learns the head from a skewed, noisy slice" 0 \
    "head = operator [0-9]+ \(FULLY_CONNECTED [0-9]+ -> 3\).*classes 1,2, shift noise:30; 150 local samples.*accuracy after" -- \
    "$bin" learn "$work/s.tlm" --data "$work/data" --classes 1,2 --shift noise:30 --samples 150 \
    -o "$work/host.tlm" --delta "$work/host.delta" --samples-out "$work/samples.tlls"
check "the adapted model is not the shipped one" 1 "differ" -- cmp "$work/s.tlm" "$work/host.tlm"
check "the adapted model loads, its digest holds" 0 "digest ok, unsigned" -- "$bin" inspect "$work/host.tlm"

log=$(timeout 300 qemu-system-arm -M mps2-an386 -nographic -monitor none -serial none -icount shift=0 \
    -semihosting-config "enable=on,target=native,arg=learn,arg=$work/s.tlm,arg=$work/samples.tlls,arg=$work/m4.tlm,arg=$work/m4.delta" \
    -kernel "$elf" 2>&1)
check "the Cortex-M4 learnt from the same 150 samples" 0 "samples: 150" -- echo "$log"
check "the M4's adapted model is the host's, byte for byte" 0 "" -- cmp "$work/host.tlm" "$work/m4.tlm"
check "the M4's head delta is the host's, byte for byte" 0 "" -- cmp "$work/host.delta" "$work/m4.delta"
sed -n 's/^\(work bytes\|forward ticks\|learn ticks\|write ticks\): /  M4 \1: /p' <<<"$log"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
