#!/usr/bin/env bash
# test_sim.sh - `tinylarge sim` from the command line: the reference
# scenario runs small; the same seed gives byte-identical "results" twice and
# on 1, 2 and 4 MPI ranks; another seed gives others; the overrides take;
# bad scenarios and options are refused with messages that name them.
# usage: test_sim.sh TINYLARGE_BINARY SIM_DIR
set -u
bin=$1
simdir=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
passed=0; failed=0
check() { if eval "$2"; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "FAIL: $1"; fi; }
results() { sed -n '/"results"/,/"timing"/p' "$1"; }

# Federated rounds on: their selection, uploads and the edge's median go
# through the rank checks too.
small=(--devices 3000 --duration 7200 --quiet --set federated.enabled=1 --set federated.round_s=1800
       --set federated.attackers=0.1 --set federated.rule=median)
out=$("$bin" sim "$simdir/city.ini" "${small[@]}" --json "$work/a.json" 2>&1); status=$?
check "the reference scenario runs" '[ $status -eq 0 ] && grep -q "^scenario city: 3000 devices, 271 cells, 7200 s simulated, seed 1" <<<"$out"'
check "it reports events per second" 'grep -q "events in .* M events/s per rank, 1 rank" <<<"$out"'
check "JSON has results and timing" 'grep -q "\"events_per_second\": [1-9]" "$work/a.json" && grep -q "\"deadline_hit_rate\": [01]\.[0-9]" "$work/a.json"'
check "federated rounds ran: updates arrived, the median held against poisoning" \
    'grep -q "\"federated\": {\"rounds\": [1-9][0-9]*, \"selected\": [1-9][0-9]*, \"received\": [1-9]" "$work/a.json" &&
     grep -q "\"cosine_mean\": 0\.[5-9]" "$work/a.json"'
out=$("$bin" sim "$simdir/city.ini" "${small[@]}" --set federated.rule=mean 2>&1)
check "the mean does not hold against poisoning" 'grep -q "mean of what arrived: cosine -\?0\.[0-4]" <<<"$out"'
check "every device class appears" 'for c in m0plus m4 m7 esp32 phone; do grep -q "\"$c\": {\"devices\": [1-9]" "$work/a.json" || exit 1; done'
"$bin" sim "$simdir/city.ini" "${small[@]}" --json "$work/b.json" >/dev/null 2>&1
check "the same seed gives identical results" 'cmp -s <(results "$work/a.json") <(results "$work/b.json")'
check "timing is apart from the results" '! results "$work/a.json" | grep -q "wall_s"'
"$bin" sim "$simdir/city.ini" "${small[@]}" --seed 2 --json "$work/c.json" >/dev/null 2>&1
check "another seed gives other results" '! cmp -s <(results "$work/a.json") <(results "$work/c.json")'
out=$("$bin" sim "$simdir/city.ini" --devices 500 --duration 600 --quiet --strategy cloud \
      --set radio.bandwidth_mhz=20 --set class.phone.share=0 --json "$work/d.json" 2>&1)
check "overrides take: strategy, --set of a radio and a class key" \
    'grep -q "strategy cloud" <<<"$out" && grep -q "\"bandwidth_mhz\": 20," "$work/d.json" && grep -q "\"phone\": {\"devices\": 0," "$work/d.json"'
check "cloud inference downloads no model" 'grep -q "\"downloads\": 0," "$work/d.json"'

# Identical results on 1, 2 and 4 ranks (a build with MPI; the sanitizer build has none).
if command -v mpirun >/dev/null; then
    export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
    for n in 2 4; do
        mpirun --oversubscribe -n $n --mca btl self,vader "$bin" sim "$simdir/city.ini" "${small[@]}" \
            --json "$work/r$n.json" >"$work/r$n.out" 2>"$work/r$n.err"
    done
    if grep -q '"ranks": 2' "$work/r2.json" 2>/dev/null; then
        check "2 ranks: identical results" 'cmp -s <(results "$work/a.json") <(results "$work/r2.json")'
        check "4 ranks: identical results" 'grep -q "\"ranks\": 4" "$work/r4.json" && cmp -s <(results "$work/a.json") <(results "$work/r4.json")'
        check "one summary from rank 0" '[ "$(grep -c "^scenario city" "$work/r4.out")" -eq 1 ]'
    else
        echo "note: this build has no MPI; the rank checks are skipped"
    fi
fi

