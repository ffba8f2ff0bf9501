#!/usr/bin/env bash
# make demo: scopegate against a local stand-in for GitHub, GitLab and Bitbucket Cloud, fed the example
# Secrets as the API server would feed them.
set -euo pipefail
cd "$(dirname "$0")/.."
SCOPEGATE_PORT=${SCOPEGATE_PORT:-18443}
STANDIN_PORT=${STANDIN_PORT:-18480}
BIN=target/debug

cargo build --workspace --bins --quiet
[ -f certs/tls.crt ] || "$BIN/scopegate" certs --out-dir certs --san localhost --san 127.0.0.1 >/dev/null

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

kubeconfig=$(mktemp -u)
"$BIN/scopegate-standin" "127.0.0.1:$STANDIN_PORT" --kube "$kubeconfig" examples/secrets 2>/dev/null &
pids+=($!)
config=$(mktemp)
sed "s/127.0.0.1:18480/127.0.0.1:$STANDIN_PORT/" examples/config.yaml >"$config"
echo "scopegate serve --listen 127.0.0.1:$SCOPEGATE_PORT --config examples/config.yaml (providers: stand-in on 127.0.0.1:$STANDIN_PORT)"
"$BIN/scopegate" serve --listen "127.0.0.1:$SCOPEGATE_PORT" --config "$config" \
  --tls-cert certs/tls.crt --tls-key certs/tls.key 2>/tmp/scopegate-demo.log &
pids+=($!)

"$BIN/scopegate-demo" --server "https://127.0.0.1:$SCOPEGATE_PORT" --ca certs/ca.crt \
  --standin "127.0.0.1:$STANDIN_PORT" examples/secrets
echo "scopegate's log (one line per review): /tmp/scopegate-demo.log"

# The same Secrets judged offline, then audited in a cluster (a stand-in Kubernetes API that holds
# them, with two Applications of the codefresh runtime). Both exit 1 here: some would be denied.
echo
echo '$ scopegate check --config examples/config.yaml -f examples/secrets/      (columns past 150 cut)'
"$BIN/scopegate" check --config "$config" -f examples/secrets/ | cut -c1-150 || true
for _ in $(seq 50); do [ -f "$kubeconfig" ] && break; sleep 0.1; done
echo
echo '$ scopegate audit --kubeconfig STAND-IN --config examples/config.yaml -A      (columns past 150 cut)'
"$BIN/scopegate" audit --kubeconfig "$kubeconfig" --config "$config" -A | cut -c1-150 || true
echo
echo '$ scopegate audit --kubeconfig STAND-IN --config examples/config.yaml -A --expiring 400d'
"$BIN/scopegate" audit --kubeconfig "$kubeconfig" --config "$config" -A --expiring 400d || true
rm -f "$config" "$kubeconfig"
