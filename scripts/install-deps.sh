#!/usr/bin/env bash
# install-deps.sh - installs the Debian packages tinylarge builds, tests and
# benchmarks with. Idempotent; runs as root without prompts (uses sudo when
# not root). Only what is missing is installed.
set -euo pipefail

packages=(
    build-essential cmake pkg-config      # host toolchain and build
    libsodium-dev                         # SHA-256 / Ed25519 on the host
    libcmocka-dev                         # unit tests
    gcc-arm-none-eabi libnewlib-arm-none-eabi  # Cortex-M4 cross build
    qemu-system-arm                       # runs the Cortex-M4 firmware
    clang libclang-rt-14-dev              # libFuzzer and sanitizer runtimes
    valgrind                              # callgrind instruction counts
    libopenblas-dev zlib1g-dev            # LargeML training (sgemm, gzip IDX files)
    dataset-fashion-mnist                 # training and evaluation data
    libopenmpi-dev openmpi-bin            # data-parallel training (optional at run time)
    gnuplot-nox                           # the variant catalogue's Pareto plot
    libsqlite3-dev sqlite3                # the model library (embedded backend); sqlite3 tampers in tests
    libpq-dev postgresql                  # the model library's PostgreSQL backend and its test server
    libcbor-dev                           # CBOR manifests
    libcoap3-dev libcoap3-bin             # CoAP/DTLS server and device client; coap-client in tests
    libinih-dev                           # the simulator's scenario files (INI)
    chromium                              # the simulator's report page, tested headless
)

missing=()
for p in "${packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$p")
    fi
done
if [ ${#missing[@]} -eq 0 ]; then
    echo "install-deps: all ${#packages[@]} packages present"
    exit 0
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then
    sudo="sudo"
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
