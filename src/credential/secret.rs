//! A Kubernetes Secret reduced to what scopegate reads: who it is, its labels and annotations, and the
//! credential fields, decoded once when the Secret is read into the redacting [`Token`] type (a `stringData` key over the same `data`
//! key, as the API server folds them). Nothing else of the Secret is kept: no other key's value, and the
//! values of keys that only matter by their presence (private keys, certificates) are dropped after
//! they are looked at.

use std::collections::BTreeMap;

use base64::Engine as _;
use kube::core::DynamicObject;
use serde_json::Value;
use zeroize::Zeroizing;

use crate::token::Token;

/// A Secret field that cannot be used as written: which field, and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MalformedField {
    /// `data.password`, `stringData.url`, or the bare key when the field is missing.
    pub field: String,
    /// What is wrong, as the end of a sentence that starts with the field: "is not valid base64 …".
    pub defect: String,
    /// The value has surrounding whitespace or a trailing newline.
    pub whitespace: bool,
}

impl MalformedField {
    pub(crate) fn new(field: String, defect: impl Into<String>) -> Self {
        Self {
            field,
            defect: defect.into(),
            whitespace: false,
        }
    }
}

/// The keys of an Argo CD credential Secret that scopegate reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::IntoStaticStr, strum::EnumCount, strum::EnumIter)]
pub enum FieldName {
    #[strum(serialize = "url")]
    Url,
    #[strum(serialize = "username")]
    Username,
    #[strum(serialize = "password")]
    Password,
    #[strum(serialize = "bearerToken")]
    BearerToken,
    #[strum(serialize = "type")]
    Type,
    #[strum(serialize = "githubAppID")]
    GithubAppId,
    #[strum(serialize = "githubAppInstallationID")]
    GithubAppInstallationId,
    #[strum(serialize = "githubAppPrivateKey")]
    GithubAppPrivateKey,
    #[strum(serialize = "githubAppEnterpriseBaseUrl")]
    GithubAppEnterpriseBaseUrl,
    /// Argo CD sends `password` with HTTP Basic itself, even when `bearerToken` is set.
    #[strum(serialize = "forceHttpBasicAuth")]
    ForceHttpBasicAuth,
    /// Argo CD skips certificate verification for the repository.
    #[strum(serialize = "insecure")]
    Insecure,
    /// The project a `repository` Secret is scoped to (Argo CD chooses it first for that project's
    /// Applications).
    #[strum(serialize = "project")]
    Project,
    // Read for their presence only: their values are never kept.
    #[strum(serialize = "sshPrivateKey")]
    SshPrivateKey,
    #[strum(serialize = "tlsClientCertData")]
    TlsClientCertData,
    #[strum(serialize = "gcpServiceAccountKey")]
    GcpServiceAccountKey,
    #[strum(serialize = "azureServicePrincipalClientSecret")]
    AzureServicePrincipalClientSecret,
    #[strum(serialize = "useAzureWorkloadIdentity")]
    UseAzureWorkloadIdentity,
}

impl FieldName {
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// Whether only the key's presence matters (its value is dropped once looked at).
    fn presence_only(self) -> bool {
        matches!(
            self,
            FieldName::SshPrivateKey
                | FieldName::TlsClientCertData
                | FieldName::GcpServiceAccountKey
                | FieldName::AzureServicePrincipalClientSecret
                | FieldName::UseAzureWorkloadIdentity
        )
    }
}

/// One key as read from the Secret.
#[derive(Clone, Default, PartialEq, Eq)]
struct Field {
    /// The key is in `stringData` (else in `data`, or absent).
    in_string_data: bool,
    /// The raw value is a non-empty string or a number.
    present: bool,
    /// It decodes to text that is not blank.
    non_blank: bool,
    /// The decoded value (kept for the keys scopegate judges), or why it cannot be decoded.
    value: Option<Result<Token, MalformedField>>,
}

