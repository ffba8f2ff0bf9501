//! Where the watcher's Secrets come from: kube's runtime watchers (`kube::runtime::watcher`, which
//! lists, watches from the list's resourceVersion, resumes, and lists again after a 410), one per
//! namespace or one for all:
//!
//! - the Secrets labelled `argocd.argoproj.io/secret-type` with a value scopegate checks, by label
//!   selector;
//! - Secrets named `git-default-*`, through a metadata-only watch: of every other Secret nothing is
//!   kept but, for a moment, its name; a matching one is then read alone.
//!
//! Each Secret is reduced at once to what is judged (its credential fields decoded into `Token`s, its
//! scopegate annotations), and sent to the controller as a [`SourceEvent`].
//!
//! And the objects that use credentials (`watch.follow`): Argo CD Applications and ApplicationSets,
//! Image Updater's ImageUpdaters — each kind only while discovery shows its API — read without their
//! status and reduced at once to what their uses need.

use std::collections::BTreeSet;

use futures::StreamExt;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, ApiResource, DynamicObject};
use kube::core::PartialObjectMeta;
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use tokio::sync::mpsc;
use tracing::warn;

use super::index::SecretKey;
use super::uses::{Followed, FollowedKind};
use crate::credential::{SECRET_TYPE_LABEL, SecretObject, SecretType, USER_SECRET_PREFIX};
use crate::uses::{Application, ApplicationSet, ImageUpdater, ObjectKey};

/// What a watch stream reports.
#[derive(Debug)]
pub(crate) enum SourceEvent {
    /// A credential Secret as it is now.
    Upsert { stream: usize, secret: Box<SecretObject> },
    /// A Secret gone from the stream (deleted, or no longer one it reports).
    Remove { stream: usize, key: SecretKey },
    /// The stream listed again: these are every Secret it reports; the others it had are gone.
    Relisted { stream: usize, keys: BTreeSet<SecretKey> },
    /// An object that uses credentials, as it is now.
    FollowedUpsert {
        stream: usize,
        obj: Followed,
        uid: Option<String>,
    },
    /// An object gone from the stream.
    FollowedRemove {
        stream: usize,
        kind: FollowedKind,
        key: ObjectKey,
    },
    /// The stream listed again (or its API is not installed: none).
    FollowedRelisted {
        stream: usize,
        kind: FollowedKind,
        keys: BTreeSet<ObjectKey>,
    },
}

/// Which namespaces a stream covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Namespaces {
    All,
    One(String),
}

fn label_selector() -> String {
    let types: Vec<&str> = SecretType::all().map(SecretType::as_str).collect();
    format!("{SECRET_TYPE_LABEL} in ({})", types.join(","))
}

fn secret_resource() -> ApiResource {
    ApiResource::erase::<Secret>(&())
}

/// A Secret as the watcher keeps it.
fn kept(obj: DynamicObject) -> SecretObject {
    let mut s = SecretObject::from_dynamic_owned(obj);
    s.keep_only_scopegate_annotations();
    s
}

/// A watch error in words that quote nothing from an object: a decoding error's text could carry a
/// value from the Secret it failed on.
fn describe(e: &watcher::Error) -> String {
    match api_error(e) {
        Some(kube::Error::SerdeError(_)) => "an answer that could not be decoded".into(),
        Some(other) => other.to_string(),
        None => e.to_string(),
    }
}

fn key_of(s: &SecretObject) -> SecretKey {
    (s.namespace.clone(), s.name.clone())
}

/// Watch the labelled credential Secrets of `namespaces`; report on `tx` as stream `stream`.
pub(crate) async fn labelled(
    client: kube::Client,
    namespaces: Namespaces,
    stream: usize,
    tx: mpsc::Sender<SourceEvent>,
) {
    let api: Api<DynamicObject> = match &namespaces {
        Namespaces::All => Api::all_with(client, &secret_resource()),
        Namespaces::One(ns) => Api::namespaced_with(client, ns, &secret_resource()),
    };
    let config = watcher::Config::default().labels(&label_selector());
    let mut events = watcher::watcher(api, config).default_backoff().boxed();
    let mut listing = BTreeSet::new();
    while let Some(event) = events.next().await {
        let out = match event {
            Ok(Event::Init) => {
                listing.clear();
                continue;
            }
            Ok(Event::InitApply(obj)) | Ok(Event::Apply(obj)) if obj.metadata.name.is_some() => {
                let secret = kept(obj);
                listing.insert(key_of(&secret));
                SourceEvent::Upsert {
                    stream,
                    secret: Box::new(secret),
                }
            }
            Ok(Event::InitDone) => SourceEvent::Relisted {
                stream,
                keys: std::mem::take(&mut listing),
            },
            Ok(Event::Delete(obj)) => SourceEvent::Remove {
                stream,
                key: (
                    obj.metadata.namespace.unwrap_or_default(),
                    obj.metadata.name.unwrap_or_default(),
                ),
            },
            Ok(_) => continue,
            Err(e) => {
                warn!(error = describe(&e), namespaces = ?namespaces, "watching credential Secrets failed; retrying");
                continue;
            }
        };
        if tx.send(out).await.is_err() {
            return;
        }
    }
}

