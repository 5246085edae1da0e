#!/usr/bin/env bash
# Runs modpack's whole test suite on a fresh Debian/Ubuntu machine: installs what the tests need
# (a real redis-server, cross compilers and their C libraries for the fixtures, zip and curl for the
# benchmarks' baselines),
# installs modpack with its test extras at the versions pinned in constraints/test.txt (refresh them
# with scripts/lock-test-deps.sh), then runs pytest. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."

declare -A tool_package=(
  [redis-server]=redis-server
  [aarch64-linux-gnu-gcc]="gcc-aarch64-linux-gnu libc6-dev-arm64-cross"
  [qemu-aarch64-static]=qemu-user-static
  [arm-linux-gnueabihf-gcc]="gcc-arm-linux-gnueabihf libc6-dev-armhf-cross"
  [gcc]=gcc
  [g++]=g++
  [objcopy]=binutils
  [llvm-strip]=llvm
  [zip]=zip
  [unzip]=unzip
  [curl]=curl
  [git]=git
)
missing=()
for tool in "${!tool_package[@]}"; do
  # shellcheck disable=SC2206  # a tool may need several packages (a cross compiler and its libc)
  command -v "$tool" >/dev/null 2>&1 || missing+=(${tool_package[$tool]})
done
# Headers, not commands: the OpenSSL 3 module of tests/test_platform_libraries.py links -lcrypto.
[ -e /usr/include/openssl/crypto.h ] || missing+=(libssl-dev)
if ((${#missing[@]})); then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "scripts/test.sh: missing system packages: ${missing[*]}" >&2
    echo "  install them with: sudo apt-get install ${missing[*]}" >&2
    exit 1
  fi
fi

python3 -m pip install -q --disable-pip-version-check -c constraints/test.txt -e '.[test]'
# The Redis servers the emulation and version tests load modules into (Debian's own packages in a
# private root under the user's cache folder; a prepared one is kept and reused).
for server in "aarch64 7.0" "aarch64 8.0" "x86_64 8.0"; do
  python3 -m modpack redis prepare --arch "${server% *}" --version "${server#* }"
done
# One worker per core and one more, tests dealt out one by one (worksteal): many tests wait on a
# redis-server, an emulated one or a hang guard rather than compute, and the extra worker fills those
# waits (measured here on 2 cores: 6.4 min with 3 workers against 12.5 min with one per core, a test
# file each). MODPACK_TEST_WORKERS=0 runs in one process.
# pytest-benchmark, where a machine has it, warns that xdist disables it, and the suite turns
# warnings into errors: it is switched off (the speed goals live in bench/, not in tests).
workers="${MODPACK_TEST_WORKERS:-$(($(nproc) + 1))}"
exec python3 -m pytest -n "$workers" --dist worksteal -p no:benchmark "$@"