/// The Kubernetes Secret, reduced to what scopegate reads.
#[derive(Clone, Default)]
pub struct SecretObject {
    pub namespace: String,
    pub name: String,
    /// `metadata.uid`, once the API server has stored it (for Events about the Secret).
    pub uid: Option<String>,
    pub generate_name: String,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    /// On the heap: a Secret is moved through a review's futures, and this is most of its size.
    fields: Box<[Field; <FieldName as strum::EnumCount>::COUNT]>,
}

impl std::fmt::Debug for SecretObject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The fields hold credentials: their names only.
        let keys: Vec<&str> = <FieldName as strum::IntoEnumIterator>::iter()
            .filter(|k| self.fields[*k as usize].present)
            .map(FieldName::as_str)
            .collect();
        f.debug_struct("SecretObject")
            .field("namespace", &self.namespace)
            .field("name", &self.name)
            .field("generate_name", &self.generate_name)
            .field("labels", &self.labels)
            .field("keys", &keys)
            .finish_non_exhaustive()
    }
}

impl SecretObject {
    /// Read a Secret (a copy of what scopegate reads; the object is left as it was).
    pub fn from_dynamic(obj: &DynamicObject) -> Self {
        let m = &obj.metadata;
        Self::read(
            Meta {
                namespace: m.namespace.clone(),
                name: m.name.clone(),
                uid: m.uid.clone(),
                generate_name: m.generate_name.clone(),
                labels: m.labels.clone(),
                annotations: m.annotations.clone(),
            },
            &RawFields::from_value(obj.data.get("data")),
            &RawFields::from_value(obj.data.get("stringData")),
        )
    }

    /// Read a Secret, taking over its metadata without copying it.
    pub fn from_dynamic_owned(obj: DynamicObject) -> Self {
        let DynamicObject { metadata: m, data, .. } = obj;
        Self::read(
            Meta {
                namespace: m.namespace,
                name: m.name,
                uid: m.uid,
                generate_name: m.generate_name,
                labels: m.labels,
                annotations: m.annotations,
            },
            &RawFields::from_value(data.get("data")),
            &RawFields::from_value(data.get("stringData")),
        )
    }

    fn read(meta: Meta, data: &RawFields, string_data: &RawFields) -> Self {
        let mut fields: Box<[Field; <FieldName as strum::EnumCount>::COUNT]> = Default::default();
        for key in <FieldName as strum::IntoEnumIterator>::iter() {
            fields[key as usize] = read_field(key, data, string_data);
        }
        Self {
            namespace: meta.namespace.unwrap_or_default(),
            name: meta.name.unwrap_or_default(),
            uid: meta.uid,
            generate_name: meta.generate_name.unwrap_or_default(),
            labels: meta.labels.unwrap_or_default(),
            annotations: meta.annotations.unwrap_or_default(),
            fields,
        }
    }

    /// Whether a judgement of `other` would read exactly what it reads of this one: the same name,
    /// labels, annotations and credential fields (the ones it keeps by value, and the presence of
    /// the others).
    pub fn same_inputs(&self, other: &SecretObject) -> bool {
        self.namespace == other.namespace
            && self.name == other.name
            && self.generate_name == other.generate_name
            && self.labels == other.labels
            && self.annotations == other.annotations
            && self.fields == other.fields
    }

    /// Drop every annotation but scopegate's own (`scopegate.dev/…`): a long-lived copy keeps nothing
    /// it does not read (`kubectl.kubernetes.io/last-applied-configuration` can hold the whole Secret).
    pub fn keep_only_scopegate_annotations(&mut self) {
        self.annotations.retain(|k, _| k.starts_with("scopegate.dev/"));
    }

    /// `name`, or `generateName` when the API server has not named it yet.
    pub fn display_name(&self) -> &str {
        if self.name.is_empty() {
            &self.generate_name
        } else {
            &self.name
        }
    }

