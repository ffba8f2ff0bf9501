//! AdmissionReview request bodies as kube-apiserver sends them to a webhook, modelled on a Secret
//! CREATE captured from a live API server (tests/fixtures/shared/admission-v1-secret-create-openshift…).

use serde_json::{Value, json};

/// An `admission.k8s.io/v1` AdmissionReview under construction.
#[derive(Debug, Clone)]
pub struct ReviewBuilder {
    uid: String,
    operation: &'static str,
    object: Value,
    old_object: Value,
    dry_run: bool,
    username: String,
    groups: Vec<String>,
}

fn counter() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(1);
    N.fetch_add(1, Ordering::Relaxed)
}

/// What the API server adds to an object before admission.
fn as_stored(mut obj: Value, uid: &str) -> Value {
    if let Some(m) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
        m.insert("uid".into(), uid.into());
        m.insert("creationTimestamp".into(), "2026-11-25T10:00:00Z".into());
        m.insert(
            "managedFields".into(),
            json!([{"manager": "kubectl-create", "operation": "Update", "apiVersion": "v1",
                    "time": "2026-11-25T10:00:00Z", "fieldsType": "FieldsV1",
                    "fieldsV1": {"f:data": {".": {}}, "f:type": {}}}]),
        );
    }
    if obj.get("type").is_none() {
        obj["type"] = "Opaque".into();
    }
    obj
}

impl ReviewBuilder {
    pub fn create(secret: Value) -> Self {
        let uid = format!("b9d17c49-1b2c-421a-8ae8-{:012x}", counter());
        Self {
            object: as_stored(secret, "544674ac-f0fb-4a30-994b-eab579e1f418"),
            uid,
            operation: "CREATE",
            old_object: Value::Null,
            dry_run: false,
            username: "kubernetes-admin".into(),
            groups: vec!["system:masters".into(), "system:authenticated".into()],
        }
    }

    pub fn update(old: Value, new: Value) -> Self {
        let mut b = Self::create(new);
        b.operation = "UPDATE";
        b.old_object = as_stored(old, "544674ac-f0fb-4a30-994b-eab579e1f418");
        b
    }

    pub fn delete(old: Value) -> Self {
        let mut b = Self::create(Value::Null);
        b.operation = "DELETE";
        b.object = Value::Null;
        b.old_object = as_stored(old, "544674ac-f0fb-4a30-994b-eab579e1f418");
        b
    }

    pub fn dry_run(mut self) -> Self {
        self.dry_run = true;
        self
    }

    pub fn user(mut self, name: &str, groups: &[&str]) -> Self {
        self.username = name.into();
        self.groups = groups.iter().map(|g| g.to_string()).collect();
        self
    }

    pub fn uid(&self) -> &str {
        &self.uid
    }

    pub fn build(&self) -> Value {
        let meta = |k: &str| {
            let o = if self.object.is_null() {
                &self.old_object
            } else {
                &self.object
            };
            o.pointer(&format!("/metadata/{k}")).cloned().unwrap_or(Value::Null)
        };
        let name = meta("name");
        let options_kind = match self.operation {
            "CREATE" => "CreateOptions",
            "UPDATE" => "UpdateOptions",
            _ => "DeleteOptions",
        };
        let mut options =
            json!({"kind": options_kind, "apiVersion": "meta.k8s.io/v1", "fieldManager": "kubectl-client-side-apply"});
        if self.dry_run {
            options["dryRun"] = json!(["All"]);
        }
        json!({
            "kind": "AdmissionReview",
            "apiVersion": "admission.k8s.io/v1",
            "request": {
                "uid": self.uid,
                "kind": {"group": "", "version": "v1", "kind": "Secret"},
                "resource": {"group": "", "version": "v1", "resource": "secrets"},
                "requestKind": {"group": "", "version": "v1", "kind": "Secret"},
                "requestResource": {"group": "", "version": "v1", "resource": "secrets"},
                "name": if name.is_null() { Value::String(String::new()) } else { name },
                "namespace": meta("namespace"),
                "operation": self.operation,
                "userInfo": {"username": self.username, "groups": self.groups},
                "object": self.object,
                "oldObject": self.old_object,
                "dryRun": self.dry_run,
                "options": options,
            }
        })
    }
}
