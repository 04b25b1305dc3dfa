#!/usr/bin/env bash
# main-job.sh - the main job, end to end on the embedded defaults.
#
# Today: import the MLPerf Tiny reference models into the .tlm device
# format, run each on real inputs through the device runtime on the host and
# on a Cortex-M4 (QEMU), check the outputs against TensorFlow Lite Micro's,
# report the resources used; then train a small student on Fashion-MNIST
# with the LargeML engine (distilled from the teacher when one is trained),
# quantise it into a device model, measuring
# its accuracy on the device runtime and on the Cortex-M4, build the variant
# catalogue, publish it (and a second, context-tagged model) signed to the
# model library, serve it over CoAP, let three devices with different
# profiles, channels and situations download what fits them in situ (one
# progressively over a 1 Mbit/s link) and classify test images, move one
# device to another context and watch the server replace its model
# (Observe), and report who got what; then the way back: a device adapts
# its model's head to its own data, clients (MCU-class and phones) improve
# the student by federated learning with secure aggregation, and the edge
# publishes the result as a new signed version that device A receives; and
# a round of secure aggregation over CoAP between four devices, one of
# them dropping, whose unmasked mean device A receives as the next version;
# device A offloads its least sure images to the edge's model and splits
# its model with the edge; last, a simulated day of a city of devices on
# 6G cells with this job's catalogue (tinylarge sim).
# usage: main-job.sh BUILD_DIR SHARED_DIR [TEACHER.tlc]
set -euo pipefail
build=$1
shared=$2
teacher_ckpt=${3:-}
bin=$build/tinylarge
src=$shared/models/mlperf-tiny
out=$build/main-job
if [ -n "$teacher_ckpt" ]; then
    # Refused before the long steps, not after them.
    if [ ! -f "$teacher_ckpt" ]; then
        echo "main job: teacher checkpoint $teacher_ckpt not found" >&2
        exit 1
    fi
    if ! why=$("$bin" eval "$teacher_ckpt" --limit 1 2>&1); then
        echo "main job: cannot use $teacher_ckpt as the teacher: $why" >&2
        exit 1
    fi
fi
if [ ! -f "$src/kws_ref_model.tflite" ]; then
    echo "main job: reference models not found under $src" >&2
    exit 1
fi
mkdir -p "$out"

# name, TFLite Micro arena (../shared/anchors.md, x86-64), task
models=(
    "kws_ref_model 24000 keyword spotting (DS-CNN)"
    "vww_96_int8 103392 visual wake words (MobileNetV1)"
    "pretrainedResnet_quant 55712 image classification (ResNet-8)"
    "ad01_int8 3424 anomaly detection (autoencoder)"
)

echo "== 1. import: .tflite -> .tlm (offline requantisation, arena plan, SHA-256)"
for entry in "${models[@]}"; do
    read -r name _ task <<<"$entry"
    "$bin" import "$src/$name.tflite" -o "$out/$name.tlm" --meta "task=$task"
done

echo
echo "== 2. inspect: the keyword-spotting model as the device sees it"
"$bin" inspect "$out/kws_ref_model.tlm"

echo
echo "== 3. run: every golden input through the device runtime (host)"
printf "%-24s %6s %10s %10s %7s %10s %9s %s\n" model inputs "model B" "arena B" "vs TFLM" "MACs" "ms/inf" "outputs"
for entry in "${models[@]}"; do
    read -r name tflm_arena _ <<<"$entry"
    same=0
    for i in 1 2 3 4; do
        "$bin" run "$out/$name.tlm" --input "$src/golden/$name/$i.in" --output "$out/$name.$i.out" >/dev/null
        cmp -s "$out/$name.$i.out" "$src/golden/$name/$i.out" && same=$((same + 1))
    done
    report=$("$bin" run "$out/$name.tlm" --input "$src/golden/$name/1.in" --repeat 20)
    arena=$(sed -n 's/^arena: \([0-9]*\) bytes/\1/p' <<<"$report")
    size=$(sed -n 's/^model: \([0-9]*\) bytes/\1/p' <<<"$report")
    ms=$(sed -n 's/^time: \([0-9.]*\) ms.*/\1/p' <<<"$report")
    macs=$("$bin" inspect "$out/$name.tlm" | sed -n 's/^total: \([0-9]*\) MACs.*/\1/p')
    ratio=$(awk -v a="$arena" -v b="$tflm_arena" 'BEGIN { printf "%.2fx", a / b }')
    printf "%-24s %6s %10s %10s %7s %10s %9s %s\n" "$name" 4 "$size" "$arena" "$ratio" "$macs" "$ms" \
        "$same/4 identical to TFLite Micro"
