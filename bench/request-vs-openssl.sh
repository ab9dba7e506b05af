#!/usr/bin/env bash
# Whole-process benchmark: N requests with `kcsr request` against the classic shell loop of
# openssl genpkey/genrsa + openssl req + base64 + a heredoc manifest + sha256sum, producing
# the same files (key 0600 in keys/, manifest in media/, SHA256SUMS). Not a test.
#
#   bash bench/request-vs-openssl.sh            # N=1000 per key type
#   N=100 bash bench/request-vs-openssl.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
N=${N:-1000}
cargo build --release --locked -q -p kcsr-offline
KCSR=${CARGO_TARGET_DIR:-$PWD/target}/release/kcsr
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

now() { date +%s.%N; }
report() { # label start end n
  awk -v l="$1" -v s="$2" -v e="$3" -v n="$4" 'BEGIN { t = e - s; printf "%-34s n=%-5d total %8.2f s  per request %8.2f ms\n", l, n, t, 1000 * t / n }'
}

run_kcsr() { # key-type
  local d=$work/kcsr-$1; mkdir -p "$d"
  local s; s=$(now)
  for i in $(seq 1 "$N"); do
    "$KCSR" request -q --user "user$i" --group dev --key-type "$1" --keys "$d/keys" --media "$d/media"
  done
  report "kcsr request ($1)" "$s" "$(now)" "$N"
  (cd "$d/media" && sha256sum -c --quiet SHA256SUMS)
}

# shellcheck source=bench/openssl-loop.sh
source bench/openssl-loop.sh
run_openssl() { # p256|rsa2048
  local s; s=$(now)
  openssl_loop "$work/openssl-$1" "$N" "$1"
  report "openssl + base64 loop ($1)" "$s" "$(now)" "$N"
}

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); $(openssl version)"
for kt in p256 rsa2048; do
  run_kcsr "$kt"
  run_openssl "$kt"
done
