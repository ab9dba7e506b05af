# Sourced by the benchmarks: the classic procedure, one user at a time, as an operator's
# shell loop does it: openssl genpkey/genrsa + openssl req + base64 + a heredoc manifest, keys
# 0600 in DIR/keys, manifests in DIR/media, and one sha256sum at the end.
#   openssl_loop DIR N p256|rsa2048
openssl_loop() {
  local d=$1 n=$2 kt=$3 u req
  mkdir -p "$d/keys" "$d/media"
  for i in $(seq 1 "$n"); do
    u=user$i
    if [ "$kt" = p256 ]; then
      openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$d/keys/$u.key.pem" 2>/dev/null
    else
      openssl genrsa -out "$d/keys/$u.key.pem" 2048 2>/dev/null
    fi
    chmod 600 "$d/keys/$u.key.pem"
    req=$(openssl req -new -key "$d/keys/$u.key.pem" -subj "/CN=$u/O=dev" | base64 -w0)
    cat >"$d/media/$u.csr.yaml" <<YAML
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
  (cd "$d/media" && sha256sum -- *.csr.yaml >SHA256SUMS)
}
