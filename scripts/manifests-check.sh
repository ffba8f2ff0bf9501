#!/usr/bin/env bash
# make manifests-check: render every overlay, what make deploy applies for self-signed, and the HA
# component on both certificate overlays; then
#   - kubernetes-validate --strict against Kubernetes 1.30 and the newest version it knows;
#   - checkov (Kubernetes framework): zero failed checks (skips carry their reason in the manifests);
#   - promtool check rules and promtool test rules on the PrometheusRule;
#   - the Grafana dashboard is JSON.
# The semantic checks (selectors, match conditions, ports against the binary's flags, alert metric
# names against /metrics) are Rust tests: tests/deploy_manifests.rs.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
# shellcheck source=scripts/tools.sh
source scripts/tools.sh
SCOPEGATE=${SCOPEGATE:-$ROOT/target/debug/scopegate}
[ -x "$SCOPEGATE" ] || die "$SCOPEGATE not built (make build)"

find_renderer
find_python_tools
find_promtool

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/render"

render() { # name dir
    say "render $1"
    "${RENDER[@]}" "$2" > "$work/render/$1.yaml" || die "$1 does not render"
}
for overlay in self-signed cert-manager monitoring audit; do
    render "$overlay" "manifests/$overlay"
done
# What make deploy applies for self-signed: the overlay with the Secret and caBundle, from throwaway
# certificates (never the tree's own).
"$SCOPEGATE" certs --out-dir "$work/certs" >/dev/null 2>&1 || die "scopegate certs failed"
scripts/self-signed-kustomization.sh "$work/self-signed-deployed" "$work/certs"
render self-signed-deployed "$work/self-signed-deployed"
# The watch component (and its PolicyReport permissions) on both certificate overlays; on the
# cert-manager one with the enterprise component too (CA bundle mounts and proxy egress on both
# Deployments), which the self-signed one also gets alone.
for overlay in self-signed-deployed cert-manager; do
    mkdir -p "$work/watch-$overlay"
    base=$(realpath --relative-to="$work/watch-$overlay" "$ROOT/manifests/$overlay" 2>/dev/null)
    [ "$overlay" = self-signed-deployed ] && base=../self-signed-deployed
    extra=""
    [ "$overlay" = cert-manager ] && extra="  - $(realpath --relative-to="$work/watch-$overlay" "$ROOT/manifests/components/enterprise")\n"
    printf "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - %s\ncomponents:\n  - %s\n  - %s\n$extra" \
        "$base" "$(realpath --relative-to="$work/watch-$overlay" "$ROOT/manifests/watch")" \
        "$(realpath --relative-to="$work/watch-$overlay" "$ROOT/manifests/watch/policyreports")" \
        > "$work/watch-$overlay/kustomization.yaml"
    render "$overlay-watch" "$work/watch-$overlay"
done
mkdir -p "$work/enterprise"
printf 'apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - ../self-signed-deployed\ncomponents:\n  - %s\n' \
    "$(realpath --relative-to="$work/enterprise" "$ROOT/manifests/components/enterprise")" > "$work/enterprise/kustomization.yaml"
render self-signed-enterprise "$work/enterprise"
# A JSON patch whose target is missing applies to nothing, silently: the mounts must be there.
[ "$(grep -c 'mountPath: /etc/scopegate/provider-ca' "$work/render/cert-manager-watch.yaml")" = 2 ] \
    || die "the enterprise component does not mount the CA bundle into both Deployments"
[ "$(grep -c 'mountPath: /etc/scopegate/provider-ca' "$work/render/self-signed-enterprise.yaml")" = 1 ] \
    || die "the enterprise component does not mount the CA bundle into the webhook's Deployment"
# The documented namespaced variant of the watcher's permissions.
cp manifests/watch/namespaced-rbac.example.yaml "$work/render/watch-namespaced-rbac.yaml"
for overlay in self-signed-deployed cert-manager; do
    mkdir -p "$work/ha-$overlay"
    base=$(realpath --relative-to="$work/ha-$overlay" "$ROOT/manifests/$overlay" 2>/dev/null)
    [ "$overlay" = self-signed-deployed ] && base=../self-signed-deployed
    printf 'apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - %s\ncomponents:\n  - %s\n' \
        "$base" "$(realpath --relative-to="$work/ha-$overlay" "$ROOT/manifests/components/ha")" \
        > "$work/ha-$overlay/kustomization.yaml"
    render "$overlay-ha" "$work/ha-$overlay"
done

newest=$("$PY" -c 'import kubernetes_validate.utils as u; print(u.latest_version())' 2>/dev/null || echo 1.37.0)
for version in 1.30.0 "$newest"; do
    say "kubernetes-validate --strict -k $version"
    # Kinds it has no schema for (cert-manager's, the Prometheus Operator's) are reported, not failed.
    "$KUBERNETES_VALIDATE" --strict --quiet -k "$version" "$work"/render/*.yaml \
        || die "kubernetes-validate failed against $version"
done

say "checkov --framework kubernetes"
"$CHECKOV" --framework kubernetes -d "$work/render" --quiet --compact --skip-download \
    || die "checkov found failed checks"

say "promtool check rules / test rules"
mkdir -p "$work/rules"
cp manifests/monitoring/tests/alerts.test.yaml "$work/rules/"
"$PY" - manifests/monitoring/prometheusrule.yaml "$work/rules/rules.yaml" <<'PY'
import sys, yaml
rule = yaml.safe_load(open(sys.argv[1]))
assert rule["kind"] == "PrometheusRule", rule["kind"]
with open(sys.argv[2], "w") as f:
    yaml.safe_dump({"groups": rule["spec"]["groups"]}, f, sort_keys=False)
PY
"$PROMTOOL" check rules "$work/rules/rules.yaml"
"$PROMTOOL" test rules "$work/rules/alerts.test.yaml"

"$PY" -c 'import json, sys; json.load(open(sys.argv[1]))' manifests/monitoring/dashboard.json \
    || die "the dashboard is not JSON"
say "manifests-check: every overlay renders, validates and passes checkov; the alert rules check and pass their tests"