    /// The decoded value of a key: `Ok(None)` when absent or null.
    pub(crate) fn field(&self, key: FieldName) -> Result<Option<&Token>, MalformedField> {
        match &self.fields[key as usize].value {
            None => Ok(None),
            Some(Ok(v)) => Ok(Some(v)),
            Some(Err(m)) => Err(m.clone()),
        }
    }

    /// `stringData.KEY` or `data.KEY`: where the value came from, for messages.
    pub(crate) fn field_name(&self, key: FieldName) -> String {
        if self.fields[key as usize].in_string_data {
            format!("stringData.{}", key.as_str())
        } else {
            format!("data.{}", key.as_str())
        }
    }

    /// A boolean field as Argo CD reads it (Go's `strconv.ParseBool`: `1`, `t`, `T`, `TRUE`, `true`,
    /// `True`, and their `0`/`f`/`false` counterparts); absent is false. Any other value makes Argo CD
    /// refuse to load the repository.
    pub(crate) fn flag(&self, key: FieldName) -> Result<bool, MalformedField> {
        let Some(v) = self.field(key)? else {
            return Ok(false);
        };
        match v.expose() {
            "1" | "t" | "T" | "TRUE" | "true" | "True" => Ok(true),
            "0" | "f" | "F" | "FALSE" | "false" | "False" => Ok(false),
            _ => Err(MalformedField::new(
                self.field_name(key),
                "is not a boolean Argo CD can read (true or false): Argo CD refuses to load the repository",
            )),
        }
    }

    /// A credential that a component names directly (an ApplicationSet generator's token, Image
    /// Updater's write-back Secret), in the form scopegate judges: a credential Secret of `secret_type`
    /// for `url`, the token in `field`. Nothing of it comes from a Secret's labels or annotations.
    pub fn synthetic(
        namespace: &str,
        name: &str,
        secret_type: super::SecretType,
        url: &str,
        username: Option<&str>,
        token: Token,
        field: super::TokenField,
    ) -> Self {
        let mut s = Self {
            namespace: namespace.to_owned(),
            name: name.to_owned(),
            ..Self::default()
        };
        s.labels
            .insert(super::SECRET_TYPE_LABEL.to_owned(), secret_type.as_str().to_owned());
        s.set(FieldName::Url, Token::new(url.to_owned()));
        if let Some(u) = username {
            s.set(FieldName::Username, Token::new(u.to_owned()));
        }
        s.set(field.secret_key(), token);
        s
    }

    /// This Secret's credential as a component uses it for `url` (Image Updater's `git:secret:…`, an
    /// ApplicationSet's `appSecretName`): its credential fields, judged as a `secret_type` Secret for
    /// `url`. Its own labels and annotations are set aside.
    pub fn used_for(&self, secret_type: super::SecretType, url: &str) -> Self {
        let mut s = Self {
            namespace: self.namespace.clone(),
            name: self.name.clone(),
            uid: self.uid.clone(),
            fields: self.fields.clone(),
            ..Self::default()
        };
        s.labels
            .insert(super::SECRET_TYPE_LABEL.to_owned(), secret_type.as_str().to_owned());
        s.set(FieldName::Url, Token::new(url.to_owned()));
        s
    }

    fn set(&mut self, key: FieldName, value: Token) {
        self.fields[key as usize] = Field {
            in_string_data: true,
            present: !value.is_empty(),
            non_blank: !value.expose().trim().is_empty(),
            value: Some(Ok(value)),
        };
    }

    /// `project`, trimmed; empty when absent.
    pub fn project(&self) -> String {
        self.field(FieldName::Project)
            .ok()
            .flatten()
            .map(|p| p.expose().trim().to_owned())
            .unwrap_or_default()
    }

    /// Whether the key holds something (a non-empty string or a number), decodable or not.
    pub(crate) fn has_field(&self, key: FieldName) -> bool {
        self.fields[key as usize].present
    }

