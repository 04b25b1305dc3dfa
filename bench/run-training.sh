#!/usr/bin/env bash
# bench/run-training.sh - training throughput, tinylarge vs libtorch, in one
# run: the same architecture, batch, optimiser and thread count; images per
# second for forward + backward + SGD step (ratio = tinylarge / libtorch,
# goal >= 1.0); then our convolution kernels against each other (im2col +
# OpenBLAS and the direct kernels of each width the CPU runs). Installs
# Debian's libtorch-dev if it is missing.
# usage: bench/run-training.sh BUILD_DIR
set -euo pipefail
# The header above is the usage.
case ${1:-} in -h | --help) sed -n '2,/^[^#]/{/^#/p}' "$0"; exit 0 ;; esac
[ $# -ge 1 ] || { sed -n '2,/^[^#]/{/^#/p}' "$0" >&2; exit 2; }
build=$1
root=$(cd "$(dirname "$0")/.." && pwd)
if ! dpkg-query -W -f='${Status}' libtorch-dev 2>/dev/null | grep -q "install ok installed"; then
    echo "installing libtorch-dev (the peer)..."
    sudo=""; [ "$(id -u)" -ne 0 ] && sudo=sudo
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq libtorch-dev >/dev/null
fi
cmake -S "$root/bench/torch" -B "$build/bench-torch" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build/bench-torch" -j "$(nproc)" >/dev/null
ours=$build/bench/train_speed
theirs=$build/bench-torch/train_speed_torch
printf "machine: %s, %s cores; libtorch %s; OpenBLAS %s\n" \
    "$(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1)" "$(nproc)" \
    "$(dpkg-query -W -f='${Version}' libtorch-dev)" "$(dpkg-query -W -f='${Version}' libopenblas0-pthread 2>/dev/null || echo '?')"
printf "%-14s %7s %6s %8s %12s %12s %7s\n" arch threads batch images "tinylarge/s" "libtorch/s" ratio
for spec in "student-tiny 5120" "student 2560" "teacher 512"; do
    read -r arch images <<<"$spec"
    for threads in 1 2; do
        a=$("$ours" "$arch" "$images" 128 "$threads")
        b=$("$theirs" "$arch" "$images" 128 "$threads")
        printf "%-14s %7d %6d %8d %12.1f %12.1f %7.2f\n" "$arch" "$threads" 128 "$images" "$a" "$b" \
            "$(awk -v a="$a" -v b="$b" 'BEGIN { print a / b }')"
    done
done

# Our own convolution kernels against each other, one thread: im2col +
# OpenBLAS and each width of direct kernels the CPU runs (the median of 3
# runs taken in turn, so a slow spell of the machine hits them alike).
kernels="im2col"
flags=$(grep -m1 '^flags' /proc/cpuinfo || true)
[[ " $flags " == *" avx2 "* && " $flags " == *" fma "* ]] && kernels="$kernels avx2"
[[ " $flags " == *" avx512f "* ]] && kernels="$kernels avx512"
median() { sort -n | sed -n 2p; }
echo
printf "%-14s %7s %s\n" arch threads "images/s by stride-1 convolution kernels (median of 3)"
for spec in "student-tiny 5120" "student 2560" "teacher 384"; do
    read -r arch images <<<"$spec"
    declare -A runs=()
    for rep in 1 2 3; do
        for k in $kernels; do
            runs[$k]+="$("$ours" "$arch" "$images" 128 1 "$k") "
        done
    done
    line=$(printf "%-14s %7d" "$arch" 1)
    base=
    for k in $kernels; do
        m=$(tr ' ' '\n' <<<"${runs[$k]}" | grep . | median)
        base=${base:-$m}
        line+=$(printf "   %s %7.1f (%.2f)" "$k" "$m" "$(awk -v a="$m" -v b="$base" 'BEGIN { print a / b }')")
    done
    echo "$line"
    unset runs
done
