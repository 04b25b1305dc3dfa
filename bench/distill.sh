#!/usr/bin/env bash
# bench/distill.sh - what distillation adds, over several seeds, for
# docs/benchmarks.md. For each seed it trains (or reuses, or finishes) three
# students of one architecture with the same settings and budget:
#   alone      plain cross-entropy;
#   cached     distilled, the teacher's logits of the clean images cached;
#   views K    distilled on K fixed augmented views per image, each with the
#              teacher's logits of those very pixels (--teacher-views K);
# then prints each one's test accuracy (full test split) and the gains.
# Trainings run one thread each, JOBS at a time (default: the core count).
# KD_FLAGS adds options to both distilled runs (e.g. "--kd pearson --alpha 0.5"),
# AUG_FLAGS to all three (e.g. "--cutout 8"); their checkpoints then carry
# the options in their names, so runs do not mix. The teacher's logits are
# kept in BUILD/distill/*.tltc (--teacher-cache: the clean images' for every
# seed, the views' per seed), so a rerun with other KD_FLAGS skips the
# teacher's passes (not with --attention, whose maps the cache does not keep).
# usage: bench/distill.sh BUILD_DIR TEACHER.tlc [ARCH [EPOCHS [SEEDS [VIEWS]]]]
#   defaults: student, 25 epochs, seeds "1 2 3", 4 views (0: no views run)
set -euo pipefail
# The header above is the usage.
case ${1:-} in -h | --help) sed -n '2,/^[^#]/{/^#/p}' "$0"; exit 0 ;; esac
[ $# -ge 2 ] || { sed -n '2,/^[^#]/{/^#/p}' "$0" >&2; exit 2; }
build=$1
teacher=$2
arch=${3:-student}
epochs=${4:-25}
seeds=${5:-1 2 3}
views=${6:-4}
jobs=${JOBS:-$(nproc)}
kd_flags=${KD_FLAGS:-}
aug_flags=${AUG_FLAGS:-}
aug=$(tr -d ' -' <<<"$aug_flags")
aug=${aug:+-$aug}
tag=$(tr -d ' -' <<<"$kd_flags")
tag=$aug${tag:+-$tag}
bin=$build/tinylarge
out=$build/distill
mkdir -p "$out"
[ -f "$teacher" ] || { echo "distill.sh: $teacher: no such teacher checkpoint" >&2; exit 1; }

# Epochs a checkpoint holds (0 when missing).
epochs_of() { [ -f "$1" ] && "$bin" eval "$1" --limit 1 2>/dev/null | sed -n 's/.*, \([0-9]*\) epochs,.*/\1/p' || echo 0; }
accuracy_of() { "$bin" eval "$1" | sed -n 's/.*accuracy \([0-9.]*\)$/\1/p'; }

# Trains (or finishes an interrupted run of) one student; logs beside it.
student() {
    local ckpt=$1 seed=$2
    shift 2
    local done
    done=$(epochs_of "$ckpt")
    [ "${done:-0}" -ge "$epochs" ] && return 0
    local from=(--arch "$arch")
    [ "${done:-0}" -gt 0 ] && from=(--resume "$ckpt")
    "$@" "${from[@]}" --epochs "$epochs" --seed "$seed" --threads 1 --out "$ckpt" >>"${ckpt%.tlc}.log" 2>&1
}

# Teacher caches, named by teacher (a live teacher keeps none, and the
# cache file holds no attention maps: --attention runs redo the pass).
flip=
[[ " $kd_flags " == *" --teacher-flip "* ]] && flip=-flip
cache() {
    [[ " $kd_flags " == *" --teacher-live "* || " $kd_flags " == *" --attention "* ]] ||
        echo "--teacher-cache $out/$(basename "$teacher" .tlc)-$1$flip.tltc"
}
runs=()
for s in $seeds; do
    runs+=("$out/$arch$aug-s$s-$epochs.tlc $s $bin train $aug_flags")
    runs+=("$out/$arch-kd$tag-s$s-$epochs.tlc $s $bin distill --teacher $teacher $(cache clean) $aug_flags $kd_flags")
    [ "$views" -gt 0 ] &&
        runs+=("$out/$arch-kdv$views$tag-s$s-$epochs.tlc $s $bin distill --teacher $teacher --teacher-views $views $(cache "v$views$aug-s$s") $aug_flags $kd_flags")
done
start=$SECONDS
for run in "${runs[@]}"; do
    while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do
        wait -n
    done
    echo "distill.sh: ${run%% *} ($((SECONDS - start)) s)" >&2
    # shellcheck disable=SC2086 # the run's words are split on purpose
    student $run &
done
wait

printf '%-6s %8s %8s %7s' seed alone cached gain
[ "$views" -gt 0 ] && printf ' %8s %7s' "views $views" gain
printf '\n'
sums=$(
    for s in $seeds; do
        a=$(accuracy_of "$out/$arch$aug-s$s-$epochs.tlc")
        k=$(accuracy_of "$out/$arch-kd$tag-s$s-$epochs.tlc")
        v=0
        [ "$views" -gt 0 ] && v=$(accuracy_of "$out/$arch-kdv$views$tag-s$s-$epochs.tlc")
        echo "$s $a $k $v"
    done
)
echo "$sums" | awk -v views="$views" '
    { printf "%-6s %7.2f%% %7.2f%% %+7.2f", $1, 100 * $2, 100 * $3, 100 * ($3 - $2)
      if (views > 0) printf " %7.2f%% %+7.2f", 100 * $4, 100 * ($4 - $2)
      printf "\n"; a += $2; k += $3; v += $4; n++ }
    END { printf "%-6s %7.2f%% %7.2f%% %+7.2f", "mean", 100 * a / n, 100 * k / n, 100 * (k - a) / n
          if (views > 0) printf " %7.2f%% %+7.2f", 100 * v / n, 100 * (v - a) / n
          printf "\n" }'
echo "($arch, $epochs epochs, one thread each; teacher $teacher${aug_flags:+; all trained with $aug_flags}${kd_flags:+; distilled with $kd_flags})"
