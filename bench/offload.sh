#!/usr/bin/env bash
# bench/offload.sh - device and edge inferring together (issue 27), on
# 127.0.0.1, each section a table:
#   curve       accuracy against offload rate: the device's int8 student
#               (the main job's catalogue) on the 10,000 test images, the
#               images below each confidence threshold answered by
#               the edge's model (EDGE=CKPT: the teacher for the issue's
#               goal; default the main job's student-wide), for each
#               measure of confidence: the margin, the top-1 probability,
#               entropy (MEASURES=, THRESHOLDS= choose), and auto's
#               threshold learnt for a share (TARGET=, default 0.1)
#   split       split inference, the cut chosen per image (--split auto)
#               for uplinks of 10 kbit/s to 10 Mbit/s: the mean cut and
#               the bytes sent (the answers are the device model's)
#   sweep       the cost model's latency over uplinks of 0.1 to 100 Mbit/s
#               and round trips of 5 to 50 ms for the student and the
#               bottleneck student (MODEL=, BOTTLENECK= .tlm files): the
#               chosen cut against all on the device and all on the edge
#               (per-operator Cortex-M4 instructions measured under QEMU,
#               the edge's measured on this host; not end to end)
#   e2e         the same sweep end to end: the device's requests through
#               an emulated link on 127.0.0.1 (bench/link_relay.c: the
#               uplink's rate, the round trip), --split 0 (all on the edge),
#               all on the device and --split auto; latency per image =
#               the device's operators at 64 M instructions/s + the
#               exchange with the edge as measured (E2E_IMAGES, default 100);
#               EARLY=CKPT adds a model with an early cut (student-early-cut)
#   energy      the device's energy per image (the cost model's constants,
#               split.h) end to end over CoAP, 1,000 test images: the
#               student-stem-cut (STEM=CKPT, trained 25 epochs into
#               BUILD/bench/stem-cut.tlc if missing) all on the device,
#               always offloading (--split 0), and --split auto at least
#               energy and at least latency, at uplinks of 0.1-100 Mbit/s;
#               beside them the main job's student as a cascade (all on the
#               device, the least sure 10% offloaded to the edge model)
#   throughput  the edge model under 100 devices asking at once (each one
#               request in flight): requests/s and p50/p99 with dynamic
#               batching (32, 2 ms) and with batch 1, alternating rounds
# Run on an otherwise idle machine: throughput and round trips are wall
# time. Uses the main job's outputs (make run first); DEVICE=CKPT puts
# that checkpoint's int8 export on the device instead of the main job's.
# usage: bench/offload.sh BUILD_DIR [SECTION...]
set -euo pipefail
case ${1:-} in -h | --help) sed -n '2,/^[^#]/{/^#/p}' "$0"; exit 0 ;; esac
[ $# -ge 1 ] || { sed -n '2,/^[^#]/{/^#/p}' "$0" >&2; exit 2; }
build=$1
shift
sections=${*:-curve split sweep e2e energy throughput}
bin=$build/tinylarge
load=$build/bench/coap_load
link_relay=$build/bench/link_relay
main=$build/main-job
edge_model=${EDGE:-$main/edge-student.tlc}
for f in "$main/catalogue/e0-s00-int8.tlm" "$edge_model" ${DEVICE:+"$DEVICE"}; do
    [ -f "$f" ] || { echo "bench: $f is missing (make run first)" >&2; exit 1; }
done
work=$build/bench/offload
rm -rf "$work"
mkdir -p "$work/cat"
if [ -n "${DEVICE:-}" ]; then
    # The device's model from a checkpoint (DEVICE=CKPT), exported int8 with its catalogue row.
    "$bin" compress "$DEVICE" --out-dir "$work/cat" --sparsity 0 --bits 8 >/dev/null 2>&1
else
    cp "$main/catalogue/e0-s00-int8.tlm" "$work/cat/"
    head -1 "$main/catalogue/catalogue.csv" >"$work/cat/catalogue.csv"
    grep '^e0-s00-int8,' "$main/catalogue/catalogue.csv" >>"$work/cat/catalogue.csv"
fi
"$bin" keygen --out "$work/server" >/dev/null
"$bin" library add --db "$work/library.db" --name fashion --catalogue "$work/cat" --key "$work/server.key" >/dev/null
port=$((20000 + RANDOM % 20000))
server=""
serve() {
    "$bin" serve --db "$work/library.db" --port "$port" --quiet --edge-model "$edge_model" "$@" 2>>"$work/server.log" &
    server=$!
    sleep 1.5
}
stop() { kill "$server" 2>/dev/null; wait "$server" 2>/dev/null || true; server=""; }
trap stop EXIT
device() {
    "$bin" device --server "127.0.0.1:$port" --pub "$work/server.pub" --id bench --slots "$work/slots" --name fashion \
        --flash 256K --ram 64K --mac-rate 20M --ips 64M "$@"
}
# install_model NAME ID: the device ID downloads model NAME into $work/slots-NAME
# (the edge answering directly) and prints its number of operators
install_model() {
    "$bin" device --server "127.0.0.1:$port" --pub "$work/server.pub" --id "$2" --slots "$work/slots-$1" --name "$1" \
        --flash 256K --ram 64K --mac-rate 20M --rate 1M --eval 1 --split auto |
        sed -n 's/.*mean cut [0-9.]* of \([0-9]*\) operators.*/\1/p'
}
echo "edge model: $edge_model ($("$bin" eval "$edge_model" | sed -n 's/.*accuracy \([0-9.]*\)$/\1/p') on the test set)"
for section in $sections; do
    echo
    case $section in
    curve)
        echo "### Accuracy against offload rate (10,000 test images)"
        echo
        echo "| measure | threshold | offloaded | accuracy | device alone | bytes up per image |"
        echo "|---|---|---|---|---|---|"
        serve
        for measure in ${MEASURES:-margin top1 entropy}; do
            for t in ${THRESHOLDS:-0.1 0.2 0.3 0.4 0.5 0.6 0.7 0.8 0.9} auto; do
                line=$(device --rate 1M --eval 10000 --offload "$t" --offload-target "${TARGET:-0.1}" \
                    --offload-measure "$measure" --offload-deadline 1 | grep '^offload (')
                [ "$t" != auto ] || t="auto, target ${TARGET:-0.1}"
                sed -E 's/.*accuracy ([0-9.]+) on ([0-9]+) .*device alone ([0-9.]+)\); ([0-9]+) offloaded \(([0-9.]+)%\).* ([0-9]+) bytes up/\1 \2 \3 \4 \5 \6/' \
                    <<<"$line" | awk -v m="$measure" -v t="$t" '{ printf "| %s | %s | %s%% | %s | %s | %.1f |\n", m, t, $5, $1, $3, $6 / $2 }'
            done
        done
        stop
        ;;
    split)
        echo "### Split inference, the cut chosen per image (1,000 test images, Cortex-M4 at 64 M instructions/s)"
        echo
        echo "| uplink | mean cut (operators on the device) | bytes sent per image | accuracy |"
        echo "|---|---|---|---|"
        serve
        for rate in 10k 30k 100k 300k 1M 10M; do
            line=$(device --rate "$rate" --eval 1000 --split auto --offload-deadline 2 | grep '^split')
            sed -E 's/.*accuracy ([0-9.]+) on ([0-9]+) .*mean cut ([0-9.]+) of ([0-9]+) operators, ([0-9]+) sent to the edge \(([0-9]+) bytes\).*/\1 \2 \3 \4 \6/' \
                <<<"$line" | awk -v r="$rate" '{ printf "| %s bit/s | %s of %s | %.0f | %s |\n", r, $3, $4, $5 / $2, $1 }'
        done
        stop
        ;;
    sweep)
        echo "### The cost model over a sweep of links (64 M instructions/s)"
        echo
        echo "| model | uplink | round trip | all on the device ms | all on the edge ms | chosen ms (K) | worse / chosen |"
        echo "|---|---|---|---|---|---|---|"
        for model in "${MODEL:-$main/catalogue/e0-s00-int8.tlm}" ${BOTTLENECK:+"$BOTTLENECK"}; do
            for rate in 10k 30k 100k 1M 10M 100M; do
                for rtt in 5 20 50; do
                    "$bin" split "$model" --rate "$rate" --rtt "$rtt" --ips 64M --json "$work/sweep.json" >/dev/null
                    awk -v m="$(basename "$model")" -v r="$rate" -v t="$rtt" '
                        /"ops_on_device"/ { match($0, /"ops_on_device": [0-9]+/); k = substr($0, RSTART + 17, RLENGTH - 17) + 0
                                            match($0, /"total_s": [0-9.]+/); tot[k] = substr($0, RSTART + 11, RLENGTH - 11) + 0; n = k }
                        /"chosen"/ { match($0, /[0-9]+/); c = substr($0, RSTART, RLENGTH) + 0 }
                        END { worse = tot[0] > tot[n] ? tot[0] : tot[n]
                              printf "| %s | %s bit/s | %s ms | %.1f | %.1f | %.1f (%d) | %.2f |\n", m, r, t, 1e3 * tot[n], 1e3 * tot[0], 1e3 * tot[c], c, worse / tot[c] }' \
                        "$work/sweep.json"
                done
            done
        done
        ;;
    e2e)
        echo "### End to end over an emulated link (${E2E_IMAGES:-100} test images, Cortex-M4 at 64 M instructions/s)"
        echo
        echo "| model | uplink | round trip | all on the device ms | all on the edge ms | adaptive ms (mean cut) | better fixed / adaptive | worse fixed / adaptive |"
        echo "|---|---|---|---|---|---|---|---|"
        names=(fashion)
        if [ -n "${EARLY:-}" ]; then
            # A second model with a small early cut (EARLY=CKPT, e.g. student-early-cut), its int8 variant published.
            "$bin" compress "$EARLY" --out-dir "$work/cat-early" --sparsity 0 --bits 8 >/dev/null 2>&1
            "$bin" library add --db "$work/library.db" --name fashion-early --catalogue "$work/cat-early" \
                --key "$work/server.key" >/dev/null
            names+=(fashion-early)
        fi
        serve
        relay_port=$((port + 1))
        # latency NAME STRATEGY: the mean end-to-end latency (ms) and mean cut of --split STRATEGY through the relay
        latency() {
            "$bin" device --server "127.0.0.1:$port" --pub "$work/server.pub" --id "e2e-$1" --slots "$work/slots-$1" \
                --name "$1" --flash 256K --ram 64K --mac-rate 20M --ips 64M --rate "$rate" \
                --edge "127.0.0.1:$relay_port" --eval "${E2E_IMAGES:-100}" --split "$2" --offload-deadline 3 |
                tr '\n' ' ' | sed -E 's/.*mean cut ([0-9.]+) of .*latency per image: mean ([0-9.]+) ms.*/\2 \1/'
        }
        ratios=()
        for name in "${names[@]}"; do
            ops=$(install_model "$name" "e2e-$name")
            for rate in 10000 30000 100000 1000000 10000000 100000000; do
                for rtt in 5 20 50; do
                    "$link_relay" "$relay_port" "$port" "$rate" "$(awk -v t="$rtt" 'BEGIN { print t / 1000 }')" \
                        >>"$work/relay.log" &
                    relay=$!
                    sleep 0.3
                    read -r local _ <<<"$(latency "$name" "$ops")"
                    read -r edge _ <<<"$(latency "$name" 0)"
                    read -r adaptive cut <<<"$(latency "$name" auto)"
                    kill "$relay"; wait "$relay" 2>/dev/null || true
                    line=$(awk -v m="$name" -v r="$rate" -v t="$rtt" -v l="$local" -v e="$edge" -v a="$adaptive" -v c="$cut" '
                        BEGIN { better = l < e ? l : e; worse = l < e ? e : l
                                printf "| %s | %g Mbit/s | %s ms | %.1f | %.1f | %.1f (%s) | %.2f | %.2f |", m, r / 1e6, t, l, e, a, c, better / a, worse / a }')
                    echo "$line"
                    # the issue's sweep: 0.1 to 100 Mbit/s
                    [ "$rate" -lt 100000 ] || ratios+=("$(awk -F'|' '{ print $8, $9 }' <<<"$line")")
                done
            done
        done
        stop
        echo
        printf '%s\n' "${ratios[@]}" | awk '{ s += $2; n++; if (!m || $2 < m) m = $2; if (!b || $1 < b) b = $1 }
            END { printf "0.1-100 Mbit/s: worse fixed / adaptive mean %.2f, least %.2f; better fixed / adaptive least %.2f (%d links)\n", s / n, m, b, n }'
        ;;
    energy)
        stem=${STEM:-$build/bench/stem-cut.tlc}
        if [ ! -f "$stem" ]; then
            echo "training $stem (student-stem-cut, 25 epochs)..." >&2
            "$bin" train --arch student-stem-cut --epochs 25 --out "$stem" >&2
        fi
        "$bin" compress "$stem" --out-dir "$work/cat-stem" --sparsity 0 --bits 8 >/dev/null 2>&1
        "$bin" library add --db "$work/library.db" --name stem --catalogue "$work/cat-stem" --key "$work/server.key" \
            >/dev/null
        echo "### Device energy per image, end to end (1,000 test images; 0.3 nJ an instruction, 100 nJ a bit sent)"
        echo
        echo "| model | strategy | uplink | mean cut | accuracy | bytes sent per image | energy mJ | / always offloading |"
        echo "|---|---|---|---|---|---|---|---|"
        serve
        ops=$(install_model stem energy-stem)
        # row MODEL STRATEGY RATE ARGS...: one device run's row; the energy
        # also in $mj, as a share of $always (the first row's) when set
        row() {
            local model=$1 what=$2 rate=$3 out
            shift 3
            out=$("$bin" device --server "127.0.0.1:$port" --pub "$work/server.pub" --id "energy-$model" \
                --slots "$work/slots-$model" --name "$model" --flash 256K --ram 64K --mac-rate 20M --ips 64M \
                --rate "$rate" --eval 1000 --offload-deadline 2 "$@")
            mj=$(sed -n 's/^device energy per image: mean \([0-9.]*\) mJ.*/\1/p' <<<"$out")
            awk -v m="$model" -v w="$what" -v r="$rate" -v mj="$mj" -v base="${always:-$mj}" '
                /^split/ { match($0, /accuracy [0-9.]+/); acc = substr($0, RSTART + 9, RLENGTH - 9)
                           match($0, /mean cut [0-9.]+/); cut = substr($0, RSTART + 9, RLENGTH - 9)
                           match($0, /\([0-9]+ bytes\)/); bytes = substr($0, RSTART + 1, RLENGTH - 8) / 1000 }
                /^offload \(/ { match($0, /accuracy [0-9.]+/); acc = substr($0, RSTART + 9, RLENGTH - 9)
                               match($0, /\([0-9.]+%\)/); cut = "all, then " substr($0, RSTART + 1, RLENGTH - 2) " sent"
                               match($0, /[0-9]+ bytes up/); bytes = substr($0, RSTART, RLENGTH - 9) / 1000 }
                END { printf "| %s | %s | %s bit/s | %s | %s | %.1f | %.4f | %.1f%% |\n", m, w, r, cut, acc, bytes, mj,
                             100 * mj / base }' <<<"$out"
        }
        always=""
        row stem "always offload (--split 0)" 1M --split 0
        always=$mj
        row stem "all on the device" 1M --split "$ops"
        for rate in 100k 1M 10M 100M; do
            row stem "auto, least energy" "$rate" --split auto --split-objective energy
            row stem "auto, least latency" "$rate" --split auto
        done
        row fashion "cascade (auto, 10% target)" 1M --offload auto --offload-target 0.1
        stop
        ;;
    throughput)
        echo "### The edge model under 100 devices (5 s rounds, alternating)"
        echo
        echo "| batching | requests/s | p50 ms | p99 ms |"
        echo "|---|---|---|---|"
        for round in 1 2 3; do
            for batch in 32 1; do
                serve --infer-batch "$batch"
                out=$("$load" infer "127.0.0.1:$port" 100 5 784)
                stop
                awk -v b="$batch" -v r="$round" '{ printf "| %s (round %s) | %s | %s | %s |\n", b == 1 ? "batch 1" : "up to 32, 2 ms", r, $8, $11, $14 }' <<<"$out"
            done
        done
        ;;
    *)
        echo "bench: unknown section '$section'" >&2
        exit 2
        ;;
    esac
done
