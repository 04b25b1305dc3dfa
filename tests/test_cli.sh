#!/usr/bin/env bash
# test_cli.sh - the tinylarge command line tool as a user drives it:
# outputs, files written, exit codes and error messages (bad input included).
# usage: test_cli.sh TINYLARGE_BINARY SHARED_DIR
set -u
bin=$1
models=$2/models/mlperf-tiny
if [ ! -f "$models/kws_ref_model.tflite" ]; then
    echo "skipped: reference models not found under $2"
    exit 77
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
passed=0
failed=0

# check NAME EXPECTED_STATUS REGEX -- COMMAND...: runs COMMAND, wants its exit
# status and a line of its stdout+stderr matching REGEX.
check() {
    local name=$1 want=$2 regex=$3
    shift 4
    local out status
    out=$("$@" 2>&1)
    status=$?
    if [ "$status" -eq "$want" ] && grep -Eq -- "$regex" <<<"$out"; then
        passed=$((passed + 1))
    else
        failed=$((failed + 1))
        echo "FAIL: $name (status $status, wanted $want; output must match /$regex/)"
        sed 's/^/    /' <<<"$out" | head -20
    fi
}

# The first option in a command's help that takes a value (for the
# missing-value check).
tinylarge_first_option() {
    "$bin" "$1" --help | sed -n 's/^  \(--[a-z-]*\) [A-Z].*/\1/p' | head -1
}

# ok NAME COMMAND...: COMMAND must succeed (a file check, say).
ok() {
    local name=$1
    shift
    if "$@"; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "FAIL: $name"; fi
}

check "help lists commands" 0 "import .*tflite" -- "$bin" --help
check "unknown command" 2 "unknown command 'bogus'" -- "$bin" bogus
check "import" 0 "imported .* 13 operators" -- "$bin" import "$models/kws_ref_model.tflite" -o "$work/kws.tlm" --meta task=keyword-spotting
check "inspect graph" 0 "DEPTHWISE_CONV_2D" -- "$bin" inspect "$work/kws.tlm"
check "inspect totals" 0 "^total: 2656768 MACs, .* arena [0-9]+ bytes" -- "$bin" inspect "$work/kws.tlm"
check "inspect metadata" 0 "task = keyword-spotting" -- "$bin" inspect "$work/kws.tlm"
# The operator table of a firmware for given models: just their operators.
check "resolver counts a model's operators" 0 "ops.c: 6 of [0-9]+ operators, 5 of them int8 only" -- \
    "$bin" resolver "$work/kws.tlm" -o "$work/ops.c"
check "resolver lists what the model uses, int8-only kinds where all is int8" 0 "= &tl_op_depthwise_conv_2d_int8," -- \
    cat "$work/ops.c"
if grep -q "tl_op_max_pool_2d\|tl_op_pad\|tl_op_transpose" "$work/ops.c"; then
    failed=$((failed + 1)); echo "FAIL: resolver lists an operator KWS does not use"
else
    passed=$((passed + 1))
fi
check "pipeline: the answer while the model arrives equals the whole model's" 0 \
    "pipelined answer equals the whole model's: yes on this host" -- "$bin" pipeline "$work/kws.tlm" --json "$work/p.json"
ok "pipeline writes its figures" grep -q '"pipelined_s": [0-9]' "$work/p.json"
check "pipeline: a link of 0 bit/s is refused" 2 "tinylarge pipeline: --rate" -- "$bin" pipeline "$work/kws.tlm" --rate 0
check "pipeline names a model it cannot read" 1 "nope.tlm" -- "$bin" pipeline "$work/nope.tlm"
check "serve: no idle session limit of 0" 2 "tinylarge serve: --max-idle-sessions" -- \
    "$bin" serve --db "$work/none.db" --max-idle-sessions 0
check "resolver wants an output" 1 "usage: tinylarge resolver MODEL.tlm" -- "$bin" resolver "$work/kws.tlm"
check "resolver names a model it cannot read" 1 "nope.tlm" -- "$bin" resolver "$work/nope.tlm" -o "$work/ops2.c"
[ ! -e "$work/ops2.c" ] && passed=$((passed + 1)) || { failed=$((failed + 1)); echo "FAIL: resolver wrote a file after an error"; }
# A TFLite file: every operator with its types, and every gap at once.
check "inspect a .tflite: each operator" 0 "^  0 +DEPTHWISE_CONV_2D|^  0 +CONV_2D" -- "$bin" inspect "$models/kws_ref_model.tflite"
check "inspect a .tflite it imports" 0 "^every operator is supported: .tinylarge import" -- \
    "$bin" inspect "$models/kws_ref_model.tflite"
