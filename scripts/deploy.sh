#!/usr/bin/env bash
# make deploy / make undeploy: install scopegate into the cluster kubectl points at, or remove it.
#   scripts/deploy.sh deploy   [OVERLAY=self-signed|cert-manager]
#   scripts/deploy.sh undeploy [OVERLAY=...]
# Deploy order: everything but the webhook configurations, wait for the pods to be ready, then the
# webhook configurations (so no credential Secret write meets a webhook with no pod behind it).
# Undeploy order: the webhook configurations first, then the rest.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
ACTION=${1:?deploy or undeploy}
OVERLAY=${OVERLAY:-self-signed}
SCOPEGATE=${SCOPEGATE:-$ROOT/target/debug/scopegate}
WEBHOOKS='app.kubernetes.io/component=webhook-configuration'

say() { printf '==> %s\n' "$*" >&2; }
die() { printf 'make %s: %s\n' "$ACTION" "$*" >&2; exit 1; }

[ -d "manifests/$OVERLAY" ] || die "no overlay manifests/$OVERLAY (self-signed or cert-manager)"
command -v kubectl >/dev/null 2>&1 || die "kubectl is not installed"
context=$(kubectl config current-context 2>/dev/null) || die "kubectl has no current context: no cluster is configured"
say "cluster: context $context"
kubectl version --request-timeout=5s >/dev/null 2>&1 \
    || die "the cluster of context $context is not reachable (kubectl version failed); nothing was changed"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
rendered=$work/rendered.yaml
source=manifests/$OVERLAY
if [ "$OVERLAY" = self-signed ]; then
    # The certificates of `make certs` (a CA, and a serving certificate that also names
    # scopegate.scopegate.svc); the Secret and caBundle come from a kustomization generated beside them.
    certs=certs
    if [ "$ACTION" = deploy ] && { [ ! -s "$certs/tls.crt" ] || [ -n "${FORCE:-}" ]; }; then
        [ -x "$SCOPEGATE" ] || die "$SCOPEGATE not built (make build)"
        say "scopegate certs --out-dir $certs --service scopegate --namespace scopegate"
        "$SCOPEGATE" certs --out-dir "$certs" --service scopegate --namespace scopegate \
            --san localhost --san 127.0.0.1 >/dev/null
    elif [ "$ACTION" = deploy ]; then
        say "using the certificates in $certs (FORCE=1 makes new ones)"
    fi
    if [ -s "$certs/tls.crt" ]; then
        # The CA the cluster trusts now, kept through a change of CA (see the script).
        kubectl get validatingwebhookconfiguration scopegate \
            -o jsonpath='{.webhooks[0].clientConfig.caBundle}' 2>/dev/null | base64 -d > "$work/previous-ca.pem" 2>/dev/null || true
        scripts/self-signed-kustomization.sh "$work/kustomization" "$certs" "$work/previous-ca.pem"
        source=$work/kustomization
    fi
fi
say "kubectl kustomize manifests/$OVERLAY"
kubectl kustomize "$source" > "$rendered" || die "manifests/$OVERLAY does not render"

case "$ACTION" in
deploy)
    say "kubectl apply (everything but the webhook configurations)"
    kubectl apply -f "$rendered" -l "app.kubernetes.io/component!=webhook-configuration"
    say "waiting for the scopegate pods to be ready"
    kubectl -n scopegate rollout status deployment/scopegate --timeout=180s \
        || die "the scopegate pods did not become ready: kubectl -n scopegate describe pods -l app.kubernetes.io/name=scopegate"
    say "kubectl apply (the webhook configurations)"
    kubectl apply -f "$rendered" -l "$WEBHOOKS"
    if [ "$OVERLAY" = cert-manager ]; then
        say "waiting for cert-manager's CA injector to fill caBundle"
        for _ in $(seq 60); do
            ca=$(kubectl get validatingwebhookconfiguration scopegate -o jsonpath='{.webhooks[0].clientConfig.caBundle}')
            [ -n "$ca" ] && break
            sleep 2
        done
        [ -n "$ca" ] || die "caBundle is still empty: is cert-manager's cainjector running?"
    fi
    say "scopegate is installed. Check a credential Secret without storing it: kubectl apply --dry-run=server -f SECRET.yaml"
    ;;
undeploy)
    say "kubectl delete (the webhook configurations first)"
    kubectl delete -f "$rendered" -l "$WEBHOOKS" --ignore-not-found
    kubectl delete -f "$rendered" --ignore-not-found
    ;;
*)
    die "unknown action $ACTION"
    ;;
esac
