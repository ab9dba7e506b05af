#!/usr/bin/env bash
# Issue 15: `kcsr batch` of N P-256 users with the media on a FAT32 image (fusefat), an exFAT
# image on a loop device (exfat-fuse), tmpfs, and the disk this checkout is on. The keys stay
# on the disk in every run (kcsr refuses them on FAT32 and exFAT). Each run is verified with
# `sha256sum -c` on the media. Not a test: nothing is asserted.
#
#   sudo bash bench/media.sh            # N=1000; median of ROUNDS=3 (FUSE_ROUNDS=1 on the images)
#
# Baseline for each filesystem: `cp -r` of the same finished media (1,000 manifests and
# SHA256SUMS, made on tmpfs) onto it, then `sync`: what the filesystem driver alone costs.
#
# Needs root (mounts, in a private mount namespace that goes away with the script) and
# Debian's dosfstools, fusefat, exfatprogs and exfat-fuse.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
if [ -z "${KCSR_BENCH_NS:-}" ]; then
  cargo build --release --locked -q -p kcsr-offline
  exec env KCSR_BENCH_NS=1 unshare -m --propagation private bash "$0" "$@"
fi
KCSR=${CARGO_TARGET_DIR:-$PWD/target}/release/kcsr
N=${N:-1000}
ROUNDS=${ROUNDS:-3}
FUSE_ROUNDS=${FUSE_ROUNDS:-1} # fusefat takes minutes per run
work=$(mktemp -d "$PWD/target/bench-media.XXXXXX") # on the disk, not in /tmp (often tmpfs)
mounts=()
cleanup() {
  for m in "${mounts[@]}"; do umount "$m" 2>/dev/null || umount -l "$m" || true; done
  rm -rf "$work"
}
trap cleanup EXIT

mkdir -p "$work/fat32" "$work/exfat" "$work/tmpfs" "$work/disk"
truncate -s 256M "$work/fat32.img" "$work/exfat.img"
mkfs.vfat -F 32 -n KCSR "$work/fat32.img" >/dev/null
fusefat -o rw+ "$work/fat32.img" "$work/fat32" >/dev/null
mounts+=("$work/fat32")
mkfs.exfat -L KCSR "$work/exfat.img" >/dev/null
dev=$(losetup -f --show "$work/exfat.img")
mount.exfat-fuse "$dev" "$work/exfat" >/dev/null
losetup -d "$dev" # goes when exfat-fuse closes it
mounts+=("$work/exfat")
mount -t tmpfs -o size=256m kcsr-bench "$work/tmpfs"
mounts+=("$work/tmpfs")

{ echo "user,groups,key_type"; for i in $(seq 1 "$N"); do echo "user$i,dev,p256"; done; } >"$work/roster.csv"

secs() { awk -v s="$1" -v e="$2" 'BEGIN { printf "%.3f", e - s }'; }
run() { # where round -> seconds
  local media=$work/$1/media-$2 keys=$work/keys-$1-$2 s e
  sync
  s=$(date +%s.%N)
  "$KCSR" batch -q --roster "$work/roster.csv" --keys "$keys" --media "$media"
  e=$(date +%s.%N)
  (cd "$media" && sha256sum -c --quiet --strict SHA256SUMS)
  [ "$(find "$media" -name '*.csr.yaml' | wc -l)" = "$N" ]
  secs "$s" "$e"
}

copy() { # where -> seconds (cp of the tmpfs media of round 1, then sync)
  local s e
  sync
  s=$(date +%s.%N)
  cp -r "$work/tmpfs/media-1" "$work/$1/copy"
  sync
  e=$(date +%s.%N)
  (cd "$work/$1/copy" && sha256sum -c --quiet --strict SHA256SUMS)
  secs "$s" "$e"
}

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); disk: $(findmnt -no FSTYPE -T "$work"); load $(cut -d' ' -f1-3 /proc/loadavg); $(date -u +%F)"
echo "kcsr batch, $N P-256 users, keys on the disk; median of the runs:"
printf "| %-26s | %9s | %9s | %-22s | %s |\n" "media on" "kcsr batch" "per user" "runs (s)" "cp -r + sync of its output"
for where in tmpfs disk fat32 exfat; do
  times=()
  rounds=$ROUNDS
  case $where in fat32 | exfat) rounds=$FUSE_ROUNDS ;; esac
  for r in $(seq 1 "$rounds"); do
    t=$(run "$where" "$r")
    times+=("$t")
  done
  median=$(printf '%s\n' "${times[@]}" | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }')
  c=$(copy "$where")
  case $where in
    disk) label="disk ($(findmnt -no FSTYPE -T "$work"))" ;;
    tmpfs) label="tmpfs" ;;
    fat32) label="FAT32 image, fusefat" ;;
    exfat) label="exFAT image, exfat-fuse" ;;
  esac
  awk -v l="$label" -v t="$median" -v n="$N" -v all="${times[*]}" -v c="$c" \
    'BEGIN { printf "| %-26s | %8.2f s | %6.2f ms | %-22s | %.2f s |\n", l, t, 1000 * t / n, all, c }'
done