/// A metadata event reduced to what identifies the Secret.
enum Seen {
    Init,
    InitDone,
    /// A Secret listed (`initial`) or changed, and whether it is one this stream reads.
    Named {
        key: SecretKey,
        ours: bool,
        initial: bool,
    },
    Gone {
        key: SecretKey,
    },
}

fn seen(event: Event<PartialObjectMeta<Secret>>) -> Seen {
    let named = |m: PartialObjectMeta<Secret>| {
        let ours = m
            .metadata
            .name
            .as_deref()
            .is_some_and(|n| n.starts_with(USER_SECRET_PREFIX))
            && m.metadata
                .labels
                .as_ref()
                .and_then(|l| l.get(SECRET_TYPE_LABEL))
                .is_none_or(|t| t.parse::<SecretType>().is_err());
        (
            (
                m.metadata.namespace.unwrap_or_default(),
                m.metadata.name.unwrap_or_default(),
            ),
            ours,
        )
    };
    match event {
        Event::Init => Seen::Init,
        Event::InitDone => Seen::InitDone,
        Event::InitApply(m) => {
            let (key, ours) = named(m);
            Seen::Named {
                key,
                ours,
                initial: true,
            }
        }
        Event::Apply(m) => {
            let (key, ours) = named(m);
            Seen::Named {
                key,
                ours,
                initial: false,
            }
        }
        Event::Delete(m) => Seen::Gone { key: named(m).0 },
    }
}

/// Watch the metadata of every Secret in `namespaces` for `git-default-*` names (without a secret-type
/// label scopegate checks: the labelled watch has those), and read each such Secret alone.
pub(crate) async fn user_tokens(
    client: kube::Client,
    namespaces: Namespaces,
    stream: usize,
    tx: mpsc::Sender<SourceEvent>,
) {
    let meta: Api<PartialObjectMeta<Secret>> = match &namespaces {
        Namespaces::All => Api::all(client.clone()),
        Namespaces::One(ns) => Api::namespaced(client.clone(), ns),
    };
    // Nothing of another Secret's metadata is kept: each event is reduced to its name here, before
    // anything else sees it.
    let mut events = watcher::watcher(meta, watcher::Config::default())
        .default_backoff()
        .map(|event| event.map(seen))
        .boxed();
    let mut listing = BTreeSet::new();
    while let Some(event) = events.next().await {
        let out = match event {
            Ok(Seen::Init) => {
                listing.clear();
                continue;
            }
            Ok(Seen::InitDone) => SourceEvent::Relisted {
                stream,
                keys: std::mem::take(&mut listing),
            },
            Ok(Seen::Gone { key }) => SourceEvent::Remove { stream, key },
            Ok(Seen::Named {
                key,
                ours: false,
                initial,
            }) => {
                if initial {
                    continue;
                }
                SourceEvent::Remove { stream, key }
            }
            Ok(Seen::Named {
                key,
                ours: true,
                initial,
            }) => {
                let one: Api<DynamicObject> = Api::namespaced_with(client.clone(), &key.0, &secret_resource());
                match one.get_opt(&key.1).await {
                    Ok(Some(obj)) => {
                        if initial {
                            listing.insert(key);
                        }
                        SourceEvent::Upsert {
                            stream,
                            secret: Box::new(kept(obj)),
                        }
                    }
                    Ok(None) => SourceEvent::Remove { stream, key },
                    Err(e) => {
                        // Read again at its next change or relist; until then it keeps its last state.
                        let error = match &e {
                            kube::Error::SerdeError(_) => "an answer that could not be decoded".to_owned(),
                            other => other.to_string(),
                        };
                        warn!(
                            error,
                            namespace = key.0.as_str(),
                            name = key.1.as_str(),
                            "reading a git-default Secret failed"
                        );
                        if initial {
                            listing.insert(key);
                        }
                        continue;
                    }
                }
            }
            Err(e) => {
                warn!(error = describe(&e), namespaces = ?namespaces, "watching Secret names failed; retrying");
                continue;
            }
        };
        if tx.send(out).await.is_err() {
            return;
        }
    }
}