examples=$2/models/tflm-examples
if [ -f "$examples/mobilenet_v2_quantized_1x3x224x224.tflite" ]; then
    check "inspect names every missing operator" 0 "^operators tinylarge does not run yet: CUSTOM SignalWindow x1, .*CAST x4, .*MAXIMUM x1$" -- \
        "$bin" inspect "$examples/audio_preprocessor_int8.tflite"
    # The LSTMs (int8 activations, int16 cell) and DTLN's LOGISTIC.
    for lstm in micro_speech_lstm trained_lstm_int8 dtln_noise_suppression; do
        check "$lstm imports" 0 "^imported .* 4 operators" -- "$bin" import "$examples/$lstm.tflite" -o "$work/$lstm.tlm"
        check "$lstm runs" 0 "^output \([0-9]+ int8 values\)" -- "$bin" run "$work/$lstm.tlm"
    done
    check "a PyTorch-exported MobileNetV2 (TRANSPOSE, PADs, MEAN) imports" 0 "74 operators" -- \
        "$bin" import "$examples/mobilenet_v2_quantized_1x3x224x224.tflite" -o "$work/mnv2.tlm"
    check "and runs" 0 "^output \(1000 int8 values\)" -- "$bin" run "$work/mnv2.tlm"
    # The expected answers TFLite Micro's own example tests check: person
    # detection on its person and no-person images (class 1 is "person").
    if [ -x "${3:-}" ]; then
        check "person_detect imports" 0 "^imported" -- "$bin" import "$examples/person_detect.tflite" -o "$work/pd.tlm"
        for img in person no_person; do
            "$3" "$work/$img.in" bmp "$examples/testdata/$img.bmp"
        done
        check "person_detect: a person in person.bmp" 0 "top class: 1 " -- "$bin" run "$work/pd.tlm" --input "$work/person.in"
        check "person_detect: nobody in no_person.bmp" 0 "top class: 0 " -- "$bin" run "$work/pd.tlm" --input "$work/no_person.in"
    fi
    # keyword_scrambled: an int16 input, QUANTIZE, SVDF with int16 state, an int16 softmax, an int32 output.
    check "keyword_scrambled imports" 0 "15 operators" -- \
        "$bin" import "$examples/keyword_scrambled.tflite" -o "$work/kws16.tlm"
    check "inspect names an int16 input" 0 "^inputs: .*\[1,96\] int16 \(scale" -- "$bin" inspect "$work/kws16.tlm"
    check "inspect names an int32 output" 0 "^outputs: .*\[1,2\] int32" -- "$bin" inspect "$work/kws16.tlm"
    head -c 192 /dev/zero >"$work/kws16.in"
    head -c 96 /dev/zero >"$work/short96.in"
    check "run takes an int16 input by bytes" 0 "^output \(2 int32 values\)" -- \
        "$bin" run "$work/kws16.tlm" --input "$work/kws16.in" --repeat 3
    check "run: an input of int8 size for an int16 input" 1 "holds 96 bytes but the model's input 0 takes 192 \(96 int16 values\)" -- \
        "$bin" run "$work/kws16.tlm" --input "$work/short96.in"
    check "run: one --input per model input" 1 "takes 1 input; 2 --input given" -- \
        "$bin" run "$work/kws16.tlm" --input "$work/kws16.in" --input "$work/kws16.in"
    check "keyword_scrambled_8bit (int8 state) imports" 0 "15 operators" -- \
        "$bin" import "$examples/keyword_scrambled_8bit.tflite" -o "$work/kws8.tlm"
    check "import names the operator it stops at" 1 "operator 0 \(CUSTOM SignalWindow\): operator is not supported" -- \
        "$bin" import "$examples/audio_preprocessor_int8.tflite" -o "$work/pre.tlm"
    check "inspect: a custom operator and what to do" 0 "custom operators: an accelerator.s compiled subgraph" -- \
        "$bin" inspect "$examples/person_detect_vela.tflite"
    check "inspect: float activations and what to do" 0 "^3 operators have float activations: a float model; .tinylarge import .*hello_world_float.tflite" -- \
        "$bin" inspect "$examples/hello_world_float.tflite"
    check "inspect: int16 activations an operator does not take are named" 0 "operators have int16 activations \(16x8 quantisation\): not supported yet" -- \
        "$bin" inspect "$examples/audio_preprocessor_int8.tflite"
    check "inspect: an int16 SVDF state and softmax are supported" 0 "^every operator is supported" -- \
        "$bin" inspect "$examples/keyword_scrambled.tflite"
    check "inspect: a types column" 0 "FULLY_CONNECTED +float32 float32 float32 -> float32 +float: import --calibrate" -- \
        "$bin" inspect "$examples/hello_world_float.tflite"
fi
head -c 8 "$models/kws_ref_model.tflite" >"$work/cut.tflite"
check "inspect: a cut .tflite named" 1 "cut.tflite: malformed flatbuffer: model or subgraph table" -- "$bin" inspect "$work/cut.tflite"
check "run golden input" 0 "arena: [0-9]+ bytes" -- "$bin" run "$work/kws.tlm" --input "$models/golden/kws_ref_model/3.in" --output "$work/out3"
ok "output equals TFLite Micro" cmp -s "$work/out3" "$models/golden/kws_ref_model/3.out"
check "run seeded input" 0 "top class: [0-9]+ \(confidence 0\.[0-9]+\)" -- "$bin" run "$work/kws.tlm" --seed 2 --output "$work/out2" --repeat 3
ok "seed N reproduces golden N.in" cmp -s "$work/out2" "$models/golden/kws_ref_model/2.out"

# Bad input: each names the file and what is wrong, and exits non-zero.
check "import missing file" 1 "nope.tflite: cannot read" -- "$bin" import "$work/nope.tflite" -o "$work/x.tlm"
printf 'definitely not a flatbuffer' > "$work/junk.tflite"
check "import junk" 1 "junk.tflite: not a TFLite flatbuffer" -- "$bin" import "$work/junk.tflite" -o "$work/x.tlm"
ok "no output for a failed import" test ! -e "$work/x.tlm"
check "import without -o" 1 "need an input .tflite file and -o OUTPUT" -- "$bin" import "$models/kws_ref_model.tflite"
check "import into missing folder" 1 "no/such/dir/k.tlm: cannot write" -- "$bin" import "$models/kws_ref_model.tflite" -o "$work/no/such/dir/k.tlm"
cp "$work/kws.tlm" "$work/bad.tlm"
printf '\x55' | dd of="$work/bad.tlm" bs=1 seek=3000 conv=notrunc status=none
check "tampered model" 1 "bad.tlm: not a valid model: SHA-256 digest mismatch" -- "$bin" run "$work/bad.tlm"
head -c 1000 "$work/kws.tlm" > "$work/short.tlm"
check "truncated model" 1 "short.tlm: not a valid model: truncated data" -- "$bin" inspect "$work/short.tlm"
head -c 100 "$models/golden/kws_ref_model/1.in" > "$work/short.in"
check "wrong input size" 1 "short.in: holds 100 bytes but the model's input 0 takes 490 \(490 int8 values\)" -- "$bin" run "$work/kws.tlm" --input "$work/short.in"
check "bad --repeat" 2 "--repeat takes a positive integer, not '0'" -- "$bin" run "$work/kws.tlm" --repeat 0
check "extra argument" 2 "unexpected argument 'two.tlm'" -- "$bin" inspect "$work/kws.tlm" two.tlm
# Signing.
check "keygen" 0 "created .*srv.key \(secret, owner only\) and .*srv.pub" -- "$bin" keygen --out "$work/srv"
ok "secret key is owner-only" test "$(stat -c %a "$work/srv.key")" = 600
check "keygen never overwrites" 1 "srv.key: cannot create" -- "$bin" keygen --out "$work/srv"
cp "$work/kws.tlm" "$work/signed.tlm"
check "sign" 0 "signed .*signed.tlm" -- "$bin" sign "$work/signed.tlm" --key "$work/srv.key"
check "verify" 0 "signed.tlm: signature valid" -- "$bin" verify "$work/signed.tlm" --pub "$work/srv.pub"
check "inspect shows signed" 0 "digest ok, signed" -- "$bin" inspect "$work/signed.tlm"
check "unsigned model fails verify" 1 "kws.tlm: signature missing or invalid for this key" -- \
    "$bin" verify "$work/kws.tlm" --pub "$work/srv.pub"