done

echo
echo "== 4. the same runtime on a Cortex-M4 (QEMU mps2-an386)"
if command -v qemu-system-arm >/dev/null && [ -f "$build/firmware/fw_kws_ref_model.elf" ]; then
    for entry in "${models[@]}"; do
        read -r name _ <<<"$entry"
        log=$(timeout 300 qemu-system-arm -M mps2-an386 -nographic -monitor none -serial none \
            -semihosting-config enable=on,target=native -icount shift=0 \
            -kernel "$build/firmware/fw_$name.elf" 2>&1 || true)
        ticks=$(sed -n 's/^timer ticks: //p' <<<"$log")
        want=$(od -An -v -td1 "$src/golden/$name/1.out" | xargs)
        got=$(sed -n 's/^output: //p' <<<"$log")
        verdict="differs from TFLite Micro"
        [ "$got" = "$want" ] && verdict="identical to TFLite Micro"
        printf "%-24s ~%9d instructions per inference, output %s\n" "$name" $((${ticks:-0} * 40)) "$verdict"
    done
else
    echo "(skipped: needs qemu-system-arm and the firmware build)"
fi
echo
echo "== 5. LargeML: train a student on Fashion-MNIST (reused when already trained)"
student=$out/student.tlc
# trained CKPT: a checkpoint from an earlier run that still loads and runs.
trained() { [ -f "$1" ] && "$bin" eval "$1" --limit 10 >/dev/null 2>&1; }
if trained "$student"; then
    echo "reusing $student (delete it to train again)"
else
    "$bin" train --arch student --epochs 2 --limit 12000 --out "$student"
fi
student_eval=$("$bin" eval "$student")
echo "$student_eval"

echo
echo "== 6. distil: the teacher teaches the same student (when a teacher is trained)"
# The teacher (94%) takes about 75 minutes on 2 cores (make bench-teacher),
# too long for this job; a teacher trained for a few minutes does not help
# (measured: -0.14 points), so without one the student trained alone ships.
ship=$student
teacher=${teacher_ckpt:-$build/accuracy/teacher.tlc}
if [ -f "$teacher" ]; then
    distilled=$out/student-kd.tlc
    acc() { sed -n 's/.*, accuracy \([0-9.]*\).*/\1/p' | tail -1; }
    # Beside the distilled student: the teacher's digest and test accuracy.
    # A rerun with the same teacher reuses both (the teacher's evaluation on
    # 10,000 images takes about 30 s); another teacher distils again.
    from=$(sha256sum <"$teacher" | cut -d' ' -f1)
    { read -r digest teacher_acc <"$distilled.teacher"; } 2>/dev/null || digest=
    if trained "$distilled" && [ "$digest" = "$from" ] && [ -n "${teacher_acc:-}" ]; then
        echo "reusing $distilled (distilled from this teacher)"
    else
        rm -f "$distilled" "$distilled.teacher"
        "$bin" distill --teacher "$teacher" --arch student --epochs 2 --limit 12000 --out "$distilled" 2>&1 | tail -1
        teacher_acc=$("$bin" eval "$teacher" | acc)
        echo "$from $teacher_acc" >"$distilled.teacher"
    fi
    awk -v t="$teacher_acc" -v a="$(acc <<<"$student_eval")" -v d="$("$bin" eval "$distilled" | acc)" 'BEGIN {
        printf "10,000 test images: teacher %.2f%%, student alone %.2f%%, distilled %.2f%% (%+.2f points)\n",
            100 * t, 100 * a, 100 * d, 100 * (d - a) }'
    echo "the distilled student goes on"
    ship=$distilled
else
    echo "(skipped: no teacher at $teacher; make bench-teacher trains one, or make run TEACHER=CKPT)"
