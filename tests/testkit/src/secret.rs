//! Argo CD credential Secrets, built the way `kubectl create secret generic … --dry-run=client -o json`
//! prints them (`data` base64, `creationTimestamp: null`), then labelled and annotated.

use base64::Engine as _;
use serde_json::{Map, Value, json};

pub const SECRET_TYPE_LABEL: &str = "argocd.argoproj.io/secret-type";

/// A Secret manifest under construction.
#[derive(Debug, Clone)]
pub struct SecretBuilder {
    name: String,
    namespace: String,
    generate_name: bool,
    labels: Map<String, Value>,
    annotations: Map<String, Value>,
    data: Map<String, Value>,
    string_data: Map<String, Value>,
}

pub fn b64(s: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(s)
}

impl SecretBuilder {
    pub fn new(name: &str, namespace: &str) -> Self {
        Self {
            name: name.into(),
            namespace: namespace.into(),
            generate_name: false,
            labels: Map::new(),
            annotations: Map::new(),
            data: Map::new(),
            string_data: Map::new(),
        }
    }

    /// An Argo CD credential Secret of a type (`repository`, `repo-creds`, …).
    pub fn argocd(name: &str, secret_type: &str) -> Self {
        Self::new(name, "argocd").label(SECRET_TYPE_LABEL, secret_type)
    }

    /// Named by the API server from this prefix (`metadata.generateName`).
    pub fn generate_name(mut self) -> Self {
        self.generate_name = true;
        self
    }

    pub fn label(mut self, k: &str, v: &str) -> Self {
        self.labels.insert(k.into(), v.into());
        self
    }

    pub fn annotation(mut self, k: &str, v: &str) -> Self {
        self.annotations.insert(k.into(), v.into());
        self
    }

    /// A `data` key, base64-encoded as kubectl does (`--from-literal`).
    pub fn data(mut self, k: &str, v: &str) -> Self {
        self.data.insert(k.into(), b64(v).into());
        self
    }

    /// A `data` key with a raw (possibly invalid) base64 value.
    pub fn raw_data(mut self, k: &str, encoded: &str) -> Self {
        self.data.insert(k.into(), encoded.into());
        self
    }

    pub fn string_data(mut self, k: &str, v: &str) -> Self {
        self.string_data.insert(k.into(), v.into());
        self
    }

    /// `url`, `username` and `password`, the usual HTTPS credential.
    pub fn https(self, url: &str, username: &str, token: &str) -> Self {
        self.data("url", url).data("username", username).data("password", token)
    }

    pub fn build(self) -> Value {
        let mut metadata = Map::new();
        if self.generate_name {
            metadata.insert("generateName".into(), self.name.into());
        } else {
            metadata.insert("name".into(), self.name.into());
        }
        metadata.insert("namespace".into(), self.namespace.into());
        metadata.insert("creationTimestamp".into(), Value::Null);
        if !self.labels.is_empty() {
            metadata.insert("labels".into(), Value::Object(self.labels));
        }
        if !self.annotations.is_empty() {
            metadata.insert("annotations".into(), Value::Object(self.annotations));
        }
        let mut s = json!({"kind": "Secret", "apiVersion": "v1", "metadata": metadata});
        if !self.data.is_empty() {
            s["data"] = Value::Object(self.data);
        }
        if !self.string_data.is_empty() {
            s["stringData"] = Value::Object(self.string_data);
        }
        s
    }
}

/// A manifest as the API server hands it to admission: `stringData` folded into base64 `data`
/// ("StringData overwrites Data" in the v1 → internal conversion). Non-string values (a YAML `1`)
/// become their text.
pub fn admitted(mut secret: Value) -> Value {
    if let Some(Value::Object(sd)) = secret.as_object_mut().and_then(|o| o.remove("stringData")) {
        let data = secret
            .as_object_mut()
            .map(|o| o.entry("data").or_insert_with(|| Value::Object(Map::new())));
        if let Some(Value::Object(d)) = data {
            for (k, v) in sd {
                let s = v.as_str().map(str::to_owned).unwrap_or_else(|| v.to_string());
                d.insert(k, b64(&s).into());
            }
        }
    }
    secret
}

/// Every document of a YAML stream (`---`-separated), as JSON.
pub fn yaml_documents(text: &str) -> anyhow::Result<Vec<Value>> {
    use serde::Deserialize as _;
    let mut out = Vec::new();
    for doc in serde_norway::Deserializer::from_str(text) {
        let v = Value::deserialize(doc)?;
        if !v.is_null() {
            out.push(v);
        }
    }
    Ok(out)
}