    /// Whether the key decodes to a value that is not blank.
    pub(crate) fn has_non_blank(&self, key: FieldName) -> bool {
        self.fields[key as usize].non_blank
    }
}

/// The metadata scopegate reads of an object; the rest (managed fields, owner references, …) is
/// skipped unread.
#[derive(Default, serde::Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct Meta {
    namespace: Option<String>,
    name: Option<String>,
    uid: Option<String>,
    generate_name: Option<String>,
    labels: Option<BTreeMap<String, String>>,
    annotations: Option<BTreeMap<String, String>>,
}

/// A value in a Secret's `data` or `stringData`, as written: what [`read_field`] needs of it.
#[derive(Clone, PartialEq, Eq)]
enum Raw {
    Str(String),
    Null,
    Number,
    /// Anything else (a boolean, a list, an object).
    Other,
}

impl<'de> serde::Deserialize<'de> for Raw {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Raw;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON value")
            }
            fn visit_str<E>(self, v: &str) -> Result<Raw, E> {
                Ok(Raw::Str(v.to_owned()))
            }
            fn visit_string<E>(self, v: String) -> Result<Raw, E> {
                Ok(Raw::Str(v))
            }
            fn visit_unit<E>(self) -> Result<Raw, E> {
                Ok(Raw::Null)
            }
            fn visit_none<E>(self) -> Result<Raw, E> {
                Ok(Raw::Null)
            }
            fn visit_some<D: serde::Deserializer<'de>>(self, d: D) -> Result<Raw, D::Error> {
                d.deserialize_any(V)
            }
            fn visit_i64<E>(self, _: i64) -> Result<Raw, E> {
                Ok(Raw::Number)
            }
            fn visit_u64<E>(self, _: u64) -> Result<Raw, E> {
                Ok(Raw::Number)
            }
            fn visit_f64<E>(self, _: f64) -> Result<Raw, E> {
                Ok(Raw::Number)
            }
            fn visit_bool<E>(self, _: bool) -> Result<Raw, E> {
                Ok(Raw::Other)
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut a: A) -> Result<Raw, A::Error> {
                while a.next_element::<serde::de::IgnoredAny>()?.is_some() {}
                Ok(Raw::Other)
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut a: A) -> Result<Raw, A::Error> {
                while a
                    .next_entry::<serde::de::IgnoredAny, serde::de::IgnoredAny>()?
                    .is_some()
                {}
                Ok(Raw::Other)
            }
        }
        d.deserialize_any(V)
    }
}

/// The keys scopegate reads of a Secret's `data` or `stringData` (the last one written, as a JSON
/// decoder keeps it), every other key's value skipped unread. Anything but a map holds no keys.
#[derive(Default)]
struct RawFields([Option<Raw>; <FieldName as strum::EnumCount>::COUNT]);

impl RawFields {
    fn get(&self, key: FieldName) -> Option<&Raw> {
        self.0[key as usize].as_ref()
    }

    fn from_value(v: Option<&Value>) -> Self {
        let mut out = RawFields::default();
        if let Some(Value::Object(map)) = v {
            for key in <FieldName as strum::IntoEnumIterator>::iter() {
                out.0[key as usize] = map.get(key.as_str()).map(|v| match v {
                    Value::String(s) => Raw::Str(s.clone()),
                    Value::Null => Raw::Null,
                    Value::Number(_) => Raw::Number,
                    _ => Raw::Other,
                });
            }
        }
        out
    }
}