fi

echo
echo "== 7. compress: quantise the student to int8 and run it on the device runtime"
"$bin" export "$ship" -o "$out/student.tlm"
"$bin" inspect "$out/student.tlm" | tail -1
if m4=$("$(dirname "$0")/m4-instructions.sh" "$build" "$out/student.tlm"); then
    echo "on the Cortex-M4 (QEMU): $m4 instructions per inference"
fi

echo
echo "== 8. the variant catalogue: exit x sparsity x bits, measured"
"$bin" compress "$ship" --out-dir "$out/catalogue" --sparsity 0,0.5 --bits 8,4 --finetune-limit 4000 --limit 1000
# What the planner makes of it for a device with a 1 Mbit/s link and a 1 s
# deadline (download + first inference): timed by MACs, then by the
# Cortex-M4 instructions measured above at 64 M instructions/s, then for a
# device that makes pruned and int4 models dense (as device C below does).
for how in "by MACs at 20 M/s" "by measured instructions at 64 M/s" "for a densifying device, at 64 M/s"; do
    echo "planner, $how:"
    case $how in by\ MACs*) opts=() ;; by*) opts=(--ips 64M) ;; *) opts=(--ips 64M --densify) ;; esac
    "$bin" plan "$out/catalogue/catalogue.csv" --flash 256K --ram 64K --mac-rate 20M "${opts[@]}" \
        --rate 1M --rtt 0.005 --deadline 1 2>&1 | sed -n 's/^\(chosen\|tinylarge plan:\)/   &/p' || true
done

echo
echo "== 9. in situ: publish, serve, three devices download, one changes context"
# A second model for one situation (a battery-powered hall display: the
# depthwise-separable student-tiny), tagged location=hall.
tiny=$out/student-tiny.tlc
if trained "$tiny"; then
    echo "reusing $tiny"
else
    "$bin" train --arch student-tiny --epochs 2 --limit 12000 --lr 0.1 --out "$tiny" 2>&1 | tail -1
fi
"$bin" compress "$tiny" --out-dir "$out/catalogue-hall" --sparsity 0 --bits 8 --limit 1000 --calibration 500 \
    >/dev/null
[ -f "$out/server.key" ] || "$bin" keygen --out "$out/server" >/dev/null
rm -f "$out/library.db"
"$bin" library add --db "$out/library.db" --name fashion --catalogue "$out/catalogue" --key "$out/server.key" \
    --tag task=fashion-mnist
"$bin" library add --db "$out/library.db" --name fashion-hall --catalogue "$out/catalogue-hall" \
    --key "$out/server.key" --tag task=fashion-mnist --tag location=hall
"$bin" library list --db "$out/library.db"
port=$((20000 + RANDOM % 20000))
"$bin" serve --db "$out/library.db" --port "$port" 2>"$out/server.log" &
server=$!
pids=()
trap 'kill $server "${pids[@]}" 2>/dev/null' EXIT
sleep 1
rm -rf "$out"/device-*
srv=(--server "127.0.0.1:$port" --pub "$out/server.pub" --context "task=fashion-mnist&location=yard"
     --mac-rate 20M --ips 64M --ram 64K --eval 1000)
# Three devices, each its own process: profile, channel and situation differ.
"$bin" device "${srv[@]}" --id device-a --slots "$out/device-a" --flash 256K --rate 250K >"$out/device-a.log" 2>&1 &
pids+=($!)
"$bin" device "${srv[@]}" --id device-b --slots "$out/device-b" --flash 30K --rate 250K >"$out/device-b.log" 2>&1 &
pids+=($!)
# Device C has no model yet and a 1 Mbit/s link: it downloads the bit-plane
# stream, runs the first planes at once, and stays registered (Observe). A
# pruned model it installs with its filters made dense (--densify): small
# download, dense kernels' speed, the same answers.
"$bin" device "${srv[@]}" --id device-c --slots "$out/device-c" --flash 256K --rate 1M --link-rate 1M \
    --progressive --densify --watch 60 --updates 2 >"$out/device-c.log" 2>&1 &
