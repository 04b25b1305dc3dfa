#!/usr/bin/env bash
# test_offload.sh - the edge's inference service over CoAP: `serve
# --edge-model CKPT` answers POST /infer with the class and scores of a
# device's int8 input, requests arriving together batched; wrong inputs
# and a bad checkpoint are refused with reasons. Then the device's cascade
# (`device --eval N --offload T|auto`): threshold 1 sends every image and
# scores the edge model's accuracy, 0 sends none and scores the device's,
# auto offloads about its target share, and an edge too slow for the
# deadline leaves the device's own answers. All on 127.0.0.1.
# usage: test_offload.sh TINYLARGE MAKE_DATASET LINK_RELAY
set -u
bin=$1
make_dataset=$2
link_relay=$3
if ! command -v coap-client-notls >/dev/null; then
    echo "skipped: coap-client-notls (libcoap3-bin) is not installed"; exit 77
fi
work=$(mktemp -d)
server_pid=""
stop_server() { [ -z "$server_pid" ] || { kill "$server_pid" 2>/dev/null; wait "$server_pid" 2>/dev/null; }; server_pid=""; }
trap 'stop_server; rm -rf "$work"' EXIT
# shellcheck source=check.sh
. "$(dirname "$0")/check.sh"

mkdir -p "$work/data" && "$make_dataset" "$work/data" idx >/dev/null
"$bin" train --arch student-tiny --epochs 3 --data "$work/data" --out "$work/edge.tlc" >/dev/null 2>&1
"$bin" train --arch student-tiny --epochs 1 --data "$work/data" --out "$work/device.tlc" >/dev/null 2>&1
"$bin" compress "$work/device.tlc" --out-dir "$work/cat" --data "$work/data" --sparsity 0 --bits 8 --limit 150 \
    --calibration 100 >/dev/null 2>&1
"$bin" keygen --out "$work/srv" >/dev/null
"$bin" library add --db "$work/lib.db" --name patterns --catalogue "$work/cat" --key "$work/srv.key" >/dev/null
port=$((20000 + RANDOM % 20000))
"$bin" serve --db "$work/lib.db" --port "$port" --edge-model "$work/edge.tlc" --infer-wait 0.01 \
    2>"$work/server.log" &
server_pid=$!
for _ in $(seq 50); do grep -q "^serving" "$work/server.log" && break; sleep 0.1; done
check "the server offers /infer with an edge model" 0 "serving .*/infer\)" -- cat "$work/server.log"
head -c 256 /dev/urandom >"$work/input.bin"
infer() { coap-client-notls -m post -B 5 -f "$1" "coap://127.0.0.1:$port/infer" 2>&1; }
check "an input gets its class, confidence and every class's probability" 0 \
    "^class=[0-2]&confidence=0\.[0-9]{4}&scores=[01]\.[0-9]{4},[01]\.[0-9]{4},[01]\.[0-9]{4} ?$" -- infer "$work/input.bin"
pids=()
for i in $(seq 12); do infer "$work/input.bin" >"$work/answer-$i" & pids+=($!); done
wait "${pids[@]}"
check "twelve devices asking at once are all answered, the same answer for the same input" 0 "^12 1 ?$" -- \
    bash -c "grep -l '^class=' '$work'/answer-* | wc -l | tr '\n' ' '; sort -u '$work'/answer-* | grep -c ."
head -c 10 /dev/zero >"$work/short.bin"
check "an input of the wrong size is refused" 0 "infer takes the model's input: 256 int8 values" -- infer "$work/short.bin"
device() { # device ID OPTIONS...: install the model, classify 150 test images, offload some
    local id=$1
    shift
    "$bin" device --server "127.0.0.1:$port" --pub "$work/srv.pub" --id "$id" --slots "$work/$id" --name patterns \
        --flash 256K --ram 64K --mac-rate 20M --rate 1M --eval 150 --eval-data "$work/data" "$@" 2>&1
}
edge_accuracy=$("$bin" eval "$work/edge.tlc" --data "$work/data" | sed -n 's/.*accuracy \([0-9.]*\)$/\1/p')
check "threshold 1: every image goes to the edge and the edge model's accuracy is the device's" 0 \
    "offload \(threshold 1 on margin\): accuracy $edge_accuracy on 150 test images \(device alone [0-9.]+\); 150 offloaded \(100.0%\), 150 answered .* 0 fell back; 38400 bytes up" -- \
    device d1 --offload 1
