# bench/edge_library.sh - sourced by the edge benchmarks (edge.sh,
# hostile.sh): sets `cat` to the main job's catalogue
# (BUILD_DIR/main-job/catalogue, left by `make run`), making a small one (a
# 2-epoch student, compressed) if it is missing; then makes `work` afresh
# with a key pair (work/server.key, .pub) and a library (work/library.db)
# holding that catalogue, signed, as model "fashion" tagged
# task=fashion-mnist. Needs `build`, `bin` and `work` set.
cat=$build/main-job/catalogue
if [ ! -f "$cat/catalogue.csv" ]; then
    echo "no catalogue from the main job: training a student (2 epochs) and compressing it"
    mkdir -p "$build/main-job"
    "$bin" train --arch student --epochs 2 --limit 12000 --out "$build/main-job/student.tlc" 2>&1 | tail -1
    "$bin" compress "$build/main-job/student.tlc" --out-dir "$cat" --sparsity 0,0.5 --bits 8,4 \
        --finetune-limit 4000 --limit 1000 >/dev/null
fi
rm -rf "$work"
mkdir -p "$work"
"$bin" keygen --out "$work/server" >/dev/null
"$bin" library add --db "$work/library.db" --name fashion --catalogue "$cat" --key "$work/server.key" \
    --tag task=fashion-mnist >/dev/null
