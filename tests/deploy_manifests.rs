//! The deployment manifests (`manifests/`) agree with the binary and with themselves: the webhook
//! configurations send exactly the Secrets scopegate handles (their label selector and CEL match
//! conditions are evaluated here), never lock the cluster out, and are dry-run safe; the container's
//! arguments are flags the binary accepts, and its ports, probes and mounts line up with them; the
//! certificate overlays feed the Secret the Deployment mounts and the caBundle of every webhook; the
//! alerts and the dashboard only use metrics the binary exports.
//!
//! Rendering, schema validation, checkov and promtool run in `make manifests-check`.

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use clap::Parser;
use serde::Deserialize;
use serde_json::{Value, json};

use common::{Github, Harness, SecretBuilder, Served, providers_yaml};
use scopegate::cli::{Cli, Command};
use scopegate::config::Config;
use scopegate::fuzzing::{SecretObject, SecretType};
use scopegate_testkit::review::ReviewBuilder;

fn manifests() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("manifests")
}

/// Every document of a YAML file, as JSON values.
fn docs(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_norway::Deserializer::from_str(&text)
        .map(|d| Value::deserialize(d).unwrap_or_else(|e| panic!("{}: {e}", path.display())))
        .filter(|v| !v.is_null())
        .collect()
}

/// The objects of the base (every file its kustomization lists).
fn base() -> Vec<Value> {
    listed("base")
}

fn find<'a>(objects: &'a [Value], kind: &str, name: &str) -> &'a Value {
    objects
        .iter()
        .find(|o| o["kind"] == kind && o["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind} {name}"))
}

