#!/usr/bin/env bash
# bench/progressive.sh - accuracy against bytes received, for each order a
# device could get its first answer in, for docs/benchmarks.md (goal: an
# answer with >= 85% of the full model's accuracy from <= 30% of its bytes):
#   planes         the model's bit-plane stream (tinylarge progressive):
#                  skeleton, then one plane of every layer at a time;
#   sibling first  a small sibling model (the main job's student-tiny, the
#                  hall catalogue's variant) whole, then the planes; the
#                  device answers with the better of the two it holds.
# Accuracy on the first LIMIT test images through the device runtime; bytes
# as a share of the whole model's .tlm.
# usage: bench/progressive.sh BUILD_DIR [LIMIT [MODEL.tlm [SIBLING.tlm]]]
#   defaults: 1000 images; BUILD_DIR/main-job/catalogue/e0-s00-int8.tlm and
#   BUILD_DIR/main-job/catalogue-hall/e0-s00-int8.tlm (left by `make run`)
set -euo pipefail
# The header above is the usage.
case ${1:-} in -h | --help) sed -n '2,/^[^#]/{/^#/p}' "$0"; exit 0 ;; esac
[ $# -ge 1 ] || { sed -n '2,/^[^#]/{/^#/p}' "$0" >&2; exit 2; }
build=$1
limit=${2:-1000}
model=${3:-$build/main-job/catalogue/e0-s00-int8.tlm}
sibling=${4:-$build/main-job/catalogue-hall/e0-s00-int8.tlm}
bin=$build/tinylarge
for f in "$model" "$sibling"; do
    [ -f "$f" ] || { echo "progressive.sh: $f is missing (run make run first)" >&2; exit 1; }
done
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
bytes=$(stat -c %s "$model")
sibling_bytes=$(stat -c %s "$sibling")
# A model's accuracy: the whole stream's (all 8 planes) is the model's own.
accuracy() { "$bin" progressive "$1" -o "$work/s.tlp" --accuracy --limit "$limit" | awk '$1 == 8 { print $4 }'; }
"$bin" progressive "$model" -o "$work/m.tlp" --accuracy --limit "$limit" >"$work/planes.txt"
full=$(awk '$1 == 8 { print $4 }' "$work/planes.txt")
sib=$(accuracy "$sibling")
[ -n "$full" ] && [ -n "$sib" ] || { echo "progressive.sh: no accuracy measured" >&2; cat "$work/planes.txt" >&2; exit 1; }
echo "whole model: $bytes bytes, accuracy $full on $limit test images; sibling: $sibling_bytes bytes, accuracy $sib"
printf '%-14s %8s %10s %9s %9s %s\n' order step bytes "of model" accuracy "of full"
row() { # ORDER STEP BYTES ACCURACY
    printf '%-14s %8s %10s %8.1f%% %9s %8.1f%%\n' "$1" "$2" "$3" \
        "$(awk -v b="$3" -v n="$bytes" 'BEGIN { print 100 * b / n }')" "$4" \
        "$(awk -v a="$4" -v f="$full" 'BEGIN { print 100 * a / f }')"
}
while read -r planes prefix _ acc; do
    [[ $planes =~ ^[0-9]+$ ]] && row planes "$planes/8" "$prefix" "$acc"
done <"$work/planes.txt"
row "sibling first" sibling "$sibling_bytes" "$sib"
while read -r planes prefix _ acc; do
    # The device answers with whichever of the two it holds is better.
    best=$(awk -v a="$acc" -v b="$sib" 'BEGIN { print (a > b) ? a : b }')
    [[ $planes =~ ^[0-9]+$ ]] && row "sibling first" "+$planes/8" "$((sibling_bytes + prefix))" "$best"
done <"$work/planes.txt"
echo "goal: the first answer with >= 85% of the full accuracy from <= 30% of the bytes"
awk -v n="$bytes" -v f="$full" -v sb="$sibling_bytes" -v sa="$sib" '
    $1 ~ /^[0-9]+$/ && 100 * $4 / f >= 85 && !p { p = $1; pb = $2 }
    END {
        printf "  planes: first at %d/8 planes, %.1f%% of the bytes (%s)\n", p, 100 * pb / n, 100 * pb / n <= 30 ? "met" : "not met"
        printf "  sibling first: the sibling, %.1f%% of the bytes at %.1f%% of the accuracy (%s)\n", 100 * sb / n,
               100 * sa / f, (100 * sb / n <= 30 && 100 * sa / f >= 85) ? "met" : "not met"
    }' "$work/planes.txt"
