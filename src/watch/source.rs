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
use crate::credential::{SECRET_TYPE_LABEL, SecretObject, SecretType, USER_SECRET_PREFIX};

/// What a watch stream reports.
#[derive(Debug)]
pub(crate) enum SourceEvent {
    /// A credential Secret as it is now.
    Upsert { stream: usize, secret: Box<SecretObject> },
    /// A Secret gone from the stream (deleted, or no longer one it reports).
    Remove { stream: usize, key: SecretKey },
    /// The stream listed again: these are every Secret it reports; the others it had are gone.
    Relisted { stream: usize, keys: BTreeSet<SecretKey> },
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
    let client = match e {
        watcher::Error::InitialListFailed(c) | watcher::Error::WatchStartFailed(c) | watcher::Error::WatchFailed(c) => {
            c
        }
        other => return other.to_string(),
    };
    match client {
        kube::Error::SerdeError(_) => "an answer that could not be decoded".into(),
        other => other.to_string(),
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