alone=$(device d1 --offload 0 | sed -n 's/.*device alone \([0-9.]*\).*/\1/p')
check "threshold 0: nothing goes to the edge, the device's own accuracy" 0 \
    "offload \(threshold 0 on margin\): accuracy $alone on 150 test images \(device alone $alone\); 0 offloaded" -- device d1 --offload 0
# (the share falls if the round trip nears the deadline: a loaded machine offloads less; test_infer checks the rule)
check "auto with a target of 0.2: about a fifth offloaded, the edge's answers taken" 0 \
    "offload \(auto on margin, target 0.20\): .*; (1[0-9]|2[0-9]|3[0-9]|4[0-5]) offloaded .*offload auto: target 0.200" -- \
    device d1 --offload auto --offload-target 0.2
check "the top-1 probability and entropy are measures too: threshold 1 offloads every image, auto about its share" 0 \
    "offload \(threshold 1 on top1\): accuracy $edge_accuracy .*150 offloaded \(100.0%\)" -- device d1 --offload 1 --offload-measure top1
check "auto on entropy offloads about its target share" 0 \
    "offload \(auto on entropy, target 0.20\): .*; (1[0-9]|2[0-9]|3[0-9]|4[0-5]) offloaded" -- \
    device d1 --offload auto --offload-target 0.2 --offload-measure entropy
check "an unknown measure is refused" 1 "--offload-measure votes: expected top1, margin or entropy" -- \
    device d1 --offload 0.5 --offload-measure votes
check "an edge that does not answer: every image falls back to the device's own answer" 0 \
    "offload \(threshold 1 on margin\): accuracy $alone on 150 test images \(device alone $alone\); 150 offloaded \(100.0%\), 0 answered .* 150 fell back" -- \
    device d1 --offload 1 --offload-deadline 0.02 --edge "127.0.0.1:$((port + 1))"
stop_server
"$bin" serve --db "$work/lib.db" --port "$port" --edge-model "$work/edge.tlc" --infer-wait 1 --infer-batch 64 \
    2>"$work/slow.log" &
server_pid=$!
for _ in $(seq 50); do grep -q "^serving" "$work/slow.log" && break; sleep 0.1; done
check "an edge slower than the deadline (batches every second): most answers come too late and the device keeps its own" 0 \
    "150 offloaded \(100.0%\), ([0-9]|1[0-9]) answered .* (1[3-4][0-9]|150) fell back" -- \
    device d1 --offload 1 --offload-deadline 0.02
# Split inference over CoAP: the device runs its first K operators, the edge the rest of the same model.
check "a cut after 3 operators: the edge runs the rest and the answers are the device model's own" 0 \
    "split \(K = 3\): accuracy $alone on 150 test images; mean cut 3.0 of [0-9]+ operators, 150 sent to the edge \([0-9]+ bytes\), 0 fell back" -- \
    device d1 --split 3
# (a slow device, 1 M MAC/s: even a sanitizer build's round trip is shorter than its own run)
check "auto on a fast link sends the input of a slow device to the edge" 0 \
    "split \(auto, least latency\): accuracy $alone .*mean cut 0.0 of" -- device d1 --split auto --mac-rate 1M
ops=$(device d1 --split auto --rate 1k | sed -n 's/.*mean cut [0-9.]* of \([0-9]*\) operators.*/\1/p')
check "auto on a 1 kbit/s link keeps every operator on the device" 0 "split \(auto, least latency\): accuracy $alone .*mean cut $ops.0 of $ops operators, 0 sent" -- \
    device d1 --split auto --rate 1k
