#!/usr/bin/env bash
# Connected side: N CSRs against the test API server (loopback), `kcsr-submit apply --approve
# --wait` against the classic loop of `kubectl apply -f` + `kubectl certificate approve` +
# `kubectl get csr -o jsonpath` + `base64 -d`, each on a fresh server, same requests. Not a test.
#
#   bash bench/submit-vs-kubectl.sh          # N=500
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
N=${N:-500}
cargo build --release --locked -q -p kcsr-offline -p kcsr-submit -p kcsr-testapi
bin=${CARGO_TARGET_DIR:-$PWD/target}/release
work=$(mktemp -d)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true; rm -rf "$work"' EXIT
export HOME=$work/home; mkdir -p "$HOME"

{ echo "user,groups"; for i in $(seq 1 "$N"); do echo "user$i,dev"; done; } > "$work/roster.csv"
"$bin/kcsr" batch -q --roster "$work/roster.csv" --keys "$work/keys" --media "$work/media"

serve() { # dir
  "$bin/kcsr-testapi" serve --dir "$1" > "$1.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 100); do [ -s "$1/admin.kubeconfig" ] && break; sleep 0.1; done
}
now() { date +%s.%N; }
report() { awk -v l="$1" -v s="$2" -v e="$3" -v n="$4" 'BEGIN { t = e - s; printf "%-44s n=%-4d total %8.2f s  per CSR %8.2f ms\n", l, n, t, 1000 * t / n }'; }

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
serve "$work/a"
cp -r "$work/media" "$work/media-a"
s=$(now)
"$bin/kcsr-submit" --kubeconfig "$work/a/admin.kubeconfig" apply "$work/media-a" --approve --yes --wait 10m \
  --client-ca "$work/a/client-ca.crt" > /dev/null 2>&1
report "kcsr-submit apply --approve --wait" "$s" "$(now)" "$N"
ls "$work/media-a"/*.crt | wc -l | xargs echo "certificates written:"

serve "$work/b"
kc=$work/b/admin.kubeconfig
mkdir -p "$work/certs-b"
s=$(now)
for f in "$work/media"/*.csr.yaml; do
  name=$(kubectl --kubeconfig "$kc" apply -f "$f" -o jsonpath='{.metadata.name}')
  kubectl --kubeconfig "$kc" certificate approve "$name" > /dev/null
  cert=""
  while [ -z "$cert" ]; do cert=$(kubectl --kubeconfig "$kc" get csr "$name" -o jsonpath='{.status.certificate}'); done
  base64 -d <<<"$cert" > "$work/certs-b/$name.crt"
done
report "kubectl apply + approve + get + base64 -d" "$s" "$(now)" "$N"
ls "$work/certs-b"/*.crt | wc -l | xargs echo "certificates written:"
