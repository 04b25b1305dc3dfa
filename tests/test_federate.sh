#!/usr/bin/env bash
# test_federate.sh - `tinylarge federate` on a small test dataset (three
# classes of 16x16 patterns, student-tiny): the rounds and their JSON, the
# same model whatever the thread count, secure aggregation with dropouts
# giving the bytes of the unmasked fixed-point run, attackers dragging the
# mean away while a robust rule holds, compression's bytes, the privacy
# accountant, two levels, and the bad-option messages.
# usage: test_federate.sh TINYLARGE MAKE_DATASET
set -u
bin=$1
make_dataset=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# shellcheck source=check.sh
. "$(dirname "$0")/check.sh"
mkdir -p "$work/data" && "$make_dataset" "$work/data" idx >/dev/null
fed() { "$bin" federate --arch student-tiny --data "$work/data" "$@"; }
digest() { sed -n 's/^model sha256 //p' <<<"$1"; }
accuracy() { sed -n 's/^federated: accuracy [0-9.]* -> \([0-9.]*\).*/\1/p' <<<"$1"; }

check "a run logs each round and writes its JSON" 0 \
    "round 1/3: accuracy 0\.[0-9]+, 4 clients \(0 dropped\), up 0\.07 MB.*round 3/3.*model sha256 [0-9a-f]{64}" -- \
    fed --clients 6 --per-round 4 --rounds 3 --partition dirichlet:0.5 --json "$work/run.json"
check "the JSON holds the rounds, the final accuracy and the model's digest" 0 \
    '"rounds": \[ *\{"round": 1, "accuracy": 0\.[0-9]+, "bytes_up": 66096, "bytes_down": 66096.*\{"round": 3,.*"final_accuracy": 0\.[0-9]+,.*"model_sha256": "[0-9a-f]{64}"' -- \
    cat "$work/run.json"

round_one() { grep -o '"round": 1, "accuracy": [0-9.]*' "$1"; }
first_accuracy() { sed -n 's/.*"round": 1, "accuracy": \([0-9.]*\).*/\1/p' "$1"; }
flat=$(fed --clients 6 --per-round 6 --rounds 2 --seed 4 --json "$work/flat.json" 2>/dev/null)
cosine=$(fed --clients 6 --per-round 6 --rounds 2 --seed 4 --lr-schedule cosine --json "$work/cosine.json" 2>/dev/null)
check "a cosine rate starts at --lr: round 1 as the constant rate's ($(round_one "$work/flat.json"))" 0 \
    "^\"round\": 1, \"accuracy\": $(first_accuracy "$work/flat.json") ?$" -- round_one "$work/cosine.json"
check "then it decays: round 2 ends in another model" 0 "^differ ?$" -- \
    bash -c "[ -n '$(digest "$cosine")' ] && [ '$(digest "$cosine")' != '$(digest "$flat")' ] && echo differ"
check "the rate's schedule is constant or cosine" 2 "--lr-schedule takes constant or cosine, not 'step'" -- \
    fed --lr-schedule step

adam=$(fed --clients 6 --per-round 6 --rounds 8 --strategy fedadam --server-lr 0.2 2>&1 | grep -o 'round [4-8]/8: accuracy [0-9.]*')
check "FedAdam steps the weights and averages batch norm's statistics: from round 4 on every round at 0.9 or more" 0 "^yes" -- \
    awk -v a="$(awk '{ print $4 }' <<<"$adam" | tr '\n' ' ')" 'BEGIN { n = split(a, v, " "); ok = n == 5; for (i = 1; i <= n; ++i) ok = ok && v[i] >= 0.9; print ok ? "yes" : "no: " a }'

common=(--clients 12 --per-round 10 --rounds 3 --dropout 0.3 --seed 5)
one=$(fed "${common[@]}" --secagg --threads 1 --json "$work/secagg.json" 2>/dev/null)
two=$(fed "${common[@]}" --secagg --threads 2 2>/dev/null)
plain=$(fed "${common[@]}" --fixed-point 2>/dev/null)
float=$(fed "${common[@]}" --json "$work/float.json" 2>/dev/null)
check "the same seed gives the same model on 1 or 2 threads" 0 "^$(digest "$one") ?$" -- digest "$two"
check "secure aggregation with 30% dropping gives the unmasked fixed-point sum's model, bit for bit" 0 \
    "^$(digest "$plain") ?$" -- digest "$one"