check "a public key cannot sign" 1 "srv.pub: not a tinylarge ed25519 secret key file" -- \
    "$bin" sign "$work/signed.tlm" --key "$work/srv.pub"

# Progressive (bit-plane) streams.
check "progressive encode" 0 "encoded .*kws.tlm .* -> .*kws.tlp" -- "$bin" progressive "$work/kws.tlm" -o "$work/kws.tlp"
check "decode a prefix" 0 "[1-7] of 8 bit planes" -- "$bin" progressive --decode "$work/kws.tlp" --bytes 30000 -o "$work/kws4.tlm"
check "the prefix runs" 0 "top class: [0-9]+" -- "$bin" run "$work/kws4.tlm"
check "decode all" 0 "8 of 8 bit planes" -- "$bin" progressive --decode "$work/kws.tlp" -o "$work/kws8.tlm"
ok "full decode is the original" cmp -s "$work/kws8.tlm" "$work/kws.tlm"
check "decode too little" 1 "cannot decode 1000 bytes: truncated data" -- \
    "$bin" progressive --decode "$work/kws.tlp" --bytes 1000 -o "$work/x.tlm"

# Training (LargeML engine) from the command line.
check "train help lists architectures" 0 "student-exits" -- "$bin" train --help
check "unknown architecture" 1 "unknown architecture 'nope'" -- "$bin" train --arch nope --out "$work/t.tlc"
check "train without --out" 1 "need --out CKPT" -- "$bin" train --arch student-tiny
check "missing data folder" 1 "nodata: no training split \(x_train.npy and y_train.npy, or MNIST-style IDX" -- \
    "$bin" train --arch student-tiny --out "$work/t.tlc" --data "$work/nodata"