fn strings(v: &Value) -> Vec<&str> {
    v.as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

/// A label selector against labels: `matchLabels` and the `In`/`NotIn`/`Exists`/`DoesNotExist`
/// expressions, as the API server evaluates them.
fn selects(selector: &Value, labels: &Value) -> bool {
    let label = |k: &str| labels.get(k).and_then(Value::as_str);
    if let Some(m) = selector["matchLabels"].as_object()
        && !m.iter().all(|(k, v)| label(k) == v.as_str())
    {
        return false;
    }
    selector["matchExpressions"]
        .as_array()
        .map(|exprs| {
            exprs.iter().all(|e| {
                let key = e["key"].as_str().expect("key");
                let values = strings(&e["values"]);
                match e["operator"].as_str().expect("operator") {
                    "In" => label(key).is_some_and(|v| values.contains(&v)),
                    "NotIn" => label(key).is_none_or(|v| !values.contains(&v)),
                    "Exists" => label(key).is_some(),
                    "DoesNotExist" => label(key).is_none(),
                    other => panic!("unknown operator {other}"),
                }
            })
        })
        .unwrap_or(true)
}

/// A webhook's CEL match conditions against a request's object: all true → called.
fn conditions_match(webhook: &Value, object: &Value) -> bool {
    let Some(conditions) = webhook["matchConditions"].as_array() else {
        return true;
    };
    conditions.iter().all(|c| {
        let expr = c["expression"].as_str().expect("expression");
        let program = cel::Program::compile(expr).unwrap_or_else(|e| panic!("{expr}: {e}"));
        let mut ctx = cel::Context::default();
        ctx.add_variable("object", object.clone()).expect("object");
        match program.execute(&ctx) {
            Ok(cel::Value::Bool(b)) => b,
            other => panic!("{} on {object}: {other:?}", c["name"]),
        }
    })
}

/// Whether the API server would call this webhook for a CREATE of `secret` in `namespace`.
fn calls(webhook: &Value, namespace: &Value, secret: &Value) -> bool {
    let empty = json!({});
    selects(&webhook["namespaceSelector"], &namespace["metadata"]["labels"])
        && selects(
            webhook.get("objectSelector").unwrap_or(&empty),
            secret["metadata"].get("labels").unwrap_or(&empty),
        )
        && conditions_match(webhook, secret)
}

fn namespace_object(name: &str) -> Value {
    json!({"metadata": {"name": name, "labels": {"kubernetes.io/metadata.name": name}}})
}

fn secret(name: Option<&str>, generate_name: Option<&str>, secret_type: Option<&str>) -> Value {
    let mut metadata = json!({"namespace": "argocd"});
    if let Some(n) = name {
        metadata["name"] = json!(n);
    }
    if let Some(g) = generate_name {
        metadata["generateName"] = json!(g);
    }
    if let Some(t) = secret_type {
        metadata["labels"] = json!({"argocd.argoproj.io/secret-type": t, "team": "platform"});
    }
    json!({"apiVersion": "v1", "kind": "Secret", "metadata": metadata, "type": "Opaque"})
}

fn handled(secret: &Value) -> bool {
    let obj: kube::core::DynamicObject = serde_json::from_value(secret.clone()).expect("a Secret");
    SecretObject::from_dynamic(&obj).is_handled()
}

#[test]
fn the_webhooks_are_called_for_exactly_the_secrets_scopegate_handles() {
    let objects = base();
    let namespace = find(&objects, "Namespace", "scopegate");
    let own = namespace["metadata"]["name"].as_str().expect("namespace name");
    let service = find(&objects, "Service", "scopegate");
    let service_port = service["spec"]["ports"][0]["port"].clone();
    for (kind, path, policy) in [
        ("ValidatingWebhookConfiguration", "/validate", "Fail"),
        ("MutatingWebhookConfiguration", "/mutate", "Ignore"),
    ] {
        let config = find(&objects, kind, "scopegate");
        let webhooks = config["webhooks"].as_array().expect("webhooks");
        assert_eq!(webhooks.len(), 2, "{kind}: labelled Secrets, and git-default-*");
        let mut names = BTreeSet::new();
        for w in webhooks {
            let name = w["name"].as_str().expect("name");
            assert!(name.ends_with(".scopegate.dev") && names.insert(name), "{kind}: {name}");
            assert_eq!(w["admissionReviewVersions"], json!(["v1"]), "{name}");
            assert_eq!(w["sideEffects"], "None", "{name}: --dry-run=server must be served");
            assert_eq!(w["timeoutSeconds"], 5, "{name}");
            assert_eq!(w["failurePolicy"], policy, "{name}");
            assert_eq!(
                w["clientConfig"]["service"],
                json!({"name": service["metadata"]["name"], "namespace": own, "path": path, "port": service_port}),
                "{name}"
            );
            assert_eq!(
                w["clientConfig"].get("caBundle"),
                None,
                "{name}: the overlays fill caBundle"
            );
            assert_eq!(
                w["rules"],
                json!([{"apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE", "UPDATE"],
                        "resources": ["secrets"], "scope": "Namespaced"}]),
                "{name}"
            );
            // Never kube-system or scopegate's own namespace (its TLS Secret): no lock-out.
            for ns in ["kube-system", own] {
                assert!(
                    !selects(&w["namespaceSelector"], &namespace_object(ns)["metadata"]["labels"]),
                    "{name}: {ns}"
                );
            }
            assert!(selects(
                &w["namespaceSelector"],
                &namespace_object("argocd")["metadata"]["labels"]
            ));
        }
        // The label selector names exactly the secret types scopegate knows.
        let values: BTreeSet<&str> = strings(&webhooks[0]["objectSelector"]["matchExpressions"][0]["values"])
            .into_iter()
            .collect();
        let known: BTreeSet<&str> = SecretType::all().map(SecretType::as_str).collect();
        assert_eq!(values, known, "{kind}");
        assert_eq!(
            webhooks[0]["objectSelector"]["matchExpressions"][0]["key"],
            "argocd.argoproj.io/secret-type"
        );

        // Sample Secrets: called by exactly one entry when scopegate handles them, by none otherwise.
        let argocd = namespace_object("argocd");
        let mut samples = vec![
            secret(Some("git-default-alice"), None, None),
            secret(None, Some("git-default-"), None),
            secret(Some("git-default-bob"), None, Some("repository")),
            secret(Some("git-default-carol"), None, Some("helm-oci")),
            secret(Some("runtime-repo-creds-secret"), None, Some("repo-creds")),
            secret(Some("argocd-secret"), None, None),
            secret(Some("default-git-token"), None, None),
            secret(Some("my-git-default-x"), None, None),
            secret(Some("cluster-prod"), None, Some("cluster")),
            secret(None, Some("repo-"), Some("repository")),
        ];
        samples.extend(SecretType::all().map(|t| secret(Some("creds"), None, Some(t.as_str()))));
        for s in &samples {
            let called: Vec<&str> = webhooks
                .iter()
                .filter(|w| calls(w, &argocd, s))
                .filter_map(|w| w["name"].as_str())
                .collect();
            let expected = usize::from(handled(s));
            assert_eq!(
                called.len(),
                expected,
                "{kind}: {} is called by {called:?}",
                s["metadata"]
            );
        }
    }
}