check "the float mean differs from the fixed-point one (the comparison is not vacuous)" 1 "" -- \
    test "$(digest "$float")" = "$(digest "$plain")"
dropped() { grep -o '"dropped": [0-9]*' "$1" | tr -d '\n'; }
same=no
[ "$(dropped "$work/float.json")" = "$(dropped "$work/secagg.json")" ] && grep -q '"dropped": [1-9]' "$work/secagg.json" &&
    same=yes
check "each round drops as many clients with and without secure aggregation, some ($(dropped "$work/secagg.json"))" \
    0 "^yes" -- echo "$same"
check "secure aggregation gives the server the sum only: no robust rule" 1 \
    "secure aggregation gives the server only the sum: the aggregate must be the mean" -- \
    fed --secagg --aggregate median

attack=(--clients 10 --per-round 10 --rounds 4 --seed 3)
clean=$(accuracy "$(fed "${attack[@]}" 2>/dev/null)")
mean=$(accuracy "$(fed "${attack[@]}" --attackers 0.2:sign-flip 2>/dev/null)")
krum=$(accuracy "$(fed "${attack[@]}" --attackers 0.2:sign-flip --aggregate krum:2 2>/dev/null)")
check "two sign-flipping attackers of ten drag the mean down (clean $clean, attacked $mean)" 0 "yes" -- \
    awk -v c="$clean" -v a="$mean" 'BEGIN { print (a < c - 0.2) ? "yes" : "no" }'
check "Krum holds them off: within 0.1 of the clean run ($krum)" 0 "yes" -- \
    awk -v c="$clean" -v k="$krum" 'BEGIN { print (k > c - 0.1) ? "yes" : "no" }'
check "label flippers and the trimmed mean" 0 "6 clients \(0 dropped\)" -- \
    fed --clients 6 --per-round 6 --rounds 1 --attackers 0.34:label-flip --aggregate trimmed:0.34

check "MCU-class clients learn the int8 model's head on the device runtime: head-sized updates up, the model down" 0 \
    '"accuracy": [01]\.[0-9]+, "bytes_up": 6240, "bytes_down": [0-9]+,.*"final_accuracy": (0\.[6-9]|1\.0)' -- \
    sh -c "'$bin' federate --arch student-tiny --data '$work/data' --clients 8 --per-round 8 --rounds 3 --mcu 1 \
           --json '$work/m.json' >/dev/null 2>&1 && cat '$work/m.json'"
mixed=(--clients 8 --per-round 8 --rounds 2 --mcu 0.5 --dropout 0.25 --seed 2)
check "host- and MCU-class clients in one secure sum: the fixed-point run's model" 0 \
    "^$(digest "$(fed "${mixed[@]}" --fixed-point 2>/dev/null)") ?$" -- digest "$(fed "${mixed[@]}" --secagg 2>/dev/null)"
check "a round whose survivors cannot unmask is void and leaves the model" 0 \
    "accuracy ([0-9.]+) before.*round 1/2: accuracy \1, 8 clients \(4 dropped\).*void: too few survivors to unmask" -- \
    fed --clients 8 --per-round 8 --rounds 2 --mcu 0.5 --dropout 0.25 --seed 1 --secagg
check "int8 updates cost a quarter of float32 and a bit" 0 "up 0\.02 MB" -- \
    fed --clients 6 --per-round 4 --rounds 1 --compress int8
check "top-k 5% sends (index, value) pairs" 0 "up 0\.01 MB" -- \
    fed --clients 6 --per-round 4 --rounds 1 --compress topk:0.05
check "differential privacy reports epsilon at delta 1e-5" 0 "round 2/2: .*epsilon [0-9]+\.[0-9]+.*epsilon [0-9.]+, delta 1e-5" -- \
    fed --clients 6 --per-round 3 --rounds 2 --dp-clip 1 --dp-noise 1.1