impl<'de> serde::Deserialize<'de> for RawFields {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = RawFields;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON value")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut a: A) -> Result<RawFields, A::Error> {
                let mut out = RawFields::default();
                while let Some(key) = a.next_key::<std::borrow::Cow<'de, str>>()? {
                    match <FieldName as strum::IntoEnumIterator>::iter().find(|k| k.as_str() == key) {
                        Some(k) => out.0[k as usize] = Some(a.next_value::<Raw>()?),
                        None => {
                            a.next_value::<serde::de::IgnoredAny>()?;
                        }
                    }
                }
                Ok(out)
            }
            // Anything else is no map of keys, as a dynamic object's `data` would be.
            fn visit_str<E>(self, _: &str) -> Result<RawFields, E> {
                Ok(RawFields::default())
            }
            fn visit_unit<E>(self) -> Result<RawFields, E> {
                Ok(RawFields::default())
            }
            fn visit_none<E>(self) -> Result<RawFields, E> {
                Ok(RawFields::default())
            }
            fn visit_some<D: serde::Deserializer<'de>>(self, d: D) -> Result<RawFields, D::Error> {
                d.deserialize_any(V)
            }
            fn visit_i64<E>(self, _: i64) -> Result<RawFields, E> {
                Ok(RawFields::default())
            }
            fn visit_u64<E>(self, _: u64) -> Result<RawFields, E> {
                Ok(RawFields::default())
            }
            fn visit_f64<E>(self, _: f64) -> Result<RawFields, E> {
                Ok(RawFields::default())
            }
            fn visit_bool<E>(self, _: bool) -> Result<RawFields, E> {
                Ok(RawFields::default())
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut a: A) -> Result<RawFields, A::Error> {
                while a.next_element::<serde::de::IgnoredAny>()?.is_some() {}
                Ok(RawFields::default())
            }
        }
        d.deserialize_any(V)
    }
}

/// A Secret read straight from JSON (an admission request's `object`): its metadata, `data` and
/// `stringData`, and nothing else — no key scopegate does not read is kept, or even decoded. Reads
/// exactly what [`SecretObject::from_dynamic`] reads of the same object.
impl<'de> serde::Deserialize<'de> for SecretObject {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = SecretObject;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a Kubernetes object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut a: A) -> Result<SecretObject, A::Error> {
                let (mut meta, mut data, mut string_data) = (None, None, None);
                while let Some(key) = a.next_key::<std::borrow::Cow<'de, str>>()? {
                    match &*key {
                        "metadata" => meta = Some(a.next_value::<Option<Meta>>()?.unwrap_or_default()),
                        "data" => data = Some(a.next_value::<RawFields>()?),
                        "stringData" => string_data = Some(a.next_value::<RawFields>()?),
                        _ => {
                            a.next_value::<serde::de::IgnoredAny>()?;
                        }
                    }
                }
                Ok(SecretObject::read(
                    meta.unwrap_or_default(),
                    &data.unwrap_or_default(),
                    &string_data.unwrap_or_default(),
                ))
            }
        }
        d.deserialize_map(V)
    }
}

fn read_field(key: FieldName, data: &RawFields, string_data: &RawFields) -> Field {
    let non_empty = |d: &RawFields| match d.get(key) {
        Some(Raw::Str(s)) => !s.is_empty(),
        Some(Raw::Number) => true,
        _ => false,
    };
    let in_string_data = string_data.get(key).is_some();
    let decoded = decode(key.as_str(), data.get(key), string_data.get(key));
    let non_blank = matches!(&decoded, Ok(Some(v)) if !v.expose().trim().is_empty());
    let value = match decoded {
        _ if key.presence_only() => None,
        Ok(None) => None,
        Ok(Some(v)) => Some(Ok(v)),
        Err(m) => Some(Err(m)),
    };
    Field {
        in_string_data,
        present: non_empty(string_data) || non_empty(data),
        non_blank,
        value,
    }
}

/// One key of a Secret object's `data` (base64) or `stringData`, decoded: what a component that names
/// a Secret key reads (an ApplicationSet generator's `tokenRef`). `Ok(None)`: the key is not there.
pub fn key_value(secret: &serde_json::Value, key: &str) -> Result<Option<Token>, MalformedField> {
    let raw = |m: &serde_json::Value| {
        m.get(key).map(|v| match v {
            serde_json::Value::String(s) => Raw::Str(s.clone()),
            serde_json::Value::Null => Raw::Null,
            serde_json::Value::Number(_) => Raw::Number,
            _ => Raw::Other,
        })
    };
    decode(key, raw(&secret["data"]).as_ref(), raw(&secret["stringData"]).as_ref())
}