/// An object of a followed kind as its watch reads it: its metadata and its spec; its status (an
/// Application's can be large) is skipped unread.
#[derive(Clone, Debug, serde::Deserialize)]
pub(crate) struct SpecOnly {
    metadata: kube::api::ObjectMeta,
    #[serde(default)]
    spec: serde_json::Value,
}

impl kube::Resource for SpecOnly {
    type DynamicType = ApiResource;
    type Scope = kube::core::DynamicResourceScope;

    fn kind(dt: &ApiResource) -> std::borrow::Cow<'_, str> {
        dt.kind.as_str().into()
    }
    fn group(dt: &ApiResource) -> std::borrow::Cow<'_, str> {
        dt.group.as_str().into()
    }
    fn version(dt: &ApiResource) -> std::borrow::Cow<'_, str> {
        dt.version.as_str().into()
    }
    fn api_version(dt: &ApiResource) -> std::borrow::Cow<'_, str> {
        dt.api_version.as_str().into()
    }
    fn plural(dt: &ApiResource) -> std::borrow::Cow<'_, str> {
        dt.plural.as_str().into()
    }
    fn meta(&self) -> &kube::api::ObjectMeta {
        &self.metadata
    }
    fn meta_mut(&mut self) -> &mut kube::api::ObjectMeta {
        &mut self.metadata
    }
}

/// The API of a followed kind.
fn followed_resource(kind: FollowedKind) -> ApiResource {
    match kind {
        FollowedKind::Application => crate::cluster::application_resource("Application", "applications"),
        FollowedKind::ApplicationSet => crate::cluster::application_resource("ApplicationSet", "applicationsets"),
        FollowedKind::ImageUpdater => crate::cluster::image_updater_resource(),
    }
}

/// Reduce an object at once to what the uses need: its name, namespace, uid, labels, Image Updater's
/// annotations (no other: `last-applied-configuration` can hold the whole object), and its spec.
fn reduce(kind: FollowedKind, obj: SpecOnly) -> Option<(Followed, Option<String>)> {
    let m = obj.metadata;
    let annotations: serde_json::Map<String, serde_json::Value> = m
        .annotations
        .unwrap_or_default()
        .into_iter()
        .filter(|(k, _)| k.starts_with("argocd-image-updater.argoproj.io/"))
        .map(|(k, v)| (k, serde_json::Value::String(v)))
        .collect();
    let value = serde_json::json!({
        "metadata": {"name": m.name, "namespace": m.namespace, "labels": m.labels, "annotations": annotations},
        "spec": obj.spec,
    });
    let followed = match kind {
        FollowedKind::Application => Followed::App(Box::new(Application::from_value(&value)?)),
        FollowedKind::ApplicationSet => Followed::Set(Box::new(ApplicationSet::from_value(&value)?)),
        FollowedKind::ImageUpdater => Followed::Updater(Box::new(ImageUpdater::from_value(&value)?)),
    };
    Some((followed, m.uid))
}

fn followed_key(obj: &SpecOnly) -> ObjectKey {
    (
        obj.metadata.namespace.clone().unwrap_or_default(),
        obj.metadata.name.clone().unwrap_or_default(),
    )
}

/// The API server's error behind a watch error, if there is one.
fn api_error(e: &watcher::Error) -> Option<&kube::Error> {
    match e {
        watcher::Error::InitialListFailed(c) | watcher::Error::WatchStartFailed(c) | watcher::Error::WatchFailed(c) => {
            Some(c)
        }
        _ => None,
    }
}

/// Whether an error says scopegate may not read the objects (its RBAC lacks them: an upgrade that kept
/// an older ClusterRole, or a namespaced install without the Role).
fn forbidden(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 403)
}

/// Whether an error says the API is not there (its CRD not installed, or removed).
fn not_installed(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 404)
        || matches!(e, kube::Error::Discovery(kube::error::DiscoveryError::MissingKind(_)))
}