# Data that is not Fashion-MNIST: three classes of 16x16 patterns, as IDX
# (one channel) and as .npy (three channels): train, export, run.
make_dataset=${3:-}
if [ -x "$make_dataset" ]; then
    for form in idx npy; do
        data=$work/patterns-$form
        mkdir -p "$data" && "$make_dataset" "$data" "$form"
        check "train --data ($form)" 0 "[0-9]+ parameters, 4 epochs .*test accuracy (0\.[6-9]|1\.0)" -- \
            "$bin" train --arch student-tiny --epochs 4 --data "$data" --out "$work/p-$form.tlc"
        check "export --data ($form): three classes on the device runtime" 0 \
            "device \(quantised\) accuracy (0\.[6-9]|1\.0)[0-9]* on 150 test images" -- \
            "$bin" export "$work/p-$form.tlc" -o "$work/p-$form.tlm" --data "$data"
        channels=$([ "$form" = npy ] && echo 3 || echo 1)
        check "the model takes the data's shape ($form)" 0 "inputs: input \[1,16,16,$channels\].*" -- \
            "$bin" inspect "$work/p-$form.tlm"
        check "the model has three outputs ($form)" 0 "labels = 0,1,2" -- "$bin" inspect "$work/p-$form.tlm"
        check "run: three outputs ($form)" 0 "^output \(3 int8 values\)" -- "$bin" run "$work/p-$form.tlm"
        check "eval --data ($form)" 0 "accuracy" -- "$bin" eval "$work/p-$form.tlc" --data "$data"
    done
    # Packed int4 weights need the full convolution kind; a model that is
    # int8 throughout beside it keeps the int8-only kinds of the rest.
    "$bin" export "$work/p-idx.tlc" -o "$work/p-int4.tlm" --data "$work/patterns-idx" --int4 >/dev/null 2>&1
    check "resolver: int4 weights take the full CONV_2D kind" 0 "= &tl_op_conv_2d," -- \
        bash -c "'$bin' resolver '$work/p-int4.tlm' '$work/p-idx.tlm' -o '$work/ops4.c' >/dev/null && cat '$work/ops4.c'"
    check "resolver: the int8 model alone takes the int8-only kind" 0 "= &tl_op_conv_2d_int8," -- \
        bash -c "'$bin' resolver '$work/p-idx.tlm' -o '$work/ops8.c' >/dev/null && cat '$work/ops8.c'"
    # Float models quantised at import from calibration samples.
    if [ -n "${examples:-}" ] && [ -f "$examples/hello_world_float.tflite" ]; then
        hw=$examples/hello_world_float.tflite
        check "a float model without samples: how to give them" 1 "is float32: a float model; quantise it at import with --calibrate FILE.npy.DIR" -- \
            "$bin" import "$hw" -o "$work/hw.tlm"
        "$make_dataset" "$work/x.npy" linspace 0 6.2832 200
        check "hello_world quantised from 200 samples, close to the float model" 0 \
            "calibrated on 200 samples of .*mean \|difference\| 0\.0[0-4][0-9]*, max 0\.[01][0-9]*" -- \
            "$bin" import "$hw" -o "$work/hw.tlm" --calibrate "$work/x.npy"
        check "its interface stays float" 0 "^inputs: .*\[1,1\] float32" -- "$bin" inspect "$work/hw.tlm"
        "$make_dataset" "$work/half-pi.bin" float 1.5708
        check "hello_world approximates sin(pi/2) = 1" 0 "^  (0\.9[5-9]|1\.0[0-5])" -- \
            "$bin" run "$work/hw.tlm" --input "$work/half-pi.bin"
        "$make_dataset" "$work/pi.bin" float 3.1416
        check "hello_world approximates sin(pi) = 0" 0 "^  -?0\.0[0-5]" -- "$bin" run "$work/hw.tlm" --input "$work/pi.bin"
        check "the same from a folder of samples" 0 "calibrated on 200 samples" -- \
            bash -c "mkdir -p '$work/cal' && cp '$work/x.npy' '$work/cal/' && '$bin' import '$hw' -o '$work/hw2.tlm' --calibrate '$work/cal'"
        check "calibration of images the model does not take" 1 "are not a whole number of the model's inputs \(784 values each\)" -- \
            "$bin" import "$examples/trained_lstm.tflite" -o "$work/lstm.tlm" --calibrate "$work/patterns-idx"
        head -c 30 "$work/x.npy" >"$work/cut.npy"
        check "a cut .npy named" 1 "cut.npy: truncated .npy header" -- "$bin" import "$hw" -o "$work/hw3.tlm" --calibrate "$work/cut.npy"
        check "a missing calibration path named" 1 "nope.npy: cannot read" -- \
            "$bin" import "$hw" -o "$work/hw3.tlm" --calibrate "$work/nope.npy"
        [ ! -e "$work/hw3.tlm" ] && passed=$((passed + 1)) || { failed=$((failed + 1)); echo "FAIL: a failed import left a file"; }
        if [ -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ]; then
            check "the float MNIST LSTM quantised from 300 images: the same top class on >= 95%" 0 \
                "the same top output on (9[5-9]|100)\.[0-9]%" -- \
                "$bin" import "$examples/trained_lstm.tflite" -o "$work/lstm.tlm" --calibrate /usr/share/datasets/fashion-mnist \
                --samples 300
        fi
    fi
    # On-device learning on the host, and what it refuses.
    idx=$work/patterns-idx
    check "learn: a shifted device's head learns, the adapted model written" 0 \
        "accuracy after: +(0\.[0-9]+|1\.0+) .*int8 head in" -- \
        "$bin" learn "$work/p-idx.tlm" --data "$idx" --classes 1,2 --shift brightness:-60 --samples 60 \
        -o "$work/adapted.tlm" --delta "$work/adapted.delta"
    check "learn: the delta holds the head's weights and biases" 0 "^$(( (64 * 3 + 3) * 4 ))" -- \
        stat -c %s "$work/adapted.delta"
    check "learn: needs -o" 1 "need a model and -o ADAPTED.tlm" -- "$bin" learn "$work/p-idx.tlm" --data "$idx"
    check "learn: a bad class list" 1 "--classes 1,x: expected class numbers" -- \
        "$bin" learn "$work/p-idx.tlm" --data "$idx" --classes 1,x -o "$work/a.tlm"
    check "learn: a class the data lacks" 1 "--classes: class 7, but the dataset has 3 classes" -- \
        "$bin" learn "$work/p-idx.tlm" --data "$idx" --classes 7 -o "$work/a.tlm"
    check "learn: a bad shift" 1 "--shift tilt:5: expected rotate:DEGREES" -- \
        "$bin" learn "$work/p-idx.tlm" --data "$idx" --shift tilt:5 -o "$work/a.tlm"
    check "learn: images the model does not take" 1 "does not take the data's 16x16x3 images" -- \
        "$bin" learn "$work/p-idx.tlm" --data "$work/patterns-npy" -o "$work/a.tlm"
    # A label file whose values do not fit a byte is refused by name.
    header="{'descr': '<i8', 'fortran_order': False, 'shape': (1,), }"
    labels=$work/patterns-npy/y_test.npy
    printf '\x93NUMPY\x01\x00' >"$labels"
    printf "\\x$(printf %02x $((${#header} + 1)))\\x00" >>"$labels"
    printf '%s\n' "$header" >>"$labels"
    printf '\x2c\x01\x00\x00\x00\x00\x00\x00' >>"$labels" # 300
    check "a label over 255 is refused" 1 "y_test.npy: value 0 is outside 0..255" -- \
        "$bin" eval "$work/p-npy.tlc" --data "$work/patterns-npy"
fi
check "bad --optimizer" 2 "--optimizer takes sgd or adamw, not 'lbfgs'" -- \
    "$bin" train --arch student-tiny --out "$work/t.tlc" --optimizer lbfgs
check "distill needs a teacher" 1 "need --teacher CKPT" -- "$bin" distill --arch student-tiny --out "$work/t.tlc"
main_job=$(dirname "$0")/../scripts/main-job.sh
check "main job: missing teacher" 1 "main job: teacher checkpoint $work/none.tlc not found" -- \
    "$main_job" "$(dirname "$bin")" "$2" "$work/none.tlc"
printf 'not a checkpoint' >"$work/junk.tlc"
check "main job: unreadable teacher" 1 "main job: cannot use $work/junk.tlc as the teacher: .*junk.tlc" -- \
    "$main_job" "$(dirname "$bin")" "$2" "$work/junk.tlc"
