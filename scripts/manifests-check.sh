#!/usr/bin/env bash
# make manifests-check: render every overlay (and the HA component on each certificate overlay), then
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
# A copy, so that the self-signed overlay renders with throwaway certificates, never the tree's own.
cp -r manifests "$work/manifests"
"$SCOPEGATE" certs --out-dir "$work/manifests/self-signed/certs" >/dev/null 2>&1 \
    || die "scopegate certs failed"
mkdir -p "$work/render"

render() { # name dir
    say "render $1"
    "${RENDER[@]}" "$2" > "$work/render/$1.yaml" || die "$1 does not render"
}
for overlay in self-signed cert-manager monitoring audit; do
    render "$overlay" "$work/manifests/$overlay"
done
for overlay in self-signed cert-manager; do
    mkdir -p "$work/ha-$overlay"
    printf 'apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - ../manifests/%s\ncomponents:\n  - ../manifests/components/ha\n' \
        "$overlay" > "$work/ha-$overlay/kustomization.yaml"
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
"$PY" - "$work/manifests/monitoring" <<'PY'
import sys, yaml
d = sys.argv[1]
rule = yaml.safe_load(open(f"{d}/prometheusrule.yaml"))
assert rule["kind"] == "PrometheusRule", rule["kind"]
with open(f"{d}/tests/rules.yaml", "w") as f:
    yaml.safe_dump({"groups": rule["spec"]["groups"]}, f, sort_keys=False)
PY
"$PROMTOOL" check rules "$work/manifests/monitoring/tests/rules.yaml"
"$PROMTOOL" test rules "$work/manifests/monitoring/tests/alerts.test.yaml"

"$PY" -c 'import json, sys; json.load(open(sys.argv[1]))' manifests/monitoring/dashboard.json \
    || die "the dashboard is not JSON"
say "manifests-check: every overlay renders, validates and passes checkov; the alert rules check and pass their tests"
