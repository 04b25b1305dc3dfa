#!/usr/bin/env bash
# test_mpi.sh - data-parallel training: `mpirun -n 2 tinylarge train` runs
# two processes over one global batch and reaches the accuracy of a single
# process with the same global batch (batch-norm statistics are per process,
# so results agree closely rather than bit for bit). And federated learning
# with its edge aggregators as processes: `mpirun -n 2 tinylarge federate
# --edges 2` gives the single process's global model, bit for bit.
# usage: test_mpi.sh TINYLARGE_BINARY
set -u
bin=$1
if ! command -v mpirun >/dev/null; then
    echo "skipped: mpirun is not installed"; exit 77
fi
if [ ! -r /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ]; then
    echo "skipped: dataset-fashion-mnist is not installed"; exit 77
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
args=(train --arch student-tiny --epochs 3 --limit 1200 --batch 64 --lr 0.1 --threads 1)
one=$("$bin" "${args[@]}" --out "$work/one.tlc" 2>&1) || { echo "FAIL: single process"; echo "$one"; exit 1; }
# Open MPI refuses root unless told; CI runs as root. Loopback only.
# stdout (the summary) and stderr (progress) to separate files: mpirun
# forwards each stream in chunks, so one captured together can have a chunk
# of one stream land inside a line of the other.
OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 mpirun --oversubscribe -n 2 \
    --mca btl self,vader "$bin" "${args[@]}" --out "$work/two.tlc" >"$work/two.out" 2>"$work/two.err"
status=$?
two=$(cat "$work/two.err" "$work/two.out")
[ "$status" -eq 0 ] || { echo "FAIL: mpirun"; echo "$two"; exit 1; }
acc() { sed -n 's/.*test accuracy \(0\.[0-9]*\)$/\1/p' <<<"$1" | tail -1; }
a1=$(acc "$one"); a2=$(acc "$two")
passed=0; failed=0
check() { if eval "$2"; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "FAIL: $1"; fi; }
check "two processes announced" 'grep -q "2 processes (MPI)" <<<"$two"'
check "one checkpoint, written by rank 0" '[ -f "$work/two.tlc" ]'
check "single process learned ($a1)" 'awk -v a="$a1" "BEGIN { exit !(a > 0.45) }"'
check "same accuracy within 5 points ($a1 vs $a2)" \
    'awk -v a="$a1" -v b="$a2" "BEGIN { d = a - b; if (d < 0) d = -d; exit !(d < 0.05) }"'
check "one summary line" '[ "$(grep -c "test accuracy 0" "$work/two.out")" -eq 1 ]'
check "one progress line per epoch" '[ "$(grep -c "^epoch [1-3]/3: .*test accuracy 0" "$work/two.err")" -eq 3 ]'
check "the MPI checkpoint evaluates" '"$bin" eval "$work/two.tlc" --limit 200 | grep -q "3 epochs"'

# Federated, two levels: each process an edge aggregator, the cloud's mean
# gathered by rank 0 in edge order.
fed=(federate --arch student-tiny --train-limit 2400 --test 300 --clients 8 --per-round 6 --rounds 3 --edges 2
     --edge-rounds 2 --dropout 0.2 --threads 1)
alone=$("$bin" "${fed[@]}" --json "$work/alone.json" 2>/dev/null)
OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 mpirun --oversubscribe -n 2 --mca btl self,vader \
    "$bin" "${fed[@]}" --json "$work/edges.json" >"$work/edges.out" 2>"$work/edges.err"
digest() { sed -n 's/^model sha256 //p' "$@"; }
check "edges as two processes give the one-process model, bit for bit" \
    '[ -n "$(digest <<<"$alone")" ] && [ "$(digest <<<"$alone")" = "$(digest "$work/edges.out")" ]'
check "and the same rounds, bytes and all" \
    'diff <(sed "s/\"seconds\": [0-9.]*//" "$work/alone.json") <(sed "s/\"seconds\": [0-9.]*//" "$work/edges.json") >/dev/null'
check "one report, from rank 0" '[ "$(grep -c "^federated: accuracy" "$work/edges.out")" -eq 1 ]'
check "processes and edges must agree" \
    'OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 mpirun --oversubscribe -n 2 --mca btl self,vader \
        "$bin" federate --edges 3 --clients 6 --per-round 6 2>&1 | grep -q "run 3 processes for --edges 3"'
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] || { echo "mpirun said:"; { echo "$two"; cat "$work/edges.err"; } | sed 's/^/    /'; exit 1; }
