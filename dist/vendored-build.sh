#!/usr/bin/env bash
# Builds kcsr (kcsr-offline) from a vendored source tree with the network out of reach, as a
# shop that builds on the isolated side does (docs/install.md). Cargo gets an empty
# CARGO_HOME: no registry index, no download cache, only the vendored sources, `--offline`.
#
#   bash dist/vendored-build.sh               # vendor into target/vendor, build into target/vendored
#   VENDOR=/path bash dist/vendored-build.sh  # reuse a vendored tree carried across the gap
#   RELEASE=1 bash dist/vendored-build.sh     # the release profile (what you install)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
vendor=${VENDOR:-$PWD/target/vendor}
if [ -z "${VENDOR:-}" ]; then
  rm -rf "$vendor"
  cargo vendor --locked --versioned-dirs "$vendor" >/dev/null
fi
home=$(mktemp -d)
trap 'rm -rf "$home"' EXIT
cat >"$home/config.toml" <<EOF
[source.crates-io]
replace-with = "vendored-sources"

[source.vendored-sources]
directory = "$vendor"

[net]
offline = true
EOF
target=${VENDORED_TARGET_DIR:-$PWD/target/vendored}
profile=debug
[ -n "${RELEASE:-}" ] && profile=release
CARGO_HOME=$home cargo build --offline --locked -p kcsr-offline --target-dir "$target" \
  ${RELEASE:+--release}
bin=$target/$profile/kcsr
"$bin" --version
echo "ok: kcsr-offline built from $vendor with an empty CARGO_HOME and --offline"