# The device's energy in the cost model's terms: all on the edge, it is the
# bits sent, the image's 256 bytes and a request's headers (48 + the query).
query="cut=$ops&name=patterns&version=1&variant=e0-s00-int8"
sent_mj=$(awk -v q="${#query}" 'BEGIN { printf "%.4f", (256 + 48 + q) * 8 * 100e-9 * 1e3 }')
check "all on the edge, the device's energy is the bits it sent" 0 \
    "split \(K = 0\): .*0 fell back.*device energy per image: mean $sent_mj mJ" -- device d1 --split 0
check "auto can minimise the device's energy instead, and says so" 0 \
    "split \(auto, least energy\): accuracy $alone .*device energy per image: mean 0\.[0-9]{4} mJ" -- \
    device d1 --split auto --split-objective energy
check "an unknown objective is refused" 2 "--split-objective" -- device d1 --split auto --split-objective speed
check "the cascade reports the device's energy too" 0 \
    "offload \(threshold 0 on margin\).*device energy per image: mean 0\.[0-9]{4} mJ" -- device d1 --offload 0
# Through an emulated link (bench/link_relay.c): 1 Mbit/s, a round trip of 100 ms (so at least 100 ms an image).
"$link_relay" "$((port + 2))" "$port" 1000000 0.1 >"$work/relay.log" &
relay_pid=$!
sleep 0.3
check "over a link of 100 ms round trip every image's latency holds the round trip, and the answers are the same" 0 \
    "split \(K = 0\): accuracy $alone .*150 sent to the edge .*0 fell back.*latency per image: mean [1-4][0-9]{2}\.[0-9] ms, p50 [1-4][0-9]{2}\.[0-9] ms" -- \
    device d1 --split 0 --offload-deadline 2 --edge "127.0.0.1:$((port + 2))"
check "all on the device: every image costs the same modelled time, nothing is measured" 0 \
    "0 sent to the edge .*latency per image: mean ([0-9]+\.[0-9]) ms, p50 \1 ms, p99 \1 ms" -- \
    device d1 --split "$ops" --edge "127.0.0.1:$((port + 2))"
kill "$relay_pid"; wait "$relay_pid" 2>/dev/null
check "the relay counts what it carried" 0 "^relayed [1-9][0-9]* up \(0 dropped\), [1-9][0-9]* down \(0 dropped\)" -- \
    tail -1 "$work/relay.log"
check "with no edge answering, the device runs the rest itself: the same answers" 0 \
    "split \(K = 3\): accuracy $alone .*150 sent to the edge .* 150 fell back" -- \
    device d1 --split 3 --offload-deadline 0.02 --edge "127.0.0.1:$((port + 1))"
check "a cut's bytes of the wrong size are refused" 0 "cut 3 of e0-s00-int8 takes the [0-9]+ bytes crossing it, not 256" -- \
    coap-client-notls -m post -B 5 -f "$work/input.bin" \
        "coap://127.0.0.1:$port/infer?cut=3&name=patterns&version=1&variant=e0-s00-int8"
check "a cut of a model the library does not have is refused" 0 "4.04" -- \
    coap-client-notls -m post -B 5 -f "$work/input.bin" \
        "coap://127.0.0.1:$port/infer?cut=3&name=patterns&version=7&variant=e0-s00-int8"
check "--offload needs --eval" 1 "--offload measures the cascade on --eval N" -- \
    "$bin" device --server "127.0.0.1:$port" --pub "$work/srv.pub" --slots "$work/d1" --name patterns --flash 256K \
        --ram 64K --mac-rate 20M --rate 1M --offload 0.5
check "a threshold outside [0, 1] is refused" 1 "--offload 2: expected a confidence in \[0, 1\] or auto" -- \
    device d1 --offload 2
stop_server
check "a missing edge model is named" 1 "--edge-model $work/none.tlc: .*none.tlc" -- \
    "$bin" serve --db "$work/lib.db" --port "$port" --edge-model "$work/none.tlc"

