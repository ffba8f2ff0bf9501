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

if [ "$OVERLAY" = self-signed ] && [ "$ACTION" = deploy ]; then
    certs=manifests/self-signed/certs
    if [ -f "$certs/tls.crt" ] && [ -z "${FORCE:-}" ]; then
        say "using the certificates in $certs (FORCE=1 makes new ones)"
    else
        [ -x "$SCOPEGATE" ] || die "$SCOPEGATE not built (make build)"
        say "scopegate certs --out-dir $certs --service scopegate --namespace scopegate"
        "$SCOPEGATE" certs --out-dir "$certs" --service scopegate --namespace scopegate >/dev/null
    fi
fi

rendered=$(mktemp)
trap 'rm -f "$rendered"' EXIT
say "kubectl kustomize manifests/$OVERLAY"
kubectl kustomize "manifests/$OVERLAY" > "$rendered" || die "manifests/$OVERLAY does not render"

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
