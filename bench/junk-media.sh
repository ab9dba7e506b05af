#!/usr/bin/env bash
# Issue 12's bounded media scan: peak memory (max RSS) and time of `kcsr-submit apply` and
# `kcsr assemble` on a media directory holding one request and JUNK sparse files of 1 MiB
# (they take no disk space but would cost 1 MiB of memory each if read). Both refuse the
# directory before reading it. Not a test: nothing is asserted.
#
#   bash bench/junk-media.sh            # JUNK=1100
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
cargo build --release --locked -q -p kcsr-offline -p kcsr-submit
TARGET=${CARGO_TARGET_DIR:-$PWD/target}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
JUNK=${JUNK:-1100}
cd "$work"
"$TARGET/release/kcsr" request -q --user alice --group dev --keys keys --media media
for i in $(seq -w 1 "$JUNK"); do truncate -s 1M "media/junk$i.crt"; done
measure() { # label command...
  local label=$1
  shift
  /usr/bin/time -f "%e %M" -o rss "$@" 2>/dev/null || true
  read -r secs kib < <(tail -n 1 rss)
  echo "$label: $secs s, max RSS $((kib / 1024)) MiB"
}
measure "kcsr-submit apply ($JUNK junk files)" "$TARGET/release/kcsr-submit" --kubeconfig /nonexistent apply media
measure "kcsr assemble ($JUNK junk files)" "$TARGET/release/kcsr" assemble --media media --keys keys --out k.yaml