# Where to cut the device model for a link (`split`).
model=$work/cat/e0-s00-int8.tlm
check "split prints each cut's costs and the one chosen" 0 \
    "K last on device +device ins +device ms +bytes +uplink ms +edge ms +total ms +energy mJ.* 0 \(none: all on edge\) +0 +0.000 +256 .*chosen: K = [0-9]+" -- \
    "$bin" split "$model" --rate 10k --rtt 20 --ips 64M --json "$work/slow.json"
"$bin" split "$model" --rate 100M --rtt 1 --ips 64M --json "$work/fast.json" >/dev/null
check "the JSON holds the cuts and the chosen number of device operators" 0 "\"cuts\": \[.*\"ops_on_device\": 0, .*\"chosen\": [0-9]+" -- \
    cat "$work/slow.json"
chosen() { sed -n 's/.*"chosen": \([0-9]*\).*/\1/p' "$1"; }
check "a fast link puts every operator on the edge, a slow one keeps some on the device" 0 "^0 [1-9][0-9]* ?$" -- \
    echo "$(chosen "$work/fast.json") $(chosen "$work/slow.json")"
# The model cut in two: the edge half run on the device half's output is the whole model.
"$bin" export "$work/device.tlc" -o "$work/whole.tlm" --data "$work/data" --limit 50 --calibration 50 >/dev/null
check "export --split writes the device half and the edge half beside it" 0 \
    "split after operator 3: device half $work/head.tlm \(3 operators, [0-9]+ bytes\), edge half $work/head.edge.tlm \([0-9]+ operators, [0-9]+ bytes\); 1 tensor of [0-9]+ bytes cross" -- \
    "$bin" export "$work/device.tlc" -o "$work/head.tlm" --split 3 --data "$work/data" --limit 50 --calibration 50
"$bin" run "$work/whole.tlm" --seed 5 --output "$work/whole.out" >/dev/null
"$bin" run "$work/head.tlm" --seed 5 --output "$work/head.out" >/dev/null
"$bin" run "$work/head.edge.tlm" --input "$work/head.out" --output "$work/tail.out" >/dev/null
check "the edge half on the device half's output answers as the whole model, byte for byte" 0 "^same ?$" -- \
    bash -c "cmp -s '$work/whole.out' '$work/tail.out' && [ -s '$work/whole.out' ] && echo same || echo differ"
check "a cut outside the model is refused" 1 "--split 99: the model has [0-9]+ operators" -- \
    "$bin" export "$work/device.tlc" -o "$work/bad.tlm" --split 99 --data "$work/data" --limit 50 --calibration 50
# A bottleneck student: its narrow layer is a cut that sends 2x2x3 = 12 bytes of a 16x16 image.
"$bin" train --arch student-bottleneck --epochs 1 --data "$work/data" --out "$work/bottleneck.tlc" >/dev/null 2>&1
"$bin" export "$work/bottleneck.tlc" -o "$work/bottleneck.tlm" --data "$work/data" --limit 50 --calibration 50 >/dev/null
check "the bottleneck student has a cut of 12 bytes (its input is 256)" 0 \
    " 6 CONV_2D +[0-9]+ +[0-9.]+ +12 " -- "$bin" split "$work/bottleneck.tlm" --rate 10k --rtt 20 --ips 64M
# A stem cut: the image's 4x4 patches to 2 values each first, 4x4x2 = 32
# bytes of the 256-byte image after about 5 K MACs. Least latency on a fast
# link sends the image; least energy sends the 32 bytes.
"$bin" train --arch student-stem-cut --epochs 1 --data "$work/data" --out "$work/stem.tlc" >/dev/null 2>&1
"$bin" export "$work/stem.tlc" -o "$work/stem.tlm" --data "$work/data" --limit 50 --calibration 50 >/dev/null
check "the stem-cut student's cut after its second operator sends 32 bytes" 0 \
    " 2 CONV_2D +[0-9]+ +[0-9.]+ +32 .*chosen: K = 0 \(all on the edge\), [0-9.]+ ms, [0-9.]+ mJ \(least latency\)" -- \
    "$bin" split "$work/stem.tlm" --rate 100M --rtt 5 --ips 64M
