#!/usr/bin/env bash
# m4-instructions.sh - instructions of one inference of a .tlm model on the
# Cortex-M4 (QEMU mps2-an386, -icount shift=0: timer ticks x 40), using the
# runner firmware that reads the model file over semihosting.
# usage: m4-instructions.sh BUILD_DIR MODEL.tlm   (prints a number, or fails)
set -euo pipefail
runner=$1/firmware/fw_runner.elf
command -v qemu-system-arm >/dev/null && [ -f "$runner" ] || { echo "needs qemu-system-arm and $runner" >&2; exit 1; }
log=$(timeout 300 qemu-system-arm -M mps2-an386 -nographic -monitor none -serial none \
    -semihosting-config enable=on,target=native,arg=runner,arg="$2" -icount shift=0 -kernel "$runner" 2>&1 || true)
ticks=$(sed -n 's/^timer ticks: //p' <<<"$log")
[ -n "$ticks" ] || { echo "the runner did not finish: $log" >&2; exit 1; }
echo $((ticks * 40))