/// Follow the objects of `kind` in `namespaces` while its API exists: discovery first (a cluster
/// without Image Updater is normal: the stream reports it empty and looks again every `rediscover`),
/// then kube's watcher, reduced at once. Reports on `tx` as stream `stream`.
pub(crate) async fn followed(
    client: kube::Client,
    kind: FollowedKind,
    namespaces: Namespaces,
    stream: usize,
    tx: mpsc::Sender<SourceEvent>,
    rediscover: std::time::Duration,
) {
    let ar = followed_resource(kind);
    let gvk = kube::core::GroupVersionKind::gvk(&ar.group, &ar.version, &ar.kind);
    let mut said_absent = false;
    loop {
        match kube::discovery::pinned_kind(&client, &gvk).await {
            Ok(_) => {}
            Err(e) => {
                if not_installed(&e) {
                    if !said_absent {
                        tracing::info!(
                            kind = ar.kind.as_str(),
                            api = ar.api_version.as_str(),
                            every = %humantime::format_duration(rediscover),
                            "not installed in this cluster: not followed; looked for again"
                        );
                        said_absent = true;
                    }
                } else {
                    warn!(kind = ar.kind.as_str(), error = %e, "discovery failed; retrying");
                }
                // Nothing of this kind: the stream has listed (empty).
                if tx
                    .send(SourceEvent::FollowedRelisted {
                        stream,
                        kind,
                        keys: BTreeSet::new(),
                    })
                    .await
                    .is_err()
                {
                    return;
                }
                tokio::time::sleep(rediscover).await;
                continue;
            }
        }
        said_absent = false;
        tracing::info!(kind = ar.kind.as_str(), api = ar.api_version.as_str(), "following");
        let api: Api<SpecOnly> = match &namespaces {
            Namespaces::All => Api::all_with(client.clone(), &ar),
            Namespaces::One(ns) => Api::namespaced_with(client.clone(), ns, &ar),
        };
        let mut events = watcher::watcher(api, watcher::Config::default())
            .default_backoff()
            .boxed();
        let mut listing = BTreeSet::new();
        let mut gone = false;
        let mut said_forbidden = false;
        while let Some(event) = events.next().await {
            let out = match event {
                Ok(Event::Init) => {
                    listing.clear();
                    continue;
                }
                Ok(Event::InitApply(obj)) | Ok(Event::Apply(obj)) => {
                    let key = followed_key(&obj);
                    let Some((obj, uid)) = reduce(kind, obj) else { continue };
                    listing.insert(key);
                    SourceEvent::FollowedUpsert { stream, obj, uid }
                }
                Ok(Event::InitDone) => {
                    said_forbidden = false;
                    SourceEvent::FollowedRelisted {
                        stream,
                        kind,
                        keys: std::mem::take(&mut listing),
                    }
                }
                Ok(Event::Delete(obj)) => SourceEvent::FollowedRemove {
                    stream,
                    kind,
                    key: followed_key(&obj),
                },
                Err(e) if api_error(&e).is_some_and(not_installed) => {
                    gone = true;
                    break;
                }
                Err(e) if api_error(&e).is_some_and(forbidden) => {
                    // Said once, and what scopegate may not see counts as none: the Secrets' watch is
                    // not held back (nor readiness), and the kind is followed from the first list the
                    // watcher's retries are allowed.
                    if said_forbidden {
                        tracing::debug!(kind = ar.kind.as_str(), "still forbidden; retrying");
                        continue;
                    }
                    said_forbidden = true;
                    warn!(
                        kind = ar.kind.as_str(),
                        resource = format!("{}.{}", ar.plural, ar.group),
                        namespaces = ?namespaces,
                        error = describe(&e),
                        "scopegate may not list these objects, so their uses of credentials are not judged: grant its \
                         ServiceAccount get, list, watch on them (manifests/watch/rbac.yaml); retrying"
                    );
                    SourceEvent::FollowedRelisted {
                        stream,
                        kind,
                        keys: BTreeSet::new(),
                    }
                }
                Err(e) => {
                    warn!(error = describe(&e), kind = ar.kind.as_str(), namespaces = ?namespaces, "watching failed; retrying");
                    continue;
                }
            };
            if tx.send(out).await.is_err() {
                return;
            }
        }
        if gone {
            // The API went (its CRD deleted): its objects are gone; look for it again.
            if tx
                .send(SourceEvent::FollowedRelisted {
                    stream,
                    kind,
                    keys: BTreeSet::new(),
                })
                .await
                .is_err()
            {
                return;
            }
            tokio::time::sleep(rediscover).await;
        }
    }
}