/// The Deployment's container.
fn container(objects: &[Value]) -> &Value {
    let d = find(objects, "Deployment", "scopegate");
    let containers = d["spec"]["template"]["spec"]["containers"]
        .as_array()
        .expect("containers");
    assert_eq!(containers.len(), 1);
    &containers[0]
}

fn container_port(c: &Value, name: &str) -> u16 {
    c["ports"]
        .as_array()
        .and_then(|ps| ps.iter().find(|p| p["name"] == name))
        .and_then(|p| p["containerPort"].as_u64())
        .and_then(|p| u16::try_from(p).ok())
        .unwrap_or_else(|| panic!("no container port {name}"))
}

/// The mount path of the volume that a predicate picks.
fn mount_of(objects: &[Value], pick: impl Fn(&Value) -> bool) -> (String, Value) {
    let spec = &find(objects, "Deployment", "scopegate")["spec"]["template"]["spec"];
    let volume = spec["volumes"]
        .as_array()
        .and_then(|vs| vs.iter().find(|v| pick(v)))
        .expect("volume");
    let mount = container(objects)["volumeMounts"]
        .as_array()
        .and_then(|ms| ms.iter().find(|m| m["name"] == volume["name"]))
        .expect("mount");
    assert_eq!(mount["readOnly"], true, "{mount}");
    (mount["mountPath"].as_str().expect("path").to_owned(), volume.clone())
}

#[tokio::test]
async fn the_deployment_runs_the_binary_with_flags_it_accepts_and_its_ports_probes_and_mounts_agree() {
    let objects = base();
    let c = container(&objects);
    let args = strings(&c["args"]);
    let cli = Cli::try_parse_from(std::iter::once("scopegate").chain(args.iter().copied()))
        .unwrap_or_else(|e| panic!("the container's args are not scopegate's: {e}"));
    let Command::Serve(serve) = cli.command else {
        panic!("the container does not serve")
    };
    assert_eq!(serve.listen.port(), container_port(c, "webhook"));
    let admin = serve.admin_listen.port();
    assert_eq!(admin, container_port(c, "admin"));

    // The Service sends 443 to the webhook port; the NetworkPolicy lets it in.
    let service = find(&objects, "Service", "scopegate");
    assert_eq!(service["spec"]["ports"][0]["targetPort"], "webhook");
    let np = find(&objects, "NetworkPolicy", "scopegate");
    assert_eq!(np["spec"]["ingress"][0]["ports"][0]["port"], "webhook");
    let pod_labels = &find(&objects, "Deployment", "scopegate")["spec"]["template"]["metadata"]["labels"];
    for (what, selector) in [
        ("Service", json!({"matchLabels": service["spec"]["selector"]})),
        ("NetworkPolicy", np["spec"]["podSelector"].clone()),
        (
            "PodDisruptionBudget",
            find(&objects, "PodDisruptionBudget", "scopegate")["spec"]["selector"].clone(),
        ),
    ] {
        assert!(selects(&selector, pod_labels), "{what} does not select the pods");
    }
    assert_eq!(
        find(&objects, "PodDisruptionBudget", "scopegate")["spec"]["minAvailable"],
        1
    );

    // Probes on the admin port, at paths the admin port serves.
    let h = Harness::start("").await;
    for (probe, path) in [("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")] {
        assert_eq!(c[probe]["httpGet"]["port"], "admin", "{probe}");
        assert_eq!(c[probe]["httpGet"]["path"], path, "{probe}");
        let (status, body) = h.admin_get(path).await;
        assert_eq!(status, 200, "{path}: {body}");
    }

    // The certificate and key come from the TLS Secret's mount, the configuration from the ConfigMap's.
    let (tls_dir, tls) = mount_of(&objects, |v| v["secret"]["secretName"].is_string());
    assert_eq!(tls["secret"]["secretName"], "scopegate-tls");
    assert_eq!(serve.tls_cert, Path::new(&tls_dir).join("tls.crt"));
    assert_eq!(serve.tls_key, Path::new(&tls_dir).join("tls.key"));
    let (config_dir, config) = mount_of(&objects, |v| v["configMap"]["name"].is_string());
    let k = &docs(&manifests().join("base/kustomization.yaml"))[0];
    let generated = &k["configMapGenerator"][0];
    assert_eq!(config["configMap"]["name"], generated["name"]);
    let file = strings(&generated["files"])[0];
    assert_eq!(
        serve.config.as_deref(),
        Some(Path::new(&config_dir).join(file).as_path())
    );
    let text = std::fs::read_to_string(manifests().join("base").join(file)).expect("config.yaml");
    Config::from_yaml(&text).unwrap_or_else(|e| panic!("the shipped configuration does not load: {e}"));

    // Hardening.
    let pod = &find(&objects, "Deployment", "scopegate")["spec"]["template"]["spec"];
    assert_eq!(pod["automountServiceAccountToken"], false);
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    assert_eq!(pod["securityContext"]["seccompProfile"]["type"], "RuntimeDefault");
    let sc = &c["securityContext"];
    assert_eq!(sc["readOnlyRootFilesystem"], true);
    assert_eq!(sc["allowPrivilegeEscalation"], false);
    assert_eq!(sc["capabilities"]["drop"], json!(["ALL"]));
    for r in ["cpu", "memory"] {
        assert!(c["resources"]["requests"][r].is_string(), "{r} request");
        assert!(c["resources"]["limits"][r].is_string(), "{r} limit");
    }
    assert_eq!(
        find(&objects, "ServiceAccount", "scopegate")["automountServiceAccountToken"],
        false
    );
    // Nothing in the base grants the webhook's ServiceAccount anything.
    assert!(
        !objects
            .iter()
            .any(|o| o["kind"].as_str().is_some_and(|k| k.ends_with("Binding"))),
        "the base binds no role"
    );
}

