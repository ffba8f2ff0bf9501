//! What each object needs of which repository, with which credential: the plan every front end
//! (the watcher, the audit, `check`) probes by. Pure.

use super::image_updater::{self, GitCreds, ImageUpdater, WriteBack};
use super::resolve::{self, Credentials, Resolution};
use super::{Access, Application, ApplicationSet, ObjectKey, Purpose};

/// Which credential a use takes.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Choice {
    /// An Argo CD credential Secret, as Argo CD chooses it.
    Secret(ObjectKey),
    /// A Secret Image Updater is told to use (`git:secret:…`), in the Application's namespace.
    Named(ObjectKey),
    /// None covers the repository: asked anonymously (a push without one fails).
    None,
    /// Which Argo CD instance the object belongs to is not known (several namespaces hold credential
    /// Secrets, and the object is in none of them): how many do.
    Unplaced(usize),
    /// Image Updater refuses the configuration, in its words.
    Refused(String),
}

/// One repository one object needs.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RepoUse {
    /// As the object names it.
    pub url: String,
    pub purpose: Purpose,
    pub choice: Choice,
}

impl RepoUse {
    pub fn access(&self) -> Access {
        self.purpose.access()
    }

    /// What a probe of this use is keyed by: the credential, the repository in Argo CD's normal form,
    /// and what is asked of it (uses with the same key share one probe).
    pub fn probe_key(&self) -> Option<(Choice, String, Purpose)> {
        match &self.choice {
            Choice::Unplaced(_) | Choice::Refused(_) => None,
            c => Some((c.clone(), resolve::normalize(&self.url), self.purpose)),
        }
    }
}

fn choose(creds: &Credentials, instance: Option<&str>, url: &str, project: &str, access: Access) -> Choice {
    let Some(instance) = instance else {
        // No credential Secret anywhere: whichever instance it is, none covers the repository.
        if creds.is_empty() {
            return Choice::None;
        }
        return Choice::Unplaced(creds.instances().len());
    };
    match creds.resolve(instance, url, project, access) {
        Resolution::Credential { credential, .. } => {
            Choice::Secret((credential.namespace.clone(), credential.name.clone()))
        }
        Resolution::None => Choice::None,
    }
}

/// Every repository `app` needs: each source it syncs (read), each push of the Source Hydrator, and
/// Image Updater's write-back through Git (`updaters`: the ImageUpdaters of its namespace).
pub fn application(
    app: &Application,
    creds: &Credentials,
    argocd_namespace: &str,
    updaters: &[&ImageUpdater],
) -> Vec<RepoUse> {
    let instance = creds.instance_for(&app.namespace, argocd_namespace);
    let mut out: Vec<RepoUse> = Vec::new();
    let mut add = |url: &str, purpose: Purpose, choice: Choice| {
        let u = RepoUse {
            url: url.to_owned(),
            purpose,
            choice,
        };
        if !out.contains(&u) {
            out.push(u);
        }
    };
    for url in &app.reads {
        add(
            url,
            Purpose::Sync,
            choose(creds, instance, url, &app.project, Access::Read),
        );
    }
    for url in &app.pushes {
        add(
            url,
            Purpose::Hydrate,
            choose(creds, instance, url, &app.project, Access::Write),
        );
    }
    match image_updater::write_back(app, updaters) {
        None => {}
        Some(WriteBack::Refused { reason, .. }) => {
            let url = app.write_back_source.as_deref().unwrap_or_default();
            add(url, Purpose::WriteBack { pull_request: false }, Choice::Refused(reason));
        }
        Some(WriteBack::Git {
            repository,
            creds: how,
            pull_request,
            ..
        }) => {
            let purpose = Purpose::WriteBack { pull_request };
            let choice = match how {
                // Argo CD's read credential for the repository: Image Updater pushes with it.
                GitCreds::RepoCreds => choose(creds, instance, &repository, &app.project, Access::Read),
                GitCreds::Secret { name, .. } => Choice::Named((app.namespace.clone(), name)),
            };
            add(&repository, purpose, choice);
        }
    }
    out
}

