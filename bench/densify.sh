#!/usr/bin/env bash
# bench/densify.sh - what installing a packed (sparse or int4) variant as
# dense int8 gains on the Cortex-M4, for docs/benchmarks.md. For every
# variant of a catalogue with sparse or int4 filters: its bytes, the bytes of
# its dense form (tinylarge densify), the instructions of one inference of
# each under QEMU (scripts/m4-instructions.sh), and whether their outputs are
# byte-identical on SEEDS pseudo-random inputs (tinylarge run --output).
# usage: bench/densify.sh BUILD_DIR [CATALOGUE_DIR [SEEDS]]
#   default catalogue: BUILD_DIR/main-job/catalogue (left by `make run`)
set -euo pipefail
# The header above is the usage.
case ${1:-} in -h | --help) sed -n '2,/^[^#]/{/^#/p}' "$0"; exit 0 ;; esac
[ $# -ge 1 ] || { sed -n '2,/^[^#]/{/^#/p}' "$0" >&2; exit 2; }
build=$1
catalogue=${2:-$build/main-job/catalogue}
seeds=${3:-5}
bin=$build/tinylarge
here=$(cd "$(dirname "$0")/.." && pwd)
[ -f "$catalogue/catalogue.csv" ] || { echo "densify.sh: $catalogue: no catalogue.csv (run make run first)" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
instructions() { "$here/scripts/m4-instructions.sh" "$build" "$1" 2>/dev/null || echo "-"; }

printf '%-16s %9s %9s %13s %13s %7s %s\n' variant bytes dense "M4 instr." "M4 dense" ratio outputs
for model in "$catalogue"/*.tlm; do
    name=$(basename "$model" .tlm)
    "$bin" inspect "$model" | grep -Eq '(sparse|bitmap)-int8|int4' || continue
    "$bin" densify "$model" -o "$work/$name.tlm" >/dev/null
    same=identical
    for s in $(seq "$seeds"); do
        "$bin" run "$model" --seed "$s" --output "$work/a" >/dev/null
        "$bin" run "$work/$name.tlm" --seed "$s" --output "$work/b" >/dev/null
        cmp -s "$work/a" "$work/b" || same=DIFFERENT
    done
    before=$(instructions "$model")
    after=$(instructions "$work/$name.tlm")
    ratio=-
    [ "$before" != - ] && [ "$after" != - ] && ratio=$(awk -v a="$after" -v b="$before" 'BEGIN { printf "%.2f", a / b }')
    printf '%-16s %9s %9s %13s %13s %7s %s (%s inputs)\n' "$name" "$(stat -c %s "$model")" \
        "$(stat -c %s "$work/$name.tlm")" "$before" "$after" "$ratio" "$same" "$seeds"
done
echo "(bytes: on the air; dense: in flash after tinylarge densify; M4: one inference under QEMU mps2-an386)"
