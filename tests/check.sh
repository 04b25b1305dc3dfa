# check.sh - the check helper the shell tests share (sourced, not run).
# check NAME WANT_STATUS REGEX -- COMMAND...: runs COMMAND, passes when it
# exits WANT_STATUS and its output, read as one line, matches REGEX.
passed=0; failed=0
check() {
    local name=$1 want=$2 regex=$3; shift 4
    local out status
    out=$("$@" 2>&1); status=$?
    if [ "$status" -eq "$want" ] && tr '\n' ' ' <<<"$out" | grep -Eq -- "$regex"; then passed=$((passed + 1))
    else failed=$((failed + 1)); echo "FAIL: $name (status $status)"; sed 's/^/    /' <<<"$out" | head -8; fi
}

# The catalogue's columns, for tests that publish hand-made rows (the
# reader takes them by name; test_cli checks compress writes exactly these).
catalogue_header=variant,exit,sparsity,bits,accuracy,bytes,macs,arena_bytes,m4_instructions,pareto,prefix_planes,\
prefix_bytes,prefix_accuracy,dense_bytes,dense_m4_instructions

# wait_for FILE REGEX [SECONDS]: waits until a line of FILE matches REGEX
# (a server's log saying it is up), at most SECONDS (default 20): a loaded
# machine, or one running under sanitizers, starts a server slower than a
# fixed sleep allows. The check that follows still decides.
wait_for() {
    local tries=$(( ${3:-20} * 10 ))
    for _ in $(seq "$tries"); do grep -Eq -- "$2" "$1" 2>/dev/null && return 0; sleep 0.1; done
    return 1
}
