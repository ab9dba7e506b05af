#!/usr/bin/env bash
# Release binaries for RHEL 8 and newer (glibc 2.28): `cargo zigbuild` links against glibc
# 2.28's symbol versions with Zig's C toolchain (AWS-LC included), so the binaries start on
# any x86_64 Linux with glibc 2.28 or later. Writes target/portable/kcsr,
# target/portable/kcsr-submit and target/portable/kcsr-agent, their man pages and shell
# completions (target/portable/share), and target/portable/SHA256SUMS; refuses a binary that
# needs a newer glibc symbol.
#
#   bash dist/portable.sh              # FIPS=1: with AWS-LC's FIPS 140-3 module instead
#
# Installs what it needs: ziglang and cargo-zigbuild from PyPI.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
GLIBC=2.28
TARGET=x86_64-unknown-linux-gnu
out=target/portable
command -v cargo-zigbuild >/dev/null && python3 -m ziglang version >/dev/null 2>&1 ||
  python3 -m pip install -q --disable-pip-version-check --root-user-action=ignore ziglang cargo-zigbuild
features=()
if [ "${FIPS:-}" = 1 ]; then
  features=(--features kcsr-offline/fips,kcsr-submit/fips,kcsr-agent/fips)
  out=target/portable/fips
  # AWS-LC's FIPS module needs one change to cargo-zigbuild's CMake toolchain (see the file).
  export CMAKE_TOOLCHAIN_FILE_x86_64_unknown_linux_gnu=$PWD/dist/zigbuild-fips.cmake
fi
cargo zigbuild --release --locked -p kcsr-offline -p kcsr-submit -p kcsr-agent --target "$TARGET.$GLIBC" "${features[@]}"
mkdir -p "$out/share/man/man1" "$out/share/bash-completion/completions" \
  "$out/share/zsh/site-functions" "$out/share/fish/vendor_completions.d"
for bin in kcsr kcsr-submit kcsr-agent; do
  install -m 0755 "target/$TARGET/release/$bin" "$out/$bin"
  # The newest glibc symbol version the binary needs (objdump -T: "GLIBC_2.17", ...).
  newest=$(objdump -T "$out/$bin" | grep -o 'GLIBC_[0-9][0-9.]*' | sed 's/GLIBC_//' | sort -uV | tail -1)
  if [ "$(printf '%s\n%s\n' "$newest" "$GLIBC" | sort -V | tail -1)" != "$GLIBC" ]; then
    echo "$out/$bin needs glibc $newest, newer than $GLIBC:" >&2
    objdump -T "$out/$bin" | grep -E "GLIBC_$newest" >&2
    exit 1
  fi
  echo "ok: $out/$bin needs glibc $newest at most (RHEL 8 has $GLIBC)"
  "$out/$bin" --version
  "$out/$bin" man >"$out/share/man/man1/$bin.1"
  "$out/$bin" completions bash >"$out/share/bash-completion/completions/$bin"
  "$out/$bin" completions zsh >"$out/share/zsh/site-functions/_$bin"
  "$out/$bin" completions fish >"$out/share/fish/vendor_completions.d/$bin.fish"
done
(cd "$out" && sha256sum kcsr kcsr-submit kcsr-agent | tee SHA256SUMS)