/// A key of `stringData` (which the API server folds over `data`) or of `data` (base64).
fn decode(key: &str, data: Option<&Raw>, string_data: Option<&Raw>) -> Result<Option<Token>, MalformedField> {
    if let Some(v) = string_data {
        return match v {
            Raw::Str(s) => Ok(Some(Token::new(s.clone()))),
            Raw::Null => Ok(None),
            _ => Err(MalformedField::new(format!("stringData.{key}"), "is not a string")),
        };
    }
    let Some(v) = data else {
        return Ok(None);
    };
    let encoded = match v {
        Raw::Str(s) => s,
        Raw::Null => return Ok(None),
        _ => {
            return Err(MalformedField::new(format!("data.{key}"), "is not a base64 string"));
        }
    };
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(encoded.as_bytes())
        .map_err(|_| {
            MalformedField::new(
                format!("data.{key}"),
                "is not valid base64 (encode the value with `echo -n 'VALUE' | base64 -w0`, or put it in stringData)",
            )
        })?;
    // The decoded bytes become the string in place; on failure they are wiped.
    match String::from_utf8(bytes) {
        Ok(text) => Ok(Some(Token::new(text))),
        Err(e) => {
            drop(Zeroizing::new(e.into_bytes()));
            Err(MalformedField::new(
                format!("data.{key}"),
                "does not decode to UTF-8 text",
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn secret(v: Value) -> SecretObject {
        let obj: DynamicObject = serde_json::from_value(v).unwrap();
        SecretObject::from_dynamic(&obj)
    }

    fn b64(s: &str) -> String {
        base64::engine::general_purpose::STANDARD.encode(s)
    }

    #[test]
    fn string_data_folds_over_data_and_names_its_origin() {
        let s = secret(json!({
            "metadata": {"name": "r"},
            "data": {"password": b64("old"), "username": b64("git")},
            "stringData": {"password": "new"},
        }));
        assert_eq!(s.field(FieldName::Password).unwrap().unwrap().expose(), "new");
        assert_eq!(s.field_name(FieldName::Password), "stringData.password");
        assert_eq!(s.field(FieldName::Username).unwrap().unwrap().expose(), "git");
        assert_eq!(s.field_name(FieldName::Username), "data.username");
        assert!(s.field(FieldName::Url).unwrap().is_none());
    }

    #[test]
    fn presence_only_keys_keep_no_value() {
        let s = secret(json!({
            "metadata": {"name": "r"},
            "data": {"sshPrivateKey": b64("-----BEGIN OPENSSH PRIVATE KEY-----"), "tlsClientCertData": "%%%"},
        }));
        assert!(s.has_field(FieldName::SshPrivateKey) && s.has_non_blank(FieldName::SshPrivateKey));
        assert!(
            s.field(FieldName::SshPrivateKey).unwrap().is_none(),
            "the key itself is not kept"
        );
        assert!(s.has_field(FieldName::TlsClientCertData), "present, though not base64");
        assert!(!s.has_non_blank(FieldName::TlsClientCertData));
        assert!(!format!("{s:?}").contains("BEGIN"));
    }

    #[test]
    fn bad_values_name_the_field() {
        let s = secret(json!({"metadata": {"name": "r"}, "data": {"password": "%%%", "url": 12}}));
        let m = s.field(FieldName::Password).unwrap_err();
        assert_eq!(m.field, "data.password");
        assert!(m.defect.contains("base64"));
        assert_eq!(s.field(FieldName::Url).unwrap_err().field, "data.url");
        assert!(s.has_field(FieldName::Url), "a number counts as present");
    }
}