# The device runtime decides: fidelity full and the cascade, on a catalogue
# of real models (a small student trained here).
if [ -r /usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz ]; then
    "$bin" train --arch student-tiny --epochs 1 --limit 1000 --lr 0.1 --out "$work/s.tlc" >/dev/null 2>&1
    "$bin" compress "$work/s.tlc" --out-dir "$work/cat" --sparsity 0 --bits 8 --limit 200 --calibration 200 >/dev/null 2>&1
    runtime=(--devices 200 --duration 3600 --quiet --set "app.vision-tiny.catalogue=$work/cat/catalogue.csv"
             --set app.vision-tiny.day_share=1 --set app.vision-large.day_share=0)
    out=$("$bin" sim "$simdir/city.ini" "${runtime[@]}" --set scenario.fidelity=full --set scenario.full_every=10 \
          --json "$work/full.json" 2>&1); status=$?
    computed=$(sed -n 's/.*"runtime_inferences": \([0-9]*\).*/\1/p' "$work/full.json")
    check "fidelity full: the runtime computed answers ($computed)" \
        '[ $status -eq 0 ] && [ "${computed:-0}" -gt 100 ] && grep -q "every 10-th device" <<<"$out"'
    "$bin" sim "$simdir/city.ini" "${runtime[@]}" --set scenario.fidelity=full --set scenario.full_every=10 \
        --json "$work/full2.json" >/dev/null 2>&1
    check "fidelity full: the same seed, the same results" 'cmp -s <(results "$work/full.json") <(results "$work/full2.json")'
    for t in 0.005 0.03; do
        "$bin" sim "$simdir/city.ini" "${runtime[@]}" --set strategy.cascade_threshold=$t --json "$work/cascade-$t.json" \
            >/dev/null 2>&1
    done
    low=$(sed -n 's/.*"offloaded": \([0-9]*\).*/\1/p' "$work/cascade-0.005.json")
    high=$(sed -n 's/.*"offloaded": \([0-9]*\).*/\1/p' "$work/cascade-0.03.json")
    check "the cascade offloads the unsure answers, more at a higher threshold ($low, $high)" \
        '[ "${low:-0}" -gt 0 ] && [ "${high:-0}" -gt "$low" ]'
    out=$("$bin" sim "$simdir/city.ini" "${runtime[@]}" --strategy split --set radio.bandwidth_mhz=5 --json "$work/split.json" 2>&1)
    status=$?
    cut=$(sed -n 's/.*"split": {"requests": \([0-9]*\).*/\1/p' "$work/split.json")
    check "split: the cost model cuts requests with the edge ($cut)" \
        '[ $status -eq 0 ] && [ "${cut:-0}" -gt 0 ] && grep -q "^split: $cut requests cut with the edge" <<<"$out"'
    out=$("$bin" sim "$simdir/city.ini" --devices 10 --duration 60 --quiet --set scenario.fidelity=full 2>&1); status=$?
    check "fidelity full without models is refused by name" \
        '[ $status -eq 1 ] && grep -q "no variant has its .tlm beside its catalogue" <<<"$out"'
fi

# Bad input.
out=$("$bin" sim "$simdir/city.ini" --set federated.enabled=1 --set federated.rule=best 2>&1); status=$?
check "an unknown aggregation rule named" '[ $status -eq 1 ] && grep -q "\[federated\] rule: \"best\"" <<<"$out"'
out=$("$bin" sim 2>&1); status=$?
check "no scenario: usage and exit 1" '[ $status -eq 1 ] && grep -q "need a scenario file" <<<"$out"'
out=$("$bin" sim "$work/none.ini" 2>&1); status=$?
check "missing file named" '[ $status -eq 1 ] && grep -q "none.ini: cannot read the scenario" <<<"$out"'
printf '[radio]\nrings = 2\ncolour = blue\n' >"$work/bad.ini"
out=$("$bin" sim "$work/bad.ini" 2>&1); status=$?
check "unknown key named with its line" '[ $status -eq 1 ] && grep -q "bad.ini:3: \[radio\] colour: unknown key" <<<"$out"'
out=$("$bin" sim "$simdir/city.ini" --set radio.rings=99 2>&1); status=$?
check "--set out of range refused" '[ $status -eq 1 ] && grep -q "\[radio\] rings: 99 is out of range" <<<"$out"'
out=$("$bin" sim "$simdir/city.ini" --strategy nowhere 2>&1); status=$?
check "bad option value: exit 2" '[ $status -eq 2 ] && grep -q "nowhere" <<<"$out"'
out=$("$bin" sim "$simdir/city.ini" --devices 100 --duration 60 --quiet --json "$work/no/such/dir/x.json" 2>&1); status=$?
check "unwritable JSON path named" '[ $status -eq 1 ] && grep -q "no/such/dir/x.json: cannot write" <<<"$out"'
out=$("$bin" sim --help 2>&1); status=$?
check "--help lists the options" '[ $status -eq 0 ] && grep -q -- "--report DIR" <<<"$out" && grep -q -- "--set SECTION.KEY=VALUE" <<<"$out"'

echo "test_sim: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
