# bench/main_job_catalogue.sh - sourced by the edge benchmarks: sets `cat`
# to the main job's catalogue (BUILD_DIR/main-job/catalogue, left by
# `make run`), making a small one (a 2-epoch student, compressed) if it is
# missing. Needs `build` and `bin` set.
cat=$build/main-job/catalogue
if [ ! -f "$cat/catalogue.csv" ]; then
    echo "no catalogue from the main job: training a student (2 epochs) and compressing it"
    mkdir -p "$build/main-job"
    "$bin" train --arch student --epochs 2 --limit 12000 --out "$build/main-job/student.tlc" 2>&1 | tail -1
    "$bin" compress "$build/main-job/student.tlc" --out-dir "$cat" --sparsity 0,0.5 --bits 8,4 \
        --finetune-limit 4000 --limit 1000 >/dev/null
fi