check "distill: too many teacher views" 2 "--teacher-views takes 0 to 64, not '65'" -- \
    "$bin" distill --teacher "$work/t.tlc" --arch student-tiny --out "$work/s.tlc" --teacher-views 65
check "distill: views need augmentation" 1 "teacher views are augmented views; they cannot go without augmentation" -- \
    "$bin" distill --teacher "$work/t.tlc" --arch student-tiny --out "$work/s.tlc" --teacher-views 2 --no-augment
check "distill help names the views" 0 "--teacher-views K" -- "$bin" distill --help
check "distill help names the teacher's mirrors" 0 "--teacher-flip +soft targets averaged over each image \(view\) and its mirror" -- \
    "$bin" distill --help
check "distill help names the teacher cache" 0 "--teacher-cache F +keep the teacher's cached logits in file F" -- \
    "$bin" distill --help
check "distill: a cache of a live teacher" 1 "a teacher cache keeps the logits of a teacher run once; it cannot go with a live teacher" -- \
    "$bin" distill --teacher "$work/t.tlc" --arch student-tiny --out "$work/s.tlc" --teacher-live --teacher-cache "$work/x.tltc"
check "distill help names attention transfer" 0 "--attention BETA +also match the student's attention maps" -- \
    "$bin" distill --help
check "distill help names the ensemble" 0 "given 2 to 4 times, an" -- "$bin" distill --help
check "distill: five teachers" 1 "at most 4 --teacher checkpoints .an ensemble., not more" -- \
    "$bin" distill --teacher "$work/t.tlc" --teacher "$work/t.tlc" --teacher "$work/t.tlc" --teacher "$work/t.tlc" \
    --teacher "$work/t.tlc" --arch student-tiny --out "$work/s.tlc"
check "distill: an ensemble run live" 1 "an ensemble of teachers is scored once before training; it cannot go with a live teacher" -- \
    "$bin" distill --teacher "$work/t.tlc" --teacher "$work/t.tlc" --arch student-tiny --out "$work/s.tlc" --teacher-live
check "distill: an ensemble with attention" 1 "an ensemble of teachers is scored once before training; it cannot go with attention transfer" -- \
    "$bin" distill --teacher "$work/t.tlc" --teacher "$work/t.tlc" --arch student-tiny --out "$work/s.tlc" --attention 100
check "distill: attention with a cache file" 1 "attention transfer needs the teacher's feature maps, which neither a teacher cache nor the teacher's mirror images keep" -- \
    "$bin" distill --teacher "$work/t.tlc" --arch student-tiny --out "$work/s.tlc" --attention 1000 --teacher-cache "$work/x.tltc"
check "distill: attention with mirrored targets" 1 "attention transfer needs the teacher's feature maps" -- \
    "$bin" distill --teacher "$work/t.tlc" --arch student-tiny --out "$work/s.tlc" --attention 1000 --teacher-flip
check "distill: attention weight not a number" 2 "--attention needs a non-negative number, not 'inf'" -- \
    "$bin" distill --teacher "$work/t.tlc" --arch student-tiny --out "$work/s.tlc" --attention inf
check "train takes no attention transfer" 2 "unknown option '--attention'" -- \
    "$bin" train --arch student-tiny --out "$work/s.tlc" --attention 1000
check "distill help names the decoupled loss" 0 "^ +hinton \(default\): alpha T\^2 KL \+ \(1 - alpha\) CE; dkd," -- "$bin" distill --help
check "distill help names the z-scored loss" 0 "zscore \(Sun et al. 2024\): alpha W T\^2 KL" -- "$bin" distill --help
check "distill help names the correlation loss" 0 "--pkd-weight P +pearson: the correlation term's extra weight P \(default 2;" -- \
    "$bin" distill --help
check "distill help names its weight" 0 "--zkd-weight W +zscore: the KL term's extra weight W \(default 10;" -- \
    "$bin" distill --help
check "distill: unknown loss" 2 "--kd takes hinton, dkd, zscore or pearson, not 'fitnet'" -- \
    "$bin" distill --teacher "$work/t.tlc" --arch student-tiny --out "$work/s.tlc" --kd fitnet
check "distill: negative beta" 2 "--dkd-beta needs a non-negative number, not '-1'" -- \
    "$bin" distill --teacher "$work/t.tlc" --arch student-tiny --out "$work/s.tlc" --kd dkd --dkd-beta -1
check "distill: negative z-scored weight" 2 "--zkd-weight needs a non-negative number, not '-3'" -- \
    "$bin" distill --teacher "$work/t.tlc" --arch student-tiny --out "$work/s.tlc" --kd zscore --zkd-weight -3
check "train takes no z-scored weight" 2 "unknown option '--zkd-weight'" -- \
    "$bin" train --arch student-tiny --out "$work/s.tlc" --zkd-weight 10
check "train: cutout too large" 2 "--cutout takes 0 to 64, not '65'" -- \
    "$bin" train --arch student-tiny --out "$work/s.tlc" --cutout 65
check "train: epochs not an integer" 2 "--epochs needs a non-negative integer, not '2.5'" -- \
    "$bin" train --arch student-tiny --out "$work/s.tlc" --epochs 2.5
check "train: too many epochs" 2 "--epochs takes 0 to 1000000, not '1000001'" -- \
    "$bin" train --arch student-tiny --out "$work/s.tlc" --epochs 1000001
check "train: qat bits" 2 "--qat takes 4 or 8, not '6'" -- \
    "$bin" train --arch student-tiny --out "$work/s.tlc" --qat 6
check "train: limit not an integer" 2 "--limit needs a non-negative integer, not '-5'" -- \
    "$bin" train --arch student-tiny --out "$work/s.tlc" --limit -5
check "train takes no temperature" 2 "unknown option '--temperature'" -- \
    "$bin" train --arch student-tiny --out "$work/s.tlc" --temperature 4
check "train takes no teacher views" 2 "unknown option '--teacher-views'" -- \
    "$bin" train --arch student-tiny --out "$work/s.tlc" --teacher-views 2