/// The objects of a kustomization or component directory (every file it lists as a resource).
fn listed(dir: &str) -> Vec<Value> {
    let dir = manifests().join(dir);
    let k = &docs(&dir.join("kustomization.yaml"))[0];
    k["resources"]
        .as_array()
        .expect("resources")
        .iter()
        .flat_map(|r| docs(&dir.join(r.as_str().expect("a file name"))))
        .collect()
}

/// `(apiGroup, resource, sorted verbs)` of a role's rules.
fn rules(role: &Value) -> Vec<(String, String, Vec<String>)> {
    let mut out = Vec::new();
    for r in role["rules"].as_array().expect("rules") {
        for g in strings(&r["apiGroups"]) {
            for res in strings(&r["resources"]) {
                let mut verbs: Vec<String> = strings(&r["verbs"]).into_iter().map(str::to_owned).collect();
                verbs.sort();
                out.push((g.to_owned(), res.to_owned(), verbs));
            }
        }
    }
    out
}

#[tokio::test]
async fn the_watch_component_runs_scopegate_watch_with_the_permissions_it_needs_and_no_more() {
    let objects = listed("watch");
    let d = find(&objects, "Deployment", "scopegate-watch");
    let pod = &d["spec"]["template"]["spec"];
    let c = &pod["containers"][0];
    let args = strings(&c["args"]);
    let cli = Cli::try_parse_from(std::iter::once("scopegate").chain(args.iter().copied()))
        .unwrap_or_else(|e| panic!("the watcher's args are not scopegate's: {e}"));
    let Command::Watch(watch) = cli.command else {
        panic!("the container does not watch")
    };
    assert!(!watch.no_leader_election, "two replicas elect a leader");
    assert_eq!(d["spec"]["replicas"], 2);
    assert_eq!(watch.admin_listen.port(), container_port(c, "admin"));
    for (probe, path) in [("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")] {
        assert_eq!(c[probe]["httpGet"]["port"], "admin", "{probe}");
        assert_eq!(c[probe]["httpGet"]["path"], path, "{probe}");
    }
    // The Lease's holder and namespace come from the downward API.
    let env = c["env"].as_array().expect("env");
    for (name, field) in [("POD_NAME", "metadata.name"), ("POD_NAMESPACE", "metadata.namespace")] {
        let e = env
            .iter()
            .find(|e| e["name"] == name)
            .unwrap_or_else(|| panic!("no {name}"));
        assert_eq!(e["valueFrom"]["fieldRef"]["fieldPath"], field);
    }
    // The webhooks' configuration.
    let config = pod["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["configMap"].is_object())
        .expect("config");
    assert_eq!(config["configMap"]["name"], "scopegate-config");
    let mount = c["volumeMounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == config["name"])
        .expect("mount");
    assert_eq!(
        watch.config.as_deref(),
        Some(
            Path::new(mount["mountPath"].as_str().unwrap())
                .join("config.yaml")
                .as_path()
        )
    );
    // Hardened as the webhook is; its own ServiceAccount.
    assert_eq!(pod["serviceAccountName"], "scopegate-watch");
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    assert_eq!(c["securityContext"]["readOnlyRootFilesystem"], true);
    assert_eq!(c["securityContext"]["allowPrivilegeEscalation"], false);
    assert_eq!(c["securityContext"]["capabilities"]["drop"], json!(["ALL"]));
    for r in ["cpu", "memory"] {
        assert!(
            c["resources"]["requests"][r].is_string() && c["resources"]["limits"][r].is_string(),
            "{r}"
        );
    }
    let pod_labels = &d["spec"]["template"]["metadata"]["labels"];
    for (kind, name) in [
        ("NetworkPolicy", "scopegate-watch"),
        ("PodDisruptionBudget", "scopegate-watch"),
    ] {
        let o = find(&objects, kind, name);
        let selector = if kind == "NetworkPolicy" {
            &o["spec"]["podSelector"]
        } else {
            &o["spec"]["selector"]
        };
        assert!(selects(selector, pod_labels), "{kind}");
    }
    let svc = find(&objects, "Service", "scopegate-watch-metrics");
    assert!(selects(&json!({"matchLabels": svc["spec"]["selector"]}), pod_labels));
    let sm = &docs(&manifests().join("monitoring/servicemonitor.yaml"))[0];
    assert!(
        selects(&sm["spec"]["selector"], &svc["metadata"]["labels"]),
        "the ServiceMonitor scrapes it"
    );

    // Exactly: Secrets and the objects that use them read, Events written, cluster-wide; Argo CD's
    // parameters by name in Argo CD's namespace; the Lease in its own namespace.
    let read = || vec!["get".to_owned(), "list".into(), "watch".into()];
    let cluster = find(&objects, "ClusterRole", "scopegate-watch");
    assert_eq!(
        rules(cluster),
        [
            ("".to_owned(), "secrets".to_owned(), read()),
            (
                "events.k8s.io".to_owned(),
                "events".to_owned(),
                vec!["create".to_owned(), "patch".into()]
            ),
            ("argoproj.io".to_owned(), "applications".to_owned(), read()),
            ("argoproj.io".to_owned(), "applicationsets".to_owned(), read()),
            (
                "argocd-image-updater.argoproj.io".to_owned(),
                "imageupdaters".to_owned(),
                read()
            ),
        ]
    );
    let params = find(&objects, "Role", "scopegate-watch-argocd-params");
    assert_eq!(params["metadata"]["namespace"], "argocd");
    assert_eq!(
        rules(params),
        [("".to_owned(), "configmaps".to_owned(), vec!["get".to_owned()])]
    );
    assert_eq!(params["rules"][0]["resourceNames"], json!(["argocd-cmd-params-cm"]));
    let lease = find(&objects, "Role", "scopegate-watch-lease");
    assert_eq!(lease["metadata"]["namespace"], "scopegate");
    assert_eq!(
        rules(lease),
        [(
            "coordination.k8s.io".to_owned(),
            "leases".to_owned(),
            vec!["create".to_owned(), "get".into(), "patch".into(), "update".into()]
        )]
    );
    for o in objects
        .iter()
        .filter(|o| o["kind"].as_str().is_some_and(|k| k.ends_with("Binding")))
    {
        for s in o["subjects"].as_array().unwrap() {
            assert_eq!(s["name"], "scopegate-watch", "{o}");
        }
    }
    // PolicyReports only with the policyreports component.
    assert!(!objects.iter().any(|o| o.to_string().contains("policyreports")));
    let reports = listed("watch/policyreports");
    let role = find(&reports, "ClusterRole", "scopegate-watch-policyreports");
    assert_eq!(rules(role)[0].1, "policyreports");
    // The documented namespaced variant grants the same, in chosen namespaces only.
    let namespaced = docs(&manifests().join("watch/namespaced-rbac.example.yaml"));
    for role in namespaced.iter().filter(|o| o["kind"] == "Role") {
        assert_eq!(rules(role), rules(cluster), "{role}");
    }
    assert!(
        !namespaced
            .iter()
            .any(|o| o["kind"].as_str().is_some_and(|k| k.starts_with("Cluster")))
    );
}

#[test]
fn both_certificate_overlays_feed_the_mounted_secret_and_every_webhooks_ca_bundle() {
    let objects = base();
    let (_, tls) = mount_of(&objects, |v| v["secret"]["secretName"].is_string());
    let secret_name = tls["secret"]["secretName"].as_str().expect("secretName");
    let service = find(&objects, "Service", "scopegate");
    let dns = format!(
        "{}.{}.svc",
        service["metadata"]["name"].as_str().expect("name"),
        service["metadata"]["namespace"].as_str().expect("namespace")
    );
    let webhook_count = |kind: &str| {
        find(&objects, kind, "scopegate")["webhooks"]
            .as_array()
            .map(Vec::len)
            .unwrap_or(0)
    };

    // self-signed, as make deploy applies it: the kustomization scripts/self-signed-kustomization.sh
    // generates beside certificates from `scopegate certs` adds the mounted Secret and the CA as every
    // webhook's caBundle — and, through a change of CA, keeps the previous one after it.
    let dir = tempfile::tempdir().expect("tempdir");
    let issue = |sub: &str| {
        let d = dir.path().join(sub);
        let issued =
            scopegate::certs::issue(&scopegate::certs::CertRequest::new("scopegate", "scopegate")).expect("certs");
        scopegate::certs::write(&d, &issued).expect("write");
        (d, issued)
    };
    let (certs, issued) = issue("certs");
    let (_, previous) = issue("previous");
    let previous_pem = dir.path().join("previous/ca.crt");
    for (out, prev, wanted_pem) in [
        ("plain", None, issued.ca_cert.clone()),
        (
            "rotated",
            Some(&previous_pem),
            format!("{}\n{}", issued.ca_cert.trim_end(), previous.ca_cert.trim_end()),
        ),
        ("same", Some(&certs.join("ca.crt")), issued.ca_cert.clone()),
    ] {
        let out = dir.path().join(out);
        let mut cmd = std::process::Command::new("bash");
        cmd.arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/self-signed-kustomization.sh"))
            .arg(&out)
            .arg(&certs);
        if let Some(p) = prev {
            cmd.arg(p);
        }
        let status = cmd.status().expect("bash");
        assert!(status.success());
        let k = &docs(&out.join("kustomization.yaml"))[0];
        let generator = &k["secretGenerator"][0];
        assert_eq!(generator["name"], secret_name);
        assert_eq!(generator["options"]["disableNameSuffixHash"], true);
        assert_eq!(strings(&generator["files"]), ["tls.crt", "tls.key", "ca.crt"]);
        assert_eq!(
            std::fs::read_to_string(out.join("tls.crt")).expect("tls.crt"),
            issued.cert
        );
        for kind in ["ValidatingWebhookConfiguration", "MutatingWebhookConfiguration"] {
            let patch = k["patches"]
                .as_array()
                .and_then(|ps| ps.iter().find(|p| p["target"]["kind"] == kind))
                .unwrap_or_else(|| panic!("no caBundle for {kind}"));
            let ops: Value = serde_norway::from_str(patch["patch"].as_str().expect("patch")).expect("ops");
            let ops = ops.as_array().expect("ops");
            assert_eq!(ops.len(), webhook_count(kind), "{kind}: every entry");
            for (i, op) in ops.iter().enumerate() {
                assert_eq!(op["path"], format!("/webhooks/{i}/clientConfig/caBundle"));
                let bundle = base64::Engine::decode(
                    &base64::engine::general_purpose::STANDARD,
                    op["value"].as_str().expect("base64"),
                )
                .expect("base64");
                assert_eq!(
                    String::from_utf8(bundle).expect("PEM").trim_end(),
                    wanted_pem.trim_end(),
                    "{kind}"
                );
            }
        }
    }
    // `scopegate certs` (as make deploy runs it, with its defaults) covers the Service's name.
    let cli = Cli::try_parse_from(["scopegate", "certs", "--out-dir", "certs"]).expect("certs args");
    let Command::Certs(c) = cli.command else {
        panic!("not certs")
    };
    let sans = scopegate::certs::CertRequest::new(&c.service, &c.namespace).sans();
    assert!(sans.contains(&dns), "scopegate certs covers {dns}: {sans:?}");

    // cert-manager: the Certificate writes the mounted Secret, for the Service's name, and the CA
    // injector is pointed at it on both configurations.
    let certs = docs(&manifests().join("cert-manager/certificates.yaml"));
    let cert = certs
        .iter()
        .find(|c| c["kind"] == "Certificate" && c["spec"]["secretName"] == secret_name)
        .expect("a Certificate for the serving Secret");
    assert!(strings(&cert["spec"]["dnsNames"]).contains(&dns.as_str()), "{dns}");
    let issuer = cert["spec"]["issuerRef"]["name"].as_str().expect("issuer");
    assert!(
        certs
            .iter()
            .any(|c| c["kind"] == "Issuer" && c["metadata"]["name"] == issuer),
        "{issuer}"
    );
    let inject = format!(
        "{}/{}",
        cert["metadata"]["namespace"].as_str().expect("namespace"),
        cert["metadata"]["name"].as_str().expect("name")
    );
    let k = &docs(&manifests().join("cert-manager/kustomization.yaml"))[0];
    for kind in ["ValidatingWebhookConfiguration", "MutatingWebhookConfiguration"] {
        let patch = k["patches"]
            .as_array()
            .and_then(|ps| ps.iter().find(|p| p["target"]["kind"] == kind))
            .unwrap_or_else(|| panic!("no patch for {kind}"));
        let ops: Value = serde_norway::from_str(patch["patch"].as_str().expect("patch")).expect("ops");
        assert_eq!(ops[0]["value"]["cert-manager.io/inject-ca-from"], inject, "{kind}");
    }
}

/// `scopegate_…` names in a text (PromQL expressions, dashboard JSON).
fn metric_names(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut rest = text;
    while let Some(i) = rest.find("scopegate_") {
        let tail = &rest[i..];
        let end = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(tail.len());
        names.insert(tail[..end].to_owned());
        rest = &tail[end..];
    }
    names
}

#[tokio::test]
async fn alerts_and_dashboard_use_only_metrics_the_binary_exports() {
    let rules = docs(&manifests().join("monitoring/prometheusrule.yaml"));
    let mut used = BTreeSet::new();
    let mut alerts = 0;
    for group in rules[0]["spec"]["groups"].as_array().expect("groups") {
        for rule in group["rules"].as_array().expect("rules") {
            alerts += 1;
            used.extend(metric_names(rule["expr"].as_str().expect("expr")));
        }
    }
    assert!(alerts >= 6, "{alerts} alerts");
    let dashboard = std::fs::read_to_string(manifests().join("monitoring/dashboard.json")).expect("dashboard");
    let dashboard: Value = serde_json::from_str(&dashboard).expect("dashboard JSON");
    let mut exprs = Vec::new();
    for panel in dashboard["panels"].as_array().expect("panels") {
        for target in panel["targets"].as_array().expect("targets") {
            exprs.push(target["expr"].as_str().expect("expr").to_owned());
        }
    }
    let from_dashboard: BTreeSet<String> = exprs.iter().flat_map(|e| metric_names(e)).collect();
    // What the issue's alerts and panels are about.
    for name in [
        "scopegate_token_expiry_timestamp_seconds",
        "scopegate_admission_duration_seconds_bucket",
        "scopegate_provider_requests_total",
        "scopegate_certificate_expiry_timestamp_seconds",
        "scopegate_credential_expiry_timestamp_seconds",
        "scopegate_credential_verdict",
        "scopegate_credential_last_checked_timestamp_seconds",
        "scopegate_watch_leader",
        "scopegate_repository_access",
        "scopegate_scm_credential_verdict",
    ] {
        assert!(used.contains(name), "no alert on {name}");
    }
    for name in [
        "scopegate_admission_requests_total",
        "scopegate_cache_hits_total",
        "scopegate_cache_misses_total",
        "scopegate_token_expiry_timestamp_seconds",
        "scopegate_provider_requests_total",
        "scopegate_watch_credentials",
        "scopegate_credential_expiry_timestamp_seconds",
        "scopegate_repository_access",
        "scopegate_scm_credential_verdict",
    ] {
        assert!(from_dashboard.contains(name), "no panel on {name}");
    }
    used.extend(from_dashboard);

    // The families /metrics declares, with their types, once one review went through: a GitHub token
    // that expires (histograms and the expiry gauge have series only once something was observed).
    let gh = wiremock::MockServer::start().await;
    Github::on(&gh)
        .classic(
            "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",
            "bot",
            "repo",
            Some("2031-01-01 00:00:00 UTC"),
        )
        .await;
    let h = Harness::start(&providers_yaml(&gh)).await;
    let s = SecretBuilder::argocd("app", "repository")
        .https(
            "https://github.com/acme/app",
            "x",
            "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",
        )
        .build();
    assert_eq!(h.validate(&ReviewBuilder::create(s)).await["allowed"], true);
    let (status, mut text) = h.admin_get("/metrics").await;
    assert_eq!(status, 200);
    // And the watcher's, once it judged a Secret whose token expires.
    let kube = scopegate_testkit::kube_api::FakeKube::start().await.unwrap();
    kube.add(
        SecretBuilder::argocd("app", "repository")
            .https(
                "https://github.com/acme/app",
                "x",
                "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",
            )
            .build(),
    );
    // And the uses of it: an Application's repository, an ApplicationSet generator's token.
    kube.add(json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
                    "metadata": {"name": "guestbook", "namespace": "argocd"},
                    "spec": {"source": {"repoURL": "https://github.com/acme/app"}}}));
    kube.add(
        SecretBuilder::new("scm-token", "argocd")
            .data("token", "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")
            .build(),
    );
    kube.add(json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "ApplicationSet",
                    "metadata": {"name": "previews", "namespace": "argocd"},
                    "spec": {"generators": [{"scmProvider": {"github": {"organization": "acme",
                             "tokenRef": {"secretName": "scm-token", "key": "token"}}}}]}}));
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("kubeconfig"), kube.kubeconfig("scopegate")).unwrap();
    std::fs::write(dir.path().join("config.yaml"), providers_yaml(&gh)).unwrap();
    let watcher = Served::watch(
        &[
            "watch".as_ref(),
            "--no-leader-election".as_ref(),
            "--kubeconfig".as_ref(),
            dir.path().join("kubeconfig").as_os_str(),
            "--config".as_ref(),
            dir.path().join("config.yaml").as_os_str(),
        ],
        &[("RUST_LOG", "info")],
    );
    let watcher = tokio::task::spawn_blocking(move || {
        watcher.wait_for_all(&["verdict changed", "name=app", "new=ok"]);
        watcher.wait_for_all(&["use verdict changed", "name=guestbook"]);
        watcher.wait_for_all(&["use verdict changed", "name=previews"]);
        watcher
    })
    .await
    .unwrap();
    text.push_str(&watcher.admin_get("/metrics"));
    watcher.terminate();
    let exported: Vec<(String, String)> = text
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split_once(' '))
        .map(|(n, t)| (n.to_owned(), t.to_owned()))
        .collect();
    let kind_of = |family: &str| exported.iter().find(|(n, _)| n == family).map(|(_, t)| t.as_str());
    for name in &used {
        // In the 0.0.4 text format a counter's TYPE line names the series (`…_total`).
        let (family, wanted) = if let Some(f) = name.strip_suffix("_bucket") {
            (f, "histogram")
        } else if name.ends_with("_total") {
            (name.as_str(), "counter")
        } else {
            (name.as_str(), "gauge")
        };
        assert_eq!(
            kind_of(family),
            Some(wanted),
            "{name} is used but /metrics has no {wanted} {family}: {exported:?}"
        );
    }

    // The ServiceMonitor scrapes the admin port through the metrics Service.
    let svc = &docs(&manifests().join("monitoring/service.yaml"))[0];
    let sm = &docs(&manifests().join("monitoring/servicemonitor.yaml"))[0];
    assert_eq!(svc["spec"]["ports"][0]["targetPort"], "admin");
    assert_eq!(sm["spec"]["endpoints"][0]["port"], svc["spec"]["ports"][0]["name"]);
    assert_eq!(sm["spec"]["endpoints"][0]["path"], "/metrics");
    assert!(selects(&sm["spec"]["selector"], &svc["metadata"]["labels"]));
}
