#!/usr/bin/env bash
# Time to prepare each provisioned redis-server (issue 18) and to run one `validate --load` on it.
# Prepares into a fresh cache folder (needs Debian's mirror, apt-get, dpkg-deb, qemu-user-static);
# the folder is removed afterwards. Usage: bench/redis_servers.sh
set -euo pipefail
cd "$(dirname "$0")/.."
cache=$(mktemp -d "${TMPDIR:-/tmp}/modpack-bench-cache.XXXXXX")
trap 'rm -rf -- "$cache"' EXIT
export XDG_CACHE_HOME=$cache PYTHONPATH=$PWD
TIMEFORMAT='%R s'
for server in "aarch64 7.0" "aarch64 8.0" "x86_64 8.0"; do
  arch=${server% *} version=${server#* }
  echo "prepare --arch $arch --version $version:"
  time python3 -m modpack redis prepare --arch "$arch" --version "$version" >/dev/null
  echo "validate --load --redis-version $version fixtures/so/$arch/hello.so:"
  time python3 -m modpack validate --load --redis-version "$version" "fixtures/so/$arch/hello.so" >/dev/null
done
du -sh "$cache"/modpack/redis/*
