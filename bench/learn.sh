#!/usr/bin/env bash
# bench/learn.sh - on-device transfer learning (issue 26, part A). A device
# whose data differs from the training data: it sees 3 of Fashion-MNIST's 10
# classes (label skew) and its images are shifted (rotated, darkened or
# noisy: covariate shift). For each shift, the device's accuracy on its own
# distribution (the test split, same classes, same shift) before learning
# and after 50, 200 and 1,000 local samples (train split); then, on the
# Cortex-M4 under QEMU (-icount shift=0, 40 instructions a timer tick), the
# instructions per sample of the backbone's forward pass and of the head's
# learning step, and the learner's RAM beyond the inference arena.
# The student is trained here once (8 epochs, ~8 minutes on 2 cores) and
# kept in BUILD_DIR/bench/learn.
# usage: bench/learn.sh BUILD_DIR [CLASSES]
set -euo pipefail
case ${1:-} in -h | --help) sed -n '2,/^[^#]/{/^#/p}' "$0"; exit 0 ;; esac
[ $# -ge 1 ] || { sed -n '2,/^[^#]/{/^#/p}' "$0" >&2; exit 2; }
build=$1
classes=${2:-0,2,6}
bin=$build/tinylarge
elf=$build/firmware/fw_learn.elf
work=$build/bench/learn
mkdir -p "$work"
if [ ! -f "$work/student.tlm" ]; then
    echo "training the student (8 epochs) ..."
    [ -f "$work/student.tlc" ] || "$bin" train --arch student --epochs 8 --out "$work/student.tlc" 2>&1 | tail -1
    "$bin" export "$work/student.tlc" -o "$work/student.tlm" | tail -1
fi
echo
echo "device: classes $classes of Fashion-MNIST, its own test images (same classes, same shift)"
printf '| shift | before | after 50 | after 200 | after 1,000 | gain at 200 (points) |\n'
printf '|---|---|---|---|---|---|\n'
for shift in none rotate:30 brightness:-80 noise:40; do
    row="| $shift"
    before="" gain=""
    for n in 50 200 1000; do
        out=$("$bin" learn "$work/student.tlm" --classes "$classes" --shift "$shift" --samples "$n" \
            -o "$work/adapted.tlm" --samples-out "$work/samples-$n.tlls")
        b=$(sed -n 's/^accuracy before: \([0-9.]*\).*/\1/p' <<<"$out")
        a=$(sed -n 's/^accuracy after: *\([0-9.]*\).*/\1/p' <<<"$out")
        [ -n "$before" ] || { before=$b; row="$row | $b"; }
        row="$row | $a"
        [ "$n" != 200 ] || gain=$(awk -v a="$a" -v b="$b" 'BEGIN { printf "%+.1f", 100 * (a - b) }')
        [ "$shift" != noise:40 ] || [ "$n" != 200 ] || cp "$work/samples-$n.tlls" "$work/m4.tlls"
    done
    echo "$row | $gain |"
done
if command -v qemu-system-arm >/dev/null && [ -f "$elf" ]; then
    log=$(qemu-system-arm -M mps2-an386 -nographic -monitor none -serial none -icount shift=0 \
        -semihosting-config "enable=on,target=native,arg=learn,arg=$work/student.tlm,arg=$work/m4.tlls,arg=$work/m4.tlm,arg=$work/m4.delta" \
        -kernel "$elf" 2>&1)
    n=$(sed -n 's/^samples: //p' <<<"$log")
    arena=$("$bin" inspect "$work/student.tlm" | sed -n 's/.*arena \([0-9]*\) bytes.*/\1/p')
    echo
    echo "Cortex-M4 (QEMU mps2-an386), $n samples (noise:40), default learner (replay 4, memory 256):"
    printf '| per sample | instructions |\n|---|---|\n'
    awk -v n="$n" '/^forward ticks:/ { printf "| backbone forward (to the head) | %d |\n", $3 * 40 / n }
                   /^learn ticks:/   { printf "| head learning step (1 + 4 replayed) | %d |\n", $3 * 40 / n }' <<<"$log"
    awk '/^write ticks:/ { printf "writing the adapted model (once): %d instructions\n", $3 * 40 }' <<<"$log"
    echo "learner RAM beyond the ${arena}-byte arena: $(sed -n 's/^work bytes: //p' <<<"$log") bytes of work" \
        "buffer + $(sed -n 's/^learner bytes: //p' <<<"$log") bytes of tl_learner"
    echo "deepest stack frame of the learner (-fstack-usage):" \
        "$(find "$build/firmware" -name learn.c.su -exec cat {} + | sort -t"$(printf '\t')" -k2 -n | tail -1 |
            sed 's/.*:\([a-z_]*\)\t\([0-9]*\).*/\1, \2 bytes/')"
fi