/// The repositories an ApplicationSet itself reads (its Git generators', its template's written-out
/// sources) and its template pushes to.
pub fn application_set(set: &ApplicationSet, creds: &Credentials, argocd_namespace: &str) -> Vec<RepoUse> {
    let instance = creds.instance_for(&set.namespace, argocd_namespace);
    let mut out = Vec::new();
    for url in &set.reads {
        out.push(RepoUse {
            url: url.clone(),
            purpose: Purpose::Sync,
            choice: choose(creds, instance, url, "default", Access::Read),
        });
    }
    for url in &set.pushes {
        out.push(RepoUse {
            url: url.clone(),
            purpose: Purpose::Hydrate,
            choice: choose(creds, instance, url, "default", Access::Write),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::credential::SecretType;
    use crate::uses::resolve::CredentialRef;
    use serde_json::json;

    fn creds() -> Credentials {
        let c = |name: &str, t, url: &str, own| CredentialRef {
            namespace: "argocd".into(),
            name: name.into(),
            secret_type: t,
            url: url.into(),
            project: String::new(),
            own_credentials: own,
        };
        Credentials::new(vec![
            c("acme-read", SecretType::RepoCreds, "https://github.com/acme", true),
            c(
                "acme-write",
                SecretType::RepoWriteCreds,
                "https://github.com/acme",
                true,
            ),
        ])
    }

    #[test]
    fn sources_pushes_and_write_back_each_take_their_credential() {
        let app = Application::from_value(&json!({
            "metadata": {"name": "a", "namespace": "argocd", "annotations": {
                "argocd-image-updater.argoproj.io/image-list": "nginx",
                "argocd-image-updater.argoproj.io/write-back-method": "git"}},
            "spec": {"sources": [
                {"repoURL": "https://github.com/acme/app", "kustomize": {}},
                {"repoURL": "https://github.com/public/charts"}
            ], "sourceHydrator": {"drySource": {"repoURL": "https://github.com/acme/dry"}, "syncSource": {"targetBranch": "env"}}}
        }))
        .unwrap();
        let uses = application(&app, &creds(), "argocd", &[]);
        let got: Vec<(&str, Purpose, &Choice)> = uses.iter().map(|u| (u.url.as_str(), u.purpose, &u.choice)).collect();
        let read = Choice::Secret(("argocd".into(), "acme-read".into()));
        let write = Choice::Secret(("argocd".into(), "acme-write".into()));
        assert_eq!(
            got,
            [
                ("https://github.com/acme/app", Purpose::Sync, &read),
                ("https://github.com/public/charts", Purpose::Sync, &Choice::None),
                ("https://github.com/acme/dry", Purpose::Sync, &read),
                ("https://github.com/acme/dry", Purpose::Hydrate, &write),
                // Image Updater pushes with Argo CD's read credential.
                (
                    "https://github.com/acme/app",
                    Purpose::WriteBack { pull_request: false },
                    &read
                ),
            ]
        );
        // Two uses of one repository with one credential and one purpose share a probe.
        let other = Application::from_value(&json!({
            "metadata": {"name": "b", "namespace": "team-x"},
            "spec": {"source": {"repoURL": "https://github.com/Acme/App.git"}}
        }))
        .unwrap();
        let theirs = application(&other, &creds(), "argocd", &[]);
        assert_eq!(theirs[0].probe_key(), uses[0].probe_key());
    }

    #[test]
    fn with_several_instances_an_object_elsewhere_is_not_placed() {
        let two = Credentials::new(vec![
            CredentialRef {
                namespace: "one".into(),
                name: "a".into(),
                secret_type: SecretType::RepoCreds,
                url: "https://github.com/acme".into(),
                project: String::new(),
                own_credentials: true,
            },
            CredentialRef {
                namespace: "two".into(),
                name: "b".into(),
                secret_type: SecretType::RepoCreds,
                url: "https://github.com/acme".into(),
                project: String::new(),
                own_credentials: true,
            },
        ]);
        let app = Application::from_value(&json!({
            "metadata": {"name": "x", "namespace": "team"},
            "spec": {"source": {"repoURL": "https://github.com/acme/x"}}
        }))
        .unwrap();
        let uses = application(&app, &two, "argocd", &[]);
        assert_eq!(uses[0].choice, Choice::Unplaced(2));
        assert_eq!(uses[0].probe_key(), None);
        assert_eq!(
            application(&app, &two, "two", &[])[0].choice,
            Choice::Secret(("two".into(), "b".into()))
        );
    }
}