device_c=$!
wait "${pids[@]}"
for _ in $(seq 100); do grep -q "^active model" "$out/device-c.log" && break; sleep 0.1; done
echo "device C moves to the hall:"
"$bin" context --server "127.0.0.1:$port" --device device-c location=hall
wait "$device_c"
kill $server 2>/dev/null
trap - EXIT
for d in a b c; do
    echo "-- device $d"
    sed 's/^/   /' "$out/device-$d.log"
done
echo
echo "report (accuracy on 1,000 Fashion-MNIST test images, on each device's runtime):"
printf "%-9s %-13s %-13s %8s %8s %9s\n" device model variant bytes seconds accuracy
for d in a b c; do
    # One row per installed model: what arrived, how big, how long, how well.
    awk -v dev="$d" '
        /^installed/ { model = $2; variant = $3; bytes = substr($6, 2); secs = $9 }
        /^active model/ { printf "%-9s %-13s %-13s %8s %8s %9s\n", dev, model, variant, bytes, secs, $7 }' \
        "$out/device-$d.log"
done
first=$(sed -n 's/^first inference after \([0-9.]*\) s with .*(\([0-9]\) of 8 planes).*/\1 s (\2 of 8 planes)/p' \
    "$out/device-c.log" | head -1)
echo "device C's first inference: after ${first:-?} over its 1 Mbit/s link"

echo
echo "== 10. learning back: devices learn from their own data, the edge aggregates, a new version goes out"
# On-device transfer learning, as device A's runtime does it: its own
# distribution is three classes of darker images; the head learns from 200
# of them (the backbone frozen), and the head's delta is what it sends back.
"$bin" learn "$out/student.tlm" --classes 0,2,6 --shift brightness:-80 --samples 200 \
    -o "$out/device-a-adapted.tlm" --delta "$out/device-a.delta"
# Federated learning from the shipped student: the whole training split
# (the server trained on a fifth of it) dealt to 20 clients, half MCU-class
# (they get the int8 model and learn its head from 50 samples on the device
# runtime), half phones training the whole student at a low rate (it is
# already trained); 10 a round, secure aggregation, a fifth dropping before
# they send. (From a trained model, skewed shards and higher rates cost
# accuracy in the first rounds: docs/benchmarks.md.)
"$bin" federate --init "$ship" --clients 20 --per-round 10 --rounds 3 --partition iid --lr 0.002 --mcu 0.5 \
    --mcu-samples 50 --secagg --dropout 0.2 --test 2000 --out "$out/federated.tlc" --json "$out/federated.json"
"$bin" compress "$out/federated.tlc" --out-dir "$out/catalogue-federated" --sparsity 0 --bits 8 --limit 1000 \
    --calibration 500 >/dev/null
"$bin" library add --db "$out/library.db" --name fashion --catalogue "$out/catalogue-federated" \
    --key "$out/server.key" --tag task=fashion-mnist
"$bin" serve --db "$out/library.db" --port "$port" 2>>"$out/server.log" &
server=$!
trap 'kill $server 2>/dev/null' EXIT
sleep 1
# Device A asks again: the new signed version replaces the one it runs.
"$bin" device "${srv[@]}" --id device-a --slots "$out/device-a" --flash 256K --rate 250K >"$out/device-a-2.log" 2>&1
kill $server 2>/dev/null
trap - EXIT
sed 's/^/   /' "$out/device-a-2.log"
before=$(sed -n 's/^active model .*: accuracy \([0-9.]*\) .*/\1/p' "$out/device-a.log" | tail -1)
after=$(sed -n 's/^active model .*: accuracy \([0-9.]*\) .*/\1/p' "$out/device-a-2.log" | tail -1)
echo "device A, 1,000 test images: version 1 $before, after the federated rounds ${after:-?}"

echo
echo "== 11. a secure round over CoAP: the edge learns only the sum of its devices' updates"
# The edge runs a round of secure aggregation: four devices (A and three
# new ones) learn the head of the version they run from 200 samples of
# their own and take the protocol's steps over CoAP; one loses power after
# dealing its shares. The server unmasks the other three's mean (the shares
# opened around the missing one), publishes it as the next signed version
# and device A receives it in situ.
data=/usr/share/datasets/fashion-mnist # the Debian package's, as the other commands' default
"$bin" serve --db "$out/library.db" --port "$port" --federate fashion --secagg --round-size 4 --round-timeout 5 \
    --key "$out/server.key" 2>>"$out/server.log" &
