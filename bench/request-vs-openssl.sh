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
cargo build --release -q -p kcsr-offline
KCSR=$PWD/target/release/kcsr
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

run_openssl() { # p256|rsa2048
  local d=$work/openssl-$1; mkdir -p "$d/keys" "$d/media"
  local s; s=$(now)
  for i in $(seq 1 "$N"); do
    u=user$i
    if [ "$1" = p256 ]; then
      openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$d/keys/$u.key.pem" 2>/dev/null
    else
      openssl genrsa -out "$d/keys/$u.key.pem" 2048 2>/dev/null
    fi
    chmod 600 "$d/keys/$u.key.pem"
    req=$(openssl req -new -key "$d/keys/$u.key.pem" -subj "/CN=$u/O=dev" | base64 -w0)
    cat > "$d/media/$u.csr.yaml" <<YAML
apiVersion: certificates.k8s.io/v1
kind: CertificateSigningRequest
metadata:
  name: $u
spec:
  request: $req
  signerName: kubernetes.io/kube-apiserver-client
  expirationSeconds: 2592000
  usages:
  - digital signature
  - client auth
YAML
  done
  (cd "$d/media" && sha256sum -- *.csr.yaml > SHA256SUMS)
  report "openssl + base64 loop ($1)" "$s" "$(now)" "$N"
}

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); $(openssl version)"
for kt in p256 rsa2048; do
  run_kcsr "$kt"
  run_openssl "$kt"
done