check "least energy takes that cut even on a fast link, and the JSON says which objective" 0 \
    "\"objective\": \"energy\".*\"chosen\": 2" -- \
    bash -c "'$bin' split '$work/stem.tlm' --rate 100M --rtt 5 --ips 64M --objective energy --json '$work/energy.json' >/dev/null && tr -d '\n' <'$work/energy.json'"
check "an unknown objective is named" 2 "--objective" -- \
    "$bin" split "$work/stem.tlm" --rate 100M --rtt 5 --ips 64M --objective cheapest
# Split learning: the device's half trains with the gradients the edge's half returns.
"$bin" train --arch student-tiny --epochs 1 --data "$work/data" --out "$work/whole-trained.tlc" >/dev/null 2>&1
check "split learning reports what crossed: 8x8x16 activations, int8 with a scale (1,028 bytes a sample each way)" 0 \
    "split learning: the device's half is nodes 1-6 .* 8-bit.*split learning at node 6: 0\.[0-9] MB of activations up .*\(1028 bytes a sample each way, 8-bit\)" -- \
    "$bin" train --arch student-tiny --epochs 1 --data "$work/data" --out "$work/split8.tlc" --split-cut 6
"$bin" train --arch student-tiny --epochs 1 --data "$work/data" --out "$work/split32.tlc" --split-cut 6 --split-bits 32 \
    >/dev/null 2>&1
check "float32 at the cut trains exactly the unsplit network" 0 "^same ?$" -- \
    bash -c "cmp -s '$work/whole-trained.tlc' '$work/split32.tlc' && echo same || echo differ"
check "int8 at the cut changes the training a little" 0 "^differ ?$" -- \
    bash -c "cmp -s '$work/whole-trained.tlc' '$work/split8.tlc' && echo same || echo differ"
check "a cut that a skip connection crosses is refused" 1 "cannot cut teacher after node 5: a skip connection crosses it" -- \
    "$bin" train --arch teacher --epochs 1 --data "$work/data" --limit 20 --out "$work/t.tlc" --split-cut 5
check "split learning takes one thread" 1 "split learning takes one training thread" -- \
    "$bin" train --arch student-tiny --epochs 1 --data "$work/data" --out "$work/t.tlc" --split-cut 6 --threads 2
"$bin" train --arch student-early-cut --epochs 1 --data "$work/data" --out "$work/early.tlc" >/dev/null 2>&1
"$bin" export "$work/early.tlc" -o "$work/early.tlm" --data "$work/data" --limit 50 --calibration 50 >/dev/null
# (a 5 ms round trip: the cut then wins by more than a slow build's edge time;
# a 16 MHz device: at 64 M/s the whole model on the M4 now takes 25.3 ms
# against the cut's 25.6 ms, at 16 M/s 101 ms against 49 ms)
check "the early-cut student's cut, after its second operator, sends 4x4x1 = 16 bytes and is chosen at 10 kbit/s" 0 \
    " 2 CONV_2D +[0-9]+ +[0-9.]+ +16 .*chosen: K = 2 \(split\)" -- "$bin" split "$work/early.tlm" --rate 10k --rtt 5 --ips 16M
# Split learning across processes (`split-learn`): the device's half here, the edge's in `serve --split-learn`.
"$bin" train --arch student-tiny --epochs 1 --data "$work/data" --limit 64 --out "$work/sl-init.tlc" >/dev/null 2>&1
acc() { "$bin" eval "$1" --data "$work/data" | sed -n 's/.*accuracy \([0-9.]*\)$/\1/p'; }
before=$(acc "$work/sl-init.tlc")
check "split learning simulated in one process joins the halves into a model that learned" 0 \
    "device's half is nodes 1 to 6 \(its output 8x8x16\), 1024 values a sample cross at 32 bits; 600 images.*epoch 2/2: 38 steps, 4.92 MB up, 4.92 MB down.*joined: .* written to $work/sl-sim.tlc" -- \
    "$bin" split-learn "$work/sl-init.tlc" --simulate "$work/sl-sim.tlc" --cut 6 --data "$work/data" --epochs 2 --bits 32
