#!/usr/bin/env bash
# Runs every fuzz target for a bounded time (stable toolchain: no sanitizer).
#   bash fuzz/run.sh            # 60 s per target
#   SECONDS_PER_TARGET=600 bash fuzz/run.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
per=${SECONDS_PER_TARGET:-60}
for target in $(cargo fuzz list); do
  echo "== $target ($per s)"
  cargo fuzz run --sanitizer none "$target" -- -max_total_time="$per" -rss_limit_mb=2048 -max_len=65536
done
