#!/usr/bin/env bash
# bench/federated.sh - federated learning on Fashion-MNIST with the student
# (issue 26, part B), each section a table:
#   secagg     one secure-aggregation round: 1,000 clients x the student's
#              44,868 values, 30% dropping after masking; server unmasking
#              time on 2 threads and bytes on the air, at thresholds 1/2,
#              2/5 and 1/3 of the neighbours; before it, libsodium's stream
#              ciphers' keystream rate with both threads busy (the PRG's)
#   niid       10 clients, Dirichlet 0.5, all taking part, 50 rounds:
#              FedAvg and FedProx (NIID-Bench's setting), a constant local
#              rate or a cosine over the rounds, one local epoch or two
#   scale      100 clients, 10 a round, Dirichlet 0.3 and 0.1, 100 rounds:
#              rounds to 85%, accuracy after 100 rounds, uplink bytes to
#              85%; FedAvg / FedProx / FedAdam / FedYogi (server rate
#              0.03), float32 vs int8 vs top-k, one local epoch or two
#   attacks    20% of 10 clients attacking (sign-flip, x10 scaling), 20
#              rounds on 20,000 images: FedAvg vs median vs trimmed mean
#              vs Krum
#   dp         100 clients, 10 a round, IID, 50 rounds, clip 1: accuracy
#              at epsilon 1, 3 and 8 (delta 1e-5) and without noise
#   dp1000     the same with 1,000 clients, 100 a round (the same sampling
#              rate, so the same noise multiplier for an epsilon, over a
#              sum of 100 updates instead of 10; the same images a round)
#   hierarchy  100 clients, 20 a round, Dirichlet 0.3: flat vs 5 edges
#              meeting the cloud every 5 rounds; cloud uplink bytes to 85%
# Each run's JSON stays in BUILD_DIR/bench/federated (a rerun reuses it).
# Whole: ~4.5 hours on 2 cores; name sections to run fewer, and
# SCALE="0.3 fedavg none;0.3 fedadam int8z 1 0.03" runs part of the scale
# section (alpha, strategy, updates, local epochs, server rate or -, the
# clients' rate schedule).
# usage: bench/federated.sh BUILD_DIR [SECTION...]
set -euo pipefail
case ${1:-} in -h | --help) sed -n '2,/^[^#]/{/^#/p}' "$0"; exit 0 ;; esac
[ $# -ge 1 ] || { sed -n '2,/^[^#]/{/^#/p}' "$0" >&2; exit 2; }
build=$1
shift
sections=${*:-secagg niid scale attacks dp dp1000 hierarchy}
bin=$build/tinylarge
work=$build/bench/federated
mkdir -p "$work"

# run NAME ARGS...: one federated run (kept if its JSON exists), its JSON path on stdout.
run() {
    local name=$1 json=$work/$1.json
    shift
    if [ ! -s "$json" ]; then
        echo "  running $name ..." >&2
        "$bin" federate --arch student "$@" --json "$json.part" 2>"$work/$name.log" >/dev/null
        mv "$json.part" "$json"
    fi
    echo "$json"
}
# rounds: one line per round, "round accuracy bytes_up cloud_bytes_up"
rounds() {
    sed -n 's/.*"round": \([0-9]*\), "accuracy": \([0-9.]*\), "bytes_up": \([0-9]*\), "bytes_down": [0-9]*, "cloud_bytes_up": \([0-9]*\).*/\1 \2 \3 \4/p' "$1"
}
# to_target JSON TARGET: "rounds to TARGET, uplink MB to it, cloud uplink MB to it" (or "-" if never)
to_target() {
    rounds "$1" | awk -v t="$2" '{ up += $3; cloud += $4 } $2 >= t && !hit { hit = 1; printf "%d %.1f %.1f", $1, up / 1e6, cloud / 1e6 }
                                  END { if (!hit) printf "- - -" }'
}
final() { sed -n 's/.*"final_accuracy": \([0-9.]*\).*/\1/p' "$1"; }
best() { rounds "$1" | awk '$2 > b { b = $2 } END { printf "%.4f", b }'; }

for section in $sections; do
    echo
    case $section in
    secagg)
        echo "### The masks' PRG: keystream rates, two threads at once"
        echo
        "$build/bench/secagg" prg 2
        echo
        echo "### Secure aggregation: 1,000 clients x 44,868 values, 30% dropping after masking"
        echo
        first=1
        for t in 0.5 0.4 0.3334; do
            out=$("$build/bench/secagg" 1000 44868 0.3 2 "$t")
            if [ $first = 1 ]; then head -2 <<<"$out" | sed 's/^| clients/| threshold | clients/; s/^|---/|---|---/'; first=0; fi
            echo "| $t $(tail -1 <<<"$out")"
        done
        ;;
    niid)
        echo "### 10 clients, Dirichlet 0.5, all taking part, 50 rounds (NIID-Bench's setting)"
        echo
        echo "| strategy | local rate | local epochs | accuracy after 50 rounds | best | rounds to 89.5% |"
        echo "|---|---|---|---|---|---|"
        # NIID="STRATEGY SCHEDULE [EPOCHS];..." runs a subset (each run's JSON is kept for the full table).
        IFS=';' read -r -a configs <<<"${NIID:-fedavg constant;fedprox:0.01 constant;fedavg cosine;fedavg cosine 2}"
        for cfg in "${configs[@]}"; do
            read -r s sched e <<<"$cfg"
            e=${e:-1}
            name=niid-$s
            [ "$sched" = constant ] || name=$name-$sched
            [ "$e" = 1 ] || name=$name-e$e
            j=$(run "$name" --clients 10 --per-round 10 --partition dirichlet:0.5 --rounds 50 --strategy "$s" \
                --lr-schedule "$sched" --local-epochs "$e")
            echo "| $s | $sched | $e | $(final "$j") | $(best "$j") | $(to_target "$j" 0.895 | cut -d' ' -f1) |"
        done
        ;;
    scale)
        echo "### 100 clients, 10 a round, 100 rounds"
        echo
        echo "| alpha | strategy | updates | local epochs | accuracy after 100 | rounds to 85% | uplink MB to 85% | uplink MB a round |"
        echo "|---|---|---|---|---|---|---|---|"
        # SCALE="ALPHA STRATEGY UPDATES [EPOCHS [SERVER_RATE|- [SCHEDULE]]];..." runs a subset
        # (the JSON of each run is kept for the full table); SCHEDULE: the clients' rate, constant or cosine.
        IFS=';' read -r -a configs <<<"${SCALE:-0.3 fedavg none;0.3 fedavg int8;0.3 fedavg int8z;0.3 fedavg int8z 2;0.3 fedavg topk:0.1;0.3 fedprox:0.01 none;0.3 fedadam none 1 0.03;0.3 fedadam int8z 1 0.03;0.3 fedyogi none 1 0.03;0.1 fedavg none;0.1 fedavg int8z;0.1 fedavg topk:0.1;0.1 fedprox:0.01 none;0.1 fedadam none 1 0.03;0.1 fedavg none 1 - cosine;0.1 fedadam none 1 0.03 cosine}"
        for cfg in "${configs[@]}"; do
            read -r a s c e lr sched <<<"$cfg"
            e=${e:-1}
            name=scale-$a-$s-$c
            [ "$e" = 1 ] || name=$name-e$e
            extra=()
            label=$s
            if [ -n "${lr:-}" ] && [ "$lr" != - ]; then
                name=$name-lr$lr
                extra=(--server-lr "$lr")
                label="$label (server rate $lr)"
            fi
            if [ -n "${sched:-}" ] && [ "$sched" != constant ]; then
                name=$name-$sched
                extra+=(--lr-schedule "$sched")
                label="$label, $sched client rate"
            fi
            j=$(run "$name" --clients 100 --per-round 10 --partition "dirichlet:$a" --rounds 100 \
                --strategy "$s" --compress "$c" --local-epochs "$e" "${extra[@]}")
            read -r r mb _ <<<"$(to_target "$j" 0.85)"
            per=$(rounds "$j" | awk '{ s += $3 } END { printf "%.2f", s / NR / 1e6 }')
            echo "| $a | $label | $c | $e | $(final "$j") | $r | $mb | $per |"
        done
        ;;
    attacks)
        echo "### 20% attackers: 10 clients, IID, 20 rounds on 20,000 images"
        echo
        echo "| attack | mean | median | trimmed mean 0.2 | Krum (f = 2) |"
        echo "|---|---|---|---|---|"
        for attack in none 0.2:sign-flip 0.2:scale; do
            row="| $attack"
            for rule in mean median trimmed:0.2 krum:2; do
                extra=()
                [ "$attack" = none ] || extra=(--attackers "$attack")
                j=$(run "attack-$attack-$rule" --clients 10 --per-round 10 --rounds 20 --train-limit 20000 \
                    --aggregate "$rule" "${extra[@]}")
                row="$row | $(final "$j")"
            done
            echo "$row |"
        done
        ;;
    dp | dp1000)
        clients=100 per=10
        [ "$section" = dp ] || { clients=1000 per=100; }
        echo "### Differential privacy: $clients clients, $per a round, IID, 50 rounds, clip 1"
        echo
        echo "| epsilon (delta 1e-5) | noise multiplier | accuracy after 50 rounds |"
        echo "|---|---|---|"
        for eps in none 8 3 1; do
            extra=(--dp-clip 1)
            [ "$eps" = none ] || extra+=(--dp-epsilon "$eps")
            name=dp-$eps
            [ "$section" = dp ] || name=dp1000-$eps
            j=$(run "$name" --clients "$clients" --per-round "$per" --rounds 50 "${extra[@]}")
            sigma=$(sed -n 's/.*noise multiplier \([0-9.]*\).*/\1/p' "$work/$name.log" 2>/dev/null || true)
            echo "| $eps | ${sigma:-0} | $(final "$j") |"
        done
        ;;
    hierarchy)
        echo "### Two levels: 100 clients, 20 a round, Dirichlet 0.3, 100 rounds"
        echo
        echo "| layout | accuracy after 100 | rounds to 85% | cloud uplink MB to 85% | client uplink MB to 85% |"
        echo "|---|---|---|---|---|"
        for layout in flat edges; do
            extra=()
            [ $layout = flat ] || extra=(--edges 5 --edge-rounds 5)
            j=$(run "hier-$layout" --clients 100 --per-round 20 --partition dirichlet:0.3 --rounds 100 "${extra[@]}")
            read -r r mb cloud <<<"$(to_target "$j" 0.85)"
            echo "| $layout | $(final "$j") | $r | $cloud | $mb |"
        done
        ;;
    *)
        echo "bench: unknown section '$section'" >&2
        exit 2
        ;;
    esac
done