check "the joined model is better than where both halves started" 0 "^better ?$" -- \
    awk -v a="$before" -v b="$(acc "$work/sl-sim.tlc")" 'BEGIN { print (b > a + 0.1 ? "better" : "not: " a " -> " b) }'
"$bin" serve --db "$work/sl.db" --port "$port" --split-learn "$work/sl-init.tlc" --split-cut 6 \
    --split-out "$work/sl-joined.tlc" 2>"$work/sl-server.log" &
server_pid=$!
for _ in $(seq 50); do grep -q "^serving" "$work/sl-server.log" && break; sleep 0.1; done
check "the edge offers /split and says its architecture and cut" 0 \
    "^arch=student-tiny&cut=6&values=1024&batch=256&classes=3&steps=0" -- coap-client-notls -B 5 "coap://127.0.0.1:$port/split"
check "over CoAP the same steps join into the same model, byte for byte" 0 "joined: .*same ?$" -- \
    bash -c "'$bin' split-learn '$work/sl-init.tlc' --edge 127.0.0.1:$port --data '$work/data' --epochs 2 --bits 32 && sleep 0.3 && cmp '$work/sl-joined.tlc' '$work/sl-sim.tlc' && echo same"
check "int8 at the cut: a quarter of the bytes, and the model still learns" 0 \
    "8 bits; 600 images.*epoch 1/1: 19 steps, 0.6[0-9] MB up, 0.6[0-9] MB down" -- \
    "$bin" split-learn "$work/sl-init.tlc" --edge 127.0.0.1:$port --data "$work/data"
check "a device whose model is not the edge's architecture is refused" 1 \
    "bottleneck.tlc is a student-bottleneck of 3 classes; the edge's half is of a student-tiny" -- \
    "$bin" split-learn "$work/bottleneck.tlc" --edge 127.0.0.1:$port --data "$work/data"
head -c 100 /dev/urandom >"$work/noise.bin"
check "bytes that are not a cut message are refused with what a step takes" 0 \
    "4.00 .*a split step takes student-tiny's cut \(node 6\)" -- \
    coap-client-notls -m post -B 5 -f "$work/noise.bin" "coap://127.0.0.1:$port/split?step=train"
check "a join of the wrong size is refused" 0 "4.00 .*the device's half of student-tiny up to node 6 is [0-9]+ bytes \(float32\), not 100" -- \
    coap-client-notls -m post -B 5 -f "$work/noise.bin" "coap://127.0.0.1:$port/split?step=join"
stop_server
check "--split-learn needs the cut" 1 "--split-learn $work/sl-init.tlc: need --split-cut NODE" -- \
    "$bin" serve --db "$work/sl.db" --port "$port" --split-learn "$work/sl-init.tlc"
check "a cut past the network's nodes is refused with their range" 1 "node 100 cannot split student-tiny: the cut is a node from 1 to [0-9]+" -- \
    "$bin" split-learn "$work/sl-init.tlc" --simulate "$work/x.tlc" --cut 100 --data "$work/data"
check "--simulate needs --cut" 1 "--simulate needs --cut NODE" -- \
    "$bin" split-learn "$work/sl-init.tlc" --simulate "$work/x.tlc" --data "$work/data"
check "split needs the link" 1 "need MODEL.tlm, --rate, --rtt and --ips" -- "$bin" split "$model" --rate 1M
check "split names a model that is not one" 1 "$work/slow.json" -- "$bin" split "$work/slow.json" --rate 1M --rtt 5 --ips 64M
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
