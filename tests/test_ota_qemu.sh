#!/usr/bin/env bash
# test_ota_qemu.sh - the Cortex-M4 receives models in situ. The firmware
# (firmware/ota.c) runs the device's update state machine under QEMU
# mps2-an386 with the publisher's key; a gateway (`tinylarge device --uart`)
# speaks CoAP to `tinylarge serve` and relays the signed manifest and the
# blocks over the board's UART. Checks, all on 127.0.0.1 and a Unix socket:
#   the firmware downloads a signed model, installs it and runs it with
#   outputs byte-identical to the host's; a tampered model and another key's
#   are refused, and a rollback (the edge serving an older version again),
#   while the old model keeps answering; a gateway killed mid-transfer and
#   started again resumes from the last block.
# usage: test_ota_qemu.sh BUILD_DIR
set -u
build=$1
bin=$build/tinylarge
elf=$build/firmware/fw_ota.elf
first=$build/models/kws_ref_model.tlm          # version 1
second=$build/models/pretrainedResnet_quant.tlm # version 2: another model, other outputs
if ! command -v qemu-system-arm >/dev/null || ! command -v sqlite3 >/dev/null; then
    echo "skipped: qemu-system-arm or sqlite3 is not installed"; exit 77
fi
if [ ! -f "$elf" ] || [ ! -f "$first" ] || [ ! -f "$second" ]; then
    echo "skipped: the OTA firmware or the imported reference models are not built"; exit 77
fi
work=$(mktemp -d)
server_pid=""; qemu_pid=""; gateway_pid=""
cleanup() { for p in $server_pid $qemu_pid $gateway_pid; do kill "$p" 2>/dev/null; done; rm -rf "$work"; }
trap cleanup EXIT
# shellcheck source=check.sh
. "$(dirname "$0")/check.sh"

# publish NAME MODEL [KEY]: MODEL as the one variant "e0" of the next version of NAME.
publish() {
    local dir="$work/cat-$RANDOM$RANDOM"
    mkdir -p "$dir" && cp "$2" "$dir/e0.tlm"
    printf '%s\n' "$catalogue_header" \
        "e0,0,0.00,8,0.90,$(stat -c %s "$2"),1000000,1000,-1,1,0,0,0,0,-1" >"$dir/catalogue.csv"
    "$bin" library add --db "$work/lib.db" --name "$1" --catalogue "$dir" --key "${3:-$work/srv.key}" >/dev/null
    sleep 0.6 # the server looks for new versions every 0.2 s
}
drop_latest() { # the latest publication leaves the library (the server goes back to the one before)
    sqlite3 -cmd ".timeout 5000" "$work/lib.db" "PRAGMA foreign_keys = ON; DELETE FROM versions WHERE id = (SELECT MAX(id) FROM versions)"
    sleep 0.6
}
host_output() { # the host runtime's output of MODEL on the seeded input, as the firmware prints it
    "$bin" run "$1" --output "$work/host.out" >/dev/null && echo "output: $(od -An -v -td1 "$work/host.out" | xargs)"
}
out1=$(host_output "$first")
out2=$(host_output "$second")

"$bin" keygen --out "$work/srv" >/dev/null
"$bin" keygen --out "$work/other" >/dev/null
port=$((20000 + RANDOM % 20000))
"$bin" serve --db "$work/lib.db" --port "$port" --poll 0.2 2>/dev/null &
server_pid=$!
sock=$work/uart.sock
qemu-system-arm -M mps2-an386 -nographic -monitor none -serial "unix:$sock,server=on,wait=off" \
    -semihosting-config "enable=on,target=native,arg=ota,arg=$work/srv.pub" -kernel "$elf" >"$work/qemu.log" 2>&1 &
qemu_pid=$!
for _ in $(seq 50); do [ -S "$sock" ] && break; sleep 0.1; done
publish kws "$first"
gateway=("$bin" device --server "127.0.0.1:$port" --uart "$sock" --name kws --flash 160K --ram 128K --mac-rate 20M
         --rate 250K --run)

check "installed in situ and runs as on the host" 0 \
    "installed kws e0 version 1 .*signature valid\) in slot a .*${out1}( |$)" -- "${gateway[@]}"
check "up to date on a second round" 0 "${out1} .*up to date: e0 version 1" -- "${gateway[@]}"

# A tampered byte in the stored model: refused at the end; the old model answers.
publish kws "$second"
sqlite3 -cmd ".timeout 5000" "$work/lib.db" "UPDATE variants SET model = CAST(substr(model, 1, 299) || X'5A' || substr(model, 301) AS BLOB)
  WHERE version_id = (SELECT MAX(id) FROM versions)"
check "tampered model refused, the old one answers" 1 \
    "${out1} .*refused e0: .*digest.*the running model stays" -- "${gateway[@]}"
drop_latest
# Another key's manifest: refused before a block moves.
publish kws "$second" "$work/other.key"
check "another key refused, the old one answers" 1 \
    "${out1} .*refused e0 version 2: .*signature does not hold" -- "${gateway[@]}"
drop_latest

# The next version, cut mid-transfer by a killed gateway, resumes.
publish kws "$second"
"${gateway[@]}" --link-rate 160K >"$work/cut.log" 2>&1 &
gateway_pid=$!
sleep 2
kill -9 "$gateway_pid" 2>/dev/null; wait "$gateway_pid" 2>/dev/null; gateway_pid=""
check "the cut download left the old model running" 1 "${out1} .*no model named 'none'" -- "$bin" device --server "127.0.0.1:$port" \
    --uart "$sock" --name none --flash 160K --ram 128K --mac-rate 20M --rate 250K --run
check "resumed from the last block, installed, runs as on the host" 0 \
    "resuming e0 at block [1-9][0-9]* of 86 .*installed kws e0 version 2 .* in slot b .*${out2}( |$)" -- "${gateway[@]}"

# Rollback: the edge serves version 1 again; its signed sequence is older.
drop_latest
check "rollback refused, the new model answers" 1 \
    "${out2} .*refused e0 version 1: older than a version this device already ran \(rollback\)" -- "${gateway[@]}"
check "the firmware said what it installed" 0 "ota: installed kws version 1 .*ota: installed kws version 2" -- \
    cat "$work/qemu.log"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