check "train: cutout needs augmentation" 1 "cutout is an augmentation; it cannot go without augmentation" -- \
    "$bin" train --arch student-tiny --out "$work/s.tlc" --cutout 8 --no-augment
check "train help names cutout" 0 "--cutout N +also mask a random N x N square" -- "$bin" train --help
check "train takes no distillation loss" 2 "unknown option '--kd'" -- \
    "$bin" train --arch student-tiny --out "$work/s.tlc" --kd dkd
check "eval help names the ensemble and --flip" 0 "usage: tinylarge eval CKPT \[CKPT \.\.\.\] \[--flip\]" -- "$bin" eval --help
check "eval of a non-checkpoint" 1 "kws.tlm: not a tinylarge checkpoint" -- "$bin" eval "$work/kws.tlm"
if [ -r /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ]; then
    check "train a tiny student" 0 "t.tlc: 4266 parameters, 1 epochs .* test accuracy 0\.[0-9]+" -- \
        "$bin" train --arch student-tiny --out "$work/t.tlc" --epochs 1 --limit 300 --threads 1
    check "train with cutout" 0 "on 300 images, .*1 epochs of 3 steps, cutout 6x6" -- \
        "$bin" train --arch student-tiny --out "$work/c.tlc" --epochs 1 --limit 300 --cutout 6
    check "export to the device" 0 "exit 0: float accuracy 0\.[0-9]+, device \(quantised\) accuracy 0\.[0-9]+ on 100 test images" -- \
        "$bin" export "$work/t.tlc" -o "$work/t.tlm" --limit 100 --calibration 100
    check "exported model runs" 0 "top class: [0-9]" -- "$bin" run "$work/t.tlm"
    check "distill with the decoupled loss" 0 "distilling from the teacher \(decoupled loss\)" -- \
        "$bin" distill --teacher "$work/t.tlc" --arch student-tiny --out "$work/dkd.tlc" --kd dkd --dkd-beta 2 \
        --epochs 1 --limit 300
    ok "the decoupled student is written" test -s "$work/dkd.tlc"
    check "distill with z-scored logits" 0 "distilling from the teacher \(z-scored logits\)" -- \
        "$bin" distill --teacher "$work/t.tlc" --arch student-tiny --out "$work/zkd.tlc" --kd zscore --temperature 2 \
        --epochs 1 --limit 300
    ok "the z-scored student is written" test -s "$work/zkd.tlc"
    check "distill by correlation" 0 "distilling from the teacher \(correlation\)" -- \
        "$bin" distill --teacher "$work/t.tlc" --arch student-tiny --out "$work/pkd.tlc" --kd pearson --alpha 0.5 \
        --epochs 1 --limit 300
    ok "the correlation student is written" test -s "$work/pkd.tlc"
    check "distill: temperature 0" 1 "distillation needs a positive temperature" -- \
        "$bin" distill --teacher "$work/t.tlc" --arch student-tiny --out "$work/dkd0.tlc" --kd dkd --temperature 0 \
        --epochs 1 --limit 300
    ok "no checkpoint from a refused run" test ! -e "$work/dkd0.tlc"
    check "distill saves the teacher cache" 0 "teacher logits saved to .*/kd.tltc" -- \
        "$bin" distill --teacher "$work/t.tlc" --arch student-tiny --out "$work/kd1.tlc" --teacher-views 2 \
        --teacher-cache "$work/kd.tltc" --epochs 1 --limit 300
    check "distill: the teacher's pass on two threads scores every view" 0 \
        "^teacher logits ready: 900 images scored in [0-9]+ s \([0-9]+ images/s\)$" -- \
        "$bin" distill --teacher "$work/t.tlc" --arch student-tiny --out "$work/kd5.tlc" --teacher-views 3 \
        --threads 2 --epochs 1 --limit 300
    check "distill reads the teacher cache" 0 "teacher logits read from .*/kd.tltc \(600 rows\)" -- \
        "$bin" distill --teacher "$work/t.tlc" --arch student-tiny --out "$work/kd2.tlc" --teacher-views 2 \
        --teacher-cache "$work/kd.tltc" --epochs 1 --limit 300
    ok "the same student from the cache" cmp -s "$work/kd1.tlc" "$work/kd2.tlc"
    check "distill: the cache of other views" 0 "kd.tltc: made for other views \(seed, count or cutout\); running the teacher" -- \
        "$bin" distill --teacher "$work/t.tlc" --arch student-tiny --out "$work/kd3.tlc" --teacher-views 2 \
        --seed 2 --teacher-cache "$work/kd.tltc" --epochs 1 --limit 300
    check "distill: the cache of another teacher" 0 "kd.tltc: made with another teacher; running the teacher" -- \
        "$bin" distill --teacher "$work/dkd.tlc" --arch student-tiny --out "$work/kd4.tlc" --teacher-views 2 \
        --seed 2 --teacher-cache "$work/kd.tltc" --epochs 1 --limit 300
    check "distill with the teacher's mirrors" 0 "distilling from the teacher and its mirror images" -- \
        "$bin" distill --teacher "$work/t.tlc" --arch student-tiny --out "$work/kdf.tlc" --teacher-flip \
        --epochs 1 --limit 300
    check "distill with attention transfer" 0 "distilling from the teacher, attention transfer at 2 map sizes \(beta 1000\)" -- \
        "$bin" distill --teacher "$work/t.tlc" --arch student-tiny --out "$work/kda.tlc" --attention 1000 \
        --teacher-views 2 --epochs 1 --limit 300
    ok "the student distilled with attention is written" test -s "$work/kda.tlc"
    check "eval: the mean of two checkpoints" 0 "^mean of 2 checkpoints: 360 test images, accuracy 0\.[0-9]+$" -- \
        "$bin" eval "$work/t.tlc" "$work/kd1.tlc" --limit 360
    check "eval: with mirrored images" 0 "^mean of 1 checkpoint over each image and its mirror: 360 test images" -- \
        "$bin" eval "$work/t.tlc" --flip --limit 360
    check "eval: too many checkpoints" 1 "at most 8 checkpoints, not more \('.*t.tlc'\)" -- \
        "$bin" eval "$work/t.tlc" "$work/t.tlc" "$work/t.tlc" "$work/t.tlc" "$work/t.tlc" "$work/t.tlc" "$work/t.tlc" \
        "$work/t.tlc" "$work/t.tlc"
    check "cascade of a one-exit model" 0 "^ +0\.50 +100\.0% " -- \
        "$bin" cascade "$work/t.tlm" --limit 50 --thresholds 0.5
    check "cascade: thresholds are probabilities" 2 "--thresholds takes probabilities" -- \
        "$bin" cascade "$work/t.tlm" --thresholds 2
    check "export of a non-checkpoint" 1 "kws.tlm: not a tinylarge checkpoint" -- "$bin" export "$work/kws.tlm" -o "$work/x.tlm"
    cat_dir="$work/catalogue"
    check "compress builds the catalogue" 0 "catalogue: .*catalogue.csv" -- \
        "$bin" compress "$work/t.tlc" --out-dir "$cat_dir" --sparsity 0,0.5 --bits 8,4 \
        --finetune-limit 200 --limit 100 --calibration 100
    ok "catalogue has a header and 4 variants" test "$(wc -l < "$cat_dir/catalogue.csv")" -eq 5
    ok "catalogue columns" grep -q "^variant,exit,sparsity,bits,accuracy,bytes,macs,arena_bytes,m4_instructions,pareto,prefix_planes,prefix_bytes,prefix_accuracy,dense_bytes,dense_m4_instructions$" "$cat_dir/catalogue.csv"
    # The dense form: none for plain int8, larger than the packed model for
    # pruned and int4 ones; measured on the M4 exactly when the model was.
    ok "dense columns" awk -F, 'NR > 1 && (($1 == "e0-s00-int8") != ($14 == 0) || ($14 > 0 && $14 <= $6) ||
        ($14 > 0 && ($9 > 0) != ($15 > 0)) || ($14 == 0 && $15 != -1)) { bad = 1 } END { exit bad || NR != 5 }' "$cat_dir/catalogue.csv"
    ok "at least one Pareto variant" awk -F, 'NR > 1 && $10 == 1 { found = 1 } END { exit !found }' "$cat_dir/catalogue.csv"
    ok "prefix columns hold a plane count and its bytes" awk -F, 'NR > 1 && ($11 < 0 || $11 > 7 || ($11 > 0) != ($12 > 0)) { bad = 1 } END { exit bad }' "$cat_dir/catalogue.csv"
    ok "json lists the models" grep -q '"model": "e0-s50-int8.tlm"' "$cat_dir/catalogue.json"
    ok "every variant's model loads" bash -c "for f in '$cat_dir'/e*.tlm; do '$bin' inspect \"\$f\" >/dev/null || exit 1; done"
    ok "the int4 variant is smaller" test "$(stat -c %s "$cat_dir/e0-s00-int4.tlm")" -lt "$(stat -c %s "$cat_dir/e0-s00-int8.tlm")"
    if command -v gnuplot >/dev/null; then
        ok "pareto.png written" test -s "$cat_dir/pareto.png"
    fi
    check "densify a pruned variant" 0 "densified .*e0-s50-int8.tlm: [1-9][0-9]* sparse and 0 int4 filters made dense int8, [0-9]+ -> [0-9]+ bytes" -- \
        "$bin" densify "$cat_dir/e0-s50-int8.tlm" -o "$work/dense.tlm"
    ok "densified: the same outputs" bash -c "'$bin' run '$cat_dir/e0-s50-int8.tlm' --seed 7 --output '$work/o1' >/dev/null &&
        '$bin' run '$work/dense.tlm' --seed 7 --output '$work/o2' >/dev/null && cmp -s '$work/o1' '$work/o2'"
    check "inspect tells the dense size" 0 "made dense \(tinylarge densify\): $(stat -c %s "$work/dense.tlm") model bytes, [1-9][0-9]* packed filters as int8" -- \
        "$bin" inspect "$cat_dir/e0-s50-int8.tlm"
    ok "densified: no sparse filter left" bash -c "! '$bin' inspect '$work/dense.tlm' | grep -q 'sparse\|bitmap'"
    printf "not a model" >"$work/junk.tlm"
    check "densify a non-model" 1 "junk.tlm: not a valid model: truncated data" -- "$bin" densify "$work/junk.tlm" -o "$work/never.tlm"
    ok "densify wrote nothing for it" test ! -e "$work/never.tlm"
    check "densify needs -o" 1 "usage: tinylarge densify MODEL.tlm -o OUT.tlm" -- "$bin" densify "$work/dense.tlm"
    check "compress with channels removed" 0 "e0-c50-s00-int8" -- \
        "$bin" compress "$work/t.tlc" --out-dir "$work/slim" --channels 0.5 --sparsity 0 --bits 8 \
        --finetune-limit 200 --limit 100 --calibration 100
    ok "half the channels: fewer MACs" awk -F, -v full="$(awk -F, '$1 == "e0-s00-int8" { print $7 }' "$cat_dir/catalogue.csv")" \
        '$1 == "e0-c50-s00-int8" && $7 < full * 0.6 { found = 1 } END { exit !found }' "$work/slim/catalogue.csv"
    check "channels: a fraction below 1" 2 "--channels takes fractions of filters to remove" -- \
        "$bin" compress "$work/t.tlc" --out-dir "$work/slim" --channels 1.5
    check "train: --prune-channels needs --init" 1 "pruning channels needs the trained network to prune \\(init\\)" -- \
        "$bin" train --arch student-tiny --out "$work/x.tlc" --prune-channels 0.5
    check "plan chooses a variant" 0 "^chosen e0-s[0-9]+-int[48]: accuracy 0\.[0-9]+" -- \
        "$bin" plan "$cat_dir/catalogue.csv" --flash 64K --ram 64K --mac-rate 20M --bandwidth 100K --snr-db 10
    check "plan explains an impossible request" 1 "no variant fits 100 bytes of flash" -- \
        "$bin" plan "$cat_dir/catalogue.csv" --flash 100 --ram 64K --mac-rate 20M --rate 1M
    check "plan needs a channel" 1 "need a catalogue, --flash, --ram, --mac-rate and a channel" -- \
        "$bin" plan "$cat_dir/catalogue.csv" --flash 64K --ram 64K --mac-rate 20M
    check "plan rejects a bad number" 2 "--flash needs a non-negative number" -- \
        "$bin" plan "$cat_dir/catalogue.csv" --flash lots
    check "plan rejects a link of 0 bit/s (the server would refuse it)" 2 "--rate takes a positive number, not '0'" -- \
        "$bin" plan "$cat_dir/catalogue.csv" --flash 64K --ram 64K --mac-rate 20M --rate 0
    # Measured instructions time the inference when the device gives --ips:
    # the sparse variant's fewer MACs take 2.6 times the dense one's instructions.
    printf '%s\n' "variant,exit,sparsity,bits,accuracy,bytes,macs,arena_bytes,m4_instructions,pareto,prefix_planes,prefix_bytes,prefix_accuracy,dense_bytes,dense_m4_instructions" \
        "dense,0,0.00,8,0.7910,49072,7621120,37632,22586760,1,0,0,0,0,-1" \
        "sparse,0,0.50,8,0.7980,33152,4522066,37632,58548680,1,0,0,0,49072,22586760" >"$work/measured.csv"
    check "plan by MACs" 0 "^chosen sparse: .* inference 0\.226 s," -- \
        "$bin" plan "$work/measured.csv" --flash 64K --ram 64K --mac-rate 20M --rate 1M --rtt 0 --deadline 0.8
    check "plan by instructions" 0 "^chosen dense: .* inference 0\.353 s \(M4 instructions\)" -- \
        "$bin" plan "$work/measured.csv" --flash 64K --ram 64K --mac-rate 20M --ips 64M --rate 1M --rtt 0 --deadline 0.8
    check "plan by instructions, nothing fits" 1 "fastest: 0\.745 s \(M4 instructions\)" -- \
        "$bin" plan "$work/measured.csv" --flash 64K --ram 64K --mac-rate 20M --ips 64M --rate 1M --rtt 0 --deadline 0.7
    # A densifying device runs the pruned variant as dense int8: small to
    # download, fast to run; unless its dense form does not fit the flash.
    check "plan for a densifying device" 0 "^chosen sparse: accuracy 0\.7980, 33152 bytes \(49072 made dense\), download 0\.265 s \+ inference 0\.353 s \(M4 instructions\)" -- \
        "$bin" plan "$work/measured.csv" --flash 64K --ram 64K --mac-rate 20M --ips 64M --rate 1M --rtt 0 --deadline 0.7 --densify
    check "plan for a densifying device, dense form too big" 1 "fastest: 1\.180 s \(M4 instructions\)" -- \
        "$bin" plan "$work/measured.csv" --flash 40K --ram 64K --mac-rate 20M --ips 64M --rate 1M --rtt 0 --deadline 0.7 --densify
    check "library add (signed, tagged)" 0 "published fashion version 1: 4 variants, signed" -- \
        "$bin" library add --db "$work/lib.db" --name fashion --catalogue "$cat_dir" --key "$work/srv.key" --tag task=fashion
    check "library list" 0 "^fashion +version 1 +4 variants +task=fashion" -- "$bin" library list --db "$work/lib.db"
    check "library show" 0 "^e0-s00-int8 " -- "$bin" library show --db "$work/lib.db" --name fashion
    check "plan from the library" 0 "^chosen e0-s[0-9]+-int[48]" -- \
        "$bin" plan --db "$work/lib.db" --name fashion --flash 64K --ram 64K --mac-rate 20M --rate 1M
    check "library unknown model" 1 "lib.db: no model named 'nope'" -- "$bin" library show --db "$work/lib.db" --name nope
    check "library remove" 0 "removed fashion" -- "$bin" library remove --db "$work/lib.db" --name fashion
    check "library bad action" 1 "unknown action 'publish'" -- "$bin" library publish --db "$work/lib.db"
    check "compress needs --out-dir" 1 "need a checkpoint and --out-dir DIR" -- "$bin" compress "$work/t.tlc"
    check "bad --bits" 2 "--bits takes 8 and/or 4" -- "$bin" compress "$work/t.tlc" --out-dir "$cat_dir" --bits 3
    check "eval the checkpoint" 0 "student-tiny, 4266 parameters, 1 epochs, 100 test images, loss [0-9.]+, accuracy 0\.[0-9]+" -- \
        "$bin" eval "$work/t.tlc" --limit 100
fi
ok "no temporary files left" test -z "$(find "$work" -name '*.tmp.*')"

# Every command: an unknown option is named and exits 2, and --help exits 0.
for verb in import inspect run train distill eval export compress cascade progressive densify plan library keygen \
    sign verify serve device context pipeline split; do
    check "$verb: an unknown option is named" 2 "tinylarge $verb: unknown option '--no-such-option'" -- \
        "$bin" "$verb" --no-such-option
    option=$(tinylarge_first_option "$verb")
    [ -z "$option" ] || check "$verb: a missing value is named" 2 "tinylarge $verb: option '$option' needs a value" -- \
        "$bin" "$verb" "$option"
    check "$verb --help" 0 "^usage: tinylarge $verb" -- "$bin" "$verb" --help
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
