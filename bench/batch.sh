#!/usr/bin/env bash
# Issue 6's offline benchmark, in one run on one machine, producing the same files:
#   1. `kcsr batch` for N P-256 users and NRSA RSA-2048 users against the classic openssl shell
#      loop (bench/openssl-loop.sh) for the same users;
#   2. peak memory (max RSS) of `kcsr batch` at 1,000 and 10,000 users, and per-user cost as
#      the roster grows;
#   3. the stripped sizes of both release binaries.
# Not a test: nothing is asserted but that the outputs verify (`sha256sum -c`).
#
#   bash bench/batch.sh                 # N=1000 P-256, NRSA=200 RSA-2048 (about 2 minutes)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
cargo build --release --locked -q -p kcsr-offline -p kcsr-submit
TARGET=${CARGO_TARGET_DIR:-$PWD/target}
KCSR=$TARGET/release/kcsr
# shellcheck source=bench/openssl-loop.sh
source bench/openssl-loop.sh
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
N=${N:-1000}
NRSA=${NRSA:-200}

roster() { # n key_type file
  { echo "user,groups,key_type"; for i in $(seq 1 "$1"); do echo "user$i,dev,$2"; done; } >"$3"
}
secs() { awk -v s="$1" -v e="$2" 'BEGIN { printf "%.3f", e - s }'; }
batch() { # label n key_type -> prints "seconds rss_kib"
  local d=$work/$1
  mkdir -p "$d"
  roster "$2" "$3" "$d/roster.csv"
  local s e
  sync # no dirty data from earlier writes (the build) left for the timed run to flush
  s=$(date +%s.%N)
  /usr/bin/time -f "%M" -o "$d/rss" "$KCSR" batch -q --roster "$d/roster.csv" --keys "$d/keys" --media "$d/media"
  e=$(date +%s.%N)
  (cd "$d/media" && sha256sum -c --quiet SHA256SUMS)
  echo "$(secs "$s" "$e") $(cat "$d/rss")"
}
loop() { # label n key_type -> prints seconds
  local s e
  sync
  s=$(date +%s.%N)
  openssl_loop "$work/$1" "$2" "$3"
  e=$(date +%s.%N)
  (cd "$work/$1/media" && sha256sum -c --quiet SHA256SUMS)
  secs "$s" "$e"
}
compare() { # n key_type
  local b l
  read -r b _ < <(batch "batch-$2" "$1" "$2")
  l=$(loop "loop-$2" "$1" "$2")
  awk -v n="$1" -v k="$2" -v b="$b" -v l="$l" 'BEGIN {
    printf "%-8s n=%-5d kcsr batch %7.2f s (%7.3f ms/user)   openssl loop %7.2f s (%7.2f ms/user)   %5.1fx\n",
      k, n, b, 1000 * b / n, l, 1000 * l / n, l / b }'
}

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); $(openssl version); $(date -u +%F)"
echo "== 1. kcsr batch against the openssl loop (same users, same files)"
compare "$N" p256
compare "$NRSA" rsa2048
echo "== 2. growth with the roster (P-256): wall time, per user, peak RSS"
for n in 100 1000 10000; do
  read -r t rss < <(batch "grow-$n" "$n" p256)
  awk -v n="$n" -v t="$t" -v r="$rss" 'BEGIN { printf "n=%-6d %7.2f s  %7.3f ms/user  peak RSS %6.1f MiB\n", n, t, 1000 * t / n, r / 1024 }'
done
echo "== 3. stripped release binaries"
for b in kcsr kcsr-submit; do
  printf "%-12s %6.1f MB\n" "$b" "$(stat -c %s "$TARGET/release/$b" | awk '{ print $1 / 1e6 }')"
done
