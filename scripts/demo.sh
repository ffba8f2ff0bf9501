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
standinlog=$(mktemp)
"$BIN/scopegate-standin" "127.0.0.1:$STANDIN_PORT" --kube "$kubeconfig" examples/secrets 2>"$standinlog" &
standin_pid=$!
pids+=("$standin_pid")
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

# Continuous assurance: the watcher keeps the same Secrets judged, reports changes of verdict as
# metrics and Events, and re-checks every credential (every 2 s here). Then GitHub revokes a token.
echo
echo '$ scopegate watch --kubeconfig STAND-IN --config examples/config.yaml --no-leader-election'
watchlog=$(mktemp)
"$BIN/scopegate" watch --kubeconfig "$kubeconfig" --config "$config" --no-leader-election \
  --admin-listen 127.0.0.1:0 2>"$watchlog" &
watch_pid=$!
pids+=("$watch_pid")
wait_log() { # pattern file seconds
  for _ in $(seq $((${3} * 10))); do grep -q -- "$1" "$2" && return 0; sleep 0.1; done
  echo "demo: timed out waiting for: $1" >&2; return 1
}
wait_log "every watch has listed its Secrets" "$watchlog" 20
wait_log "name=git-default-65f1c0d2a9e8 old=none" "$watchlog" 20
wait_log "use verdict changed kind=Application namespace=codefresh name=retired" "$watchlog" 20
sleep 1
echo "verdicts (one log line per change of verdict):"
grep " verdict changed" "$watchlog" | grep -v "use verdict changed" \
  | sed -E 's/.*namespace=([^ ]+) name=([^ ]+) old=([^ ]+) new=([^ ]+).*/  \1\/\2: \3 -> \4/'
echo "the uses of those credentials: each Application's repositories, with the credential Argo CD would choose:"
grep "use verdict changed" "$watchlog" \
  | sed -E 's/.*kind=([^ ]+) namespace=([^ ]+) name=([^ ]+) old=([^ ]+) new=([^ ]+).*/  \1 \2\/\3: \4 -> \5/'
echo "Events the watcher wrote (kubectl events --for secret/NAME -n NS, or application/NAME, shows them):"
grep "scopegate-standin: Event" "$standinlog" | sed -E 's/scopegate-standin: Event /  /' | cut -c1-150
admin_port=$(sed -nE 's/.*serving the admin port addr=[0-9.]+:([0-9]+).*/\1/p' "$watchlog" | head -1)
metrics() {
  exec 3<>"/dev/tcp/127.0.0.1/$admin_port"
  printf 'GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' >&3
  cat <&3
  exec 3<&-
}
echo "on its admin port (/metrics):"
metrics | grep -E '^scopegate_credential_verdict\{namespace="codefresh",name="runtime' | sed 's/^/  /'
metrics | grep -E '^scopegate_repository_access\{' | sed 's/^/  /'

echo
echo "GitHub revokes the token in codefresh/runtime-repo-creds-secret (the stand-in, on SIGUSR1):"
kill -USR1 "$standin_pid"
wait_log "name=runtime-repo-creds-secret old=ok new=invalid" "$watchlog" 15
grep "name=runtime-repo-creds-secret old=ok new=invalid" "$watchlog" \
  | sed -E 's/.*namespace=([^ ]+) name=([^ ]+) old=([^ ]+) new=([^ ]+).*/  at the next re-check: \1\/\2: \3 -> \4/'
wait_log "Warning TokenInvalid on Secret codefresh/runtime-repo-creds-secret" "$standinlog" 10
grep "Warning TokenInvalid on Secret codefresh/runtime-repo-creds-secret" "$standinlog" \
  | sed -E 's/scopegate-standin: Event /  /' | cut -c1-150
metrics | grep -E '^scopegate_credential_verdict\{namespace="codefresh",name="runtime' | sed 's/^/  /'
echo "the watcher's log: $watchlog"
rm -f "$config" "$kubeconfig"
