# Developer entry points. `.ci/run` is the CI contract; `just ci` runs exactly it.
set shell := ["bash", "-euo", "pipefail", "-c"]

# List recipes.
default:
    @just --list --unsorted

# Everything CI runs, as CI runs it.
ci:
    bash .ci/run

# The test suite (the README's test command).
test *args:
    cargo test --workspace --locked {{args}}

# Formatting check and clippy with warnings as errors.
lint:
    cargo fmt --all -- --check
    cargo clippy --workspace --all-targets --locked -- -D warnings

# Format the code.
fmt:
    cargo fmt --all

# The offline step into a scratch directory: keys in demo/keys, media in demo/media.
demo dir="target/demo":
    rm -rf {{dir}} && mkdir -p {{dir}}
    cargo run -q -p kcsr-offline -- request --user alice --group dev --keys {{dir}}/keys --media {{dir}}/media
    cargo run -q -p kcsr-offline -- request --user ops --clusterrole cluster-admin --keys {{dir}}/keys --media {{dir}}/media
    cd {{dir}}/media && sha256sum -c SHA256SUMS
    cargo run -q -p kcsr-offline -- inspect {{dir}}/media/alice.csr.yaml

# Benchmarks: in-process cost per request, and whole runs against the openssl shell loop.
bench:
    cargo bench -p kcsr-core --bench request
    bash bench/request-vs-openssl.sh

# Isolated machine: install kcsr, its completions and man page (prefix /usr/local by default).
install-offline prefix="/usr/local":
    cargo build --release --locked -p kcsr-offline
    mkdir -p {{prefix}}/bin {{prefix}}/share/man/man1 {{prefix}}/share/bash-completion/completions
    install -m 0755 target/release/kcsr {{prefix}}/bin/kcsr
    target/release/kcsr man > {{prefix}}/share/man/man1/kcsr.1
    target/release/kcsr completions bash > {{prefix}}/share/bash-completion/completions/kcsr

# Connected machine: install kcsr-submit, its completions and man page.
install-submit prefix="/usr/local":
    cargo build --release --locked -p kcsr-submit
    mkdir -p {{prefix}}/bin {{prefix}}/share/man/man1 {{prefix}}/share/bash-completion/completions
    install -m 0755 target/release/kcsr-submit {{prefix}}/bin/kcsr-submit
    target/release/kcsr-submit man > {{prefix}}/share/man/man1/kcsr-submit.1
    target/release/kcsr-submit completions bash > {{prefix}}/share/bash-completion/completions/kcsr-submit

# CycloneDX SBOM of each binary into target/sbom (installs cargo-cyclonedx if missing).
sbom:
    bash dist/sbom.sh

# Build kcsr from vendored sources with no network, as on the isolated side.
vendored-build:
    bash dist/vendored-build.sh

# The release checks (SBOM, vendored build, release binaries' SHA-256).
release-checks:
    bash .ci/release