server=$!
pids=()
trap 'kill $server "${pids[@]}" 2>/dev/null' EXIT
sleep 1
rm -rf "$out"/device-[def]
for d in a:0 d:1 e:2 f:3; do
    id=device-${d%%:*}
    extra=()
    [ "$id" = device-f ] && extra=(--learn-drop)
    "$bin" device "${srv[@]}" --id "$id" --slots "$out/$id" --flash 256K --rate 250K --learn "$data" \
        --learn-samples 200 "${extra[@]}" >"$out/$id-secure.log" 2>&1 &
    pids+=($!)
done
wait "${pids[@]}" || true
for _ in $(seq 100); do grep -q "round 1 of fashion closed\|round 1 of fashion is void" "$out/server.log" && break; sleep 0.1; done
grep -E "round 1 of fashion (closed|is void)|timed out waiting" "$out/server.log" | sed 's/^/   /'
for d in a d e f; do
    grep -E "^learnt|tinylarge device" "$out/device-$d-secure.log" | sed "s/^/   device $d: /"
done
"$bin" device "${srv[@]}" --id device-a --slots "$out/device-a" --flash 256K --rate 250K >"$out/device-a-3.log" 2>&1
kill $server 2>/dev/null
trap - EXIT
sed 's/^/   /' "$out/device-a-3.log"
secure=$(sed -n 's/^active model .*: accuracy \([0-9.]*\) .*/\1/p' "$out/device-a-3.log" | tail -1)
echo "device A, 1,000 test images: after the federated rounds ${after:-?}, after the secure round ${secure:-?}"

echo
echo "== 12. device and edge infer together: offloading and split inference"
# The edge answers with a larger float model: the teacher when one is
# trained, else a wider student trained on half the training split (about
# 75 s on 2 cores; reused when already trained). Device A sends the tenth of
# its images it is least sure of and takes the edge's answers; then it
# splits its model with the edge, the cut chosen per image for its 250
# kbit/s link.
edge_model=$teacher
if [ ! -f "$teacher" ]; then
    edge_model=$out/edge-student.tlc
    trained "$edge_model" || "$bin" train --arch student-wide --epochs 2 --limit 30000 --out "$edge_model" 2>&1 | tail -1
fi
echo "edge model: $edge_model, $("$bin" eval "$edge_model" --limit 1000 | sed -n 's/.*\(accuracy [0-9.]*\)$/\1/p') on 1,000 test images"
"$bin" serve --db "$out/library.db" --port "$port" --edge-model "$edge_model" 2>>"$out/server.log" &
server=$!
trap 'kill $server 2>/dev/null' EXIT
sleep 1
"$bin" device "${srv[@]}" --id device-a --slots "$out/device-a" --flash 256K --rate 250K --offload auto \
    --offload-target 0.1 >"$out/device-a-offload.log" 2>&1
"$bin" device "${srv[@]}" --id device-a --slots "$out/device-a" --flash 256K --rate 250K --split auto \
    >"$out/device-a-split.log" 2>&1
kill $server 2>/dev/null
trap - EXIT
grep -E "^(offload|split|device energy)" "$out/device-a-offload.log" "$out/device-a-split.log" | sed 's/^[^:]*:/   /'

echo
echo "== 13. the network: a short simulated day for a city of devices on 6G cells"
# sim/city.ini with 2,000 devices over 24 hours: radio (TR 38.901), mobility,
# context changes, the three-tier library, the planner choosing variants of
# this job's own catalogue; the device runtime computes the answers of every
# 500th device on test images. The report is one HTML page.
"$bin" sim "$(dirname "$0")/../sim/city.ini" --devices 2000 --duration 86400 --quiet \
    --set "app.vision-tiny.catalogue=$(cd "$out/catalogue" && pwd)/catalogue.csv" \
    --set scenario.fidelity=full --set scenario.full_every=500 \
    --json "$out/sim.json" --report "$out/sim"

echo
echo
echo "main job done: models and checkpoints in $out; the simulated day's report in $out/sim/index.html"
