#!/usr/bin/env bash
# kcsr batch: wall time and peak memory for rosters of N users, P-256 and RSA-2048, against
# the openssl shell loop producing the same files (bench/request-vs-openssl.sh). Not a test.
#
#   bash bench/batch.sh                 # 1,000 P-256, 200 RSA-2048, memory at 1,000 and 10,000
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
cargo build --release -q -p kcsr-offline
KCSR=$PWD/target/release/kcsr
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

roster() { # n key_type file
  { echo "user,groups,key_type"; for i in $(seq 1 "$1"); do echo "user$i,dev,$2"; done; } > "$3"
}
run() { # label n key_type
  local d=$work/$1; mkdir -p "$d"
  roster "$2" "$3" "$d/roster.csv"
  local s e
  s=$(date +%s.%N)
  /usr/bin/time -f "%M" -o "$d/rss" "$KCSR" batch -q --roster "$d/roster.csv" --keys "$d/keys" --media "$d/media"
  e=$(date +%s.%N)
  (cd "$d/media" && sha256sum -c --quiet SHA256SUMS)
  awk -v l="$1" -v s="$s" -v e="$e" -v n="$2" -v rss="$(cat "$d/rss")" \
    'BEGIN { t = e - s; printf "%-28s n=%-6d total %8.2f s  per user %8.3f ms  peak RSS %6.1f MiB\n", l, n, t, 1000 * t / n, rss / 1024 }'
}
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
run "kcsr batch p256" "${N:-1000}" p256
run "kcsr batch rsa2048" "${NRSA:-200}" rsa2048
run "kcsr batch p256 (memory)" 10000 p256