check "a privacy budget sets the noise: epsilon 3 spent over the run" 0 \
    "noise multiplier [0-9.]+ spends epsilon 3 .*round 2/2: .*epsilon 3\.00" -- \
    fed --clients 6 --per-round 3 --rounds 2 --dp-clip 1 --dp-epsilon 3
check "two levels: the cloud hears from the edges" 0 '"cloud_bytes_up": 33048' -- \
    sh -c "'$bin' federate --arch student-tiny --data '$work/data' --clients 8 --per-round 8 --rounds 2 --edges 2 \
           --json '$work/h.json' >/dev/null 2>&1 && cat '$work/h.json'"

fed --clients 30 --per-round 10 --rounds 4 --json "$work/u.json" >/dev/null 2>&1
fed --clients 30 --per-round 10 --rounds 4 --selection aware --json "$work/a.json" >/dev/null 2>&1
air() { grep -o '"air_seconds": [0-9.]*' "$1" | awk '{ s += $2 } END { printf "%.3f", s / NR }'; }
check "channel- and battery-aware selection waits less for uploads than uniform ($(air "$work/a.json") s vs $(air "$work/u.json") s)" \
    0 "yes" -- awk -v a="$(air "$work/a.json")" -v u="$(air "$work/u.json")" 'BEGIN { print (a > 0 && a < u) ? "yes" : "no" }'
check "a dropout no neighbourhood can survive is said so" 1 \
    "secure aggregation of 300 clients at dropout 0\.60: no neighbourhood of up to 254 keeps a threshold" -- \
    fed --clients 300 --per-round 300 --rounds 1 --secagg --dropout 0.6
check "a bad partition" 1 "--partition dirichlet:0: expected iid, dirichlet:ALPHA \(> 0\) or shards:K" -- \
    fed --partition dirichlet:0
check "a bad strategy" 1 "--strategy fedsgd: expected fedavg, fedprox:MU, fedadam or fedyogi" -- fed --strategy fedsgd
check "a bad rule" 1 "--aggregate krum: expected mean, median" -- fed --aggregate krum
check "a bad attack" 1 "--attackers 0.2:flip: expected FRACTION:KIND" -- fed --attackers 0.2:flip
check "noise needs a clip" 1 "DP noise is a multiple of the clipping norm" -- fed --dp-noise 1
check "more per round than clients" 1 "per round: 1 to the number of clients" -- fed --clients 3 --per-round 4
check "Krum needs more clients than 2f + 2" 1 "round 1: Krum cannot combine 4 updates" -- \
    fed --clients 4 --per-round 4 --rounds 1 --aggregate krum:1
check "a missing dataset" 1 "no training split" -- "$bin" federate --data "$work/none"
# SplitFed: host-class clients train split after node 6 (8x8x16 activations up, gradients down).
whole=$(fed --clients 4 --per-round 4 --rounds 2 2>&1)
split32=$(fed --clients 4 --per-round 4 --rounds 2 --split-cut 6 --split-bits 32 --json "$work/split32.json" 2>&1)
split8=$(fed --clients 4 --per-round 4 --rounds 2 --split-cut 6 --json "$work/split8.json" 2>&1)
check "SplitFed with float32 at the cut gives the unsplit run's model, bit for bit" 0 "^$(digest "$whole") ?$" -- \
    digest "$split32"
check "SplitFed with int8 at the cut trains a (slightly) different model" 1 "" -- test "$(digest "$whole")" = "$(digest "$split8")"
# Each client's round: its samples' activations (1,024 values + a scale) up, the device's half (weights, BN) up.
check "SplitFed counts the cut's traffic and the device's half, not the whole model" 0 \
    '"bytes_up": 6[0-9]{5}, "bytes_down": 6[0-9]{5}' -- cat "$work/split8.json"
check "SplitFed with compression is refused" 1 "SplitFed .* not with compression" -- \
    fed --clients 4 --per-round 4 --rounds 1 --split-cut 6 --compress int8
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
