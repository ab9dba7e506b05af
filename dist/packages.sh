#!/usr/bin/env bash
# A .deb and an .rpm for each binary, from dist/portable.sh's output (glibc 2.28, so one
# package serves Debian/Ubuntu and RHEL 8/9 alike): the binary, its man page, bash/zsh/fish
# completions, both licences and the docs (metadata in crates/{offline,submit,agent}/Cargo.toml).
# Writes target/packages/*.deb, *.rpm and their SHA256SUMS. Nothing is compiled again.
#
#   bash dist/portable.sh && bash dist/packages.sh
#
# Installs what it needs: cargo-deb and cargo-generate-rpm from crates.io.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
for f in kcsr kcsr-submit kcsr-agent share/man/man1/kcsr.1 share/man/man1/kcsr-agent.1; do
  [ -e "target/portable/$f" ] || { echo "target/portable/$f is missing: run bash dist/portable.sh first" >&2; exit 1; }
done
command -v cargo-deb >/dev/null || cargo install --locked --debug cargo-deb
command -v cargo-generate-rpm >/dev/null || cargo install --locked --debug cargo-generate-rpm
out=target/packages
rm -rf "$out" && mkdir -p "$out"
for crate in offline submit agent; do
  # --no-build: the binary is dist/portable.sh's, named in the metadata's assets.
  cargo deb --locked --quiet --no-build --no-strip -p "kcsr-$crate" -o "$out/"
  # xz: the payload compression RHEL 8's own packages use.
  cargo generate-rpm -p "crates/$crate" --payload-compress xz -o "$out/"
done
(cd "$out" && sha256sum -- *.deb *.rpm | tee SHA256SUMS)
