//! Leadership on a `coordination.k8s.io/v1` Lease, with kube-lease-manager (well kept, for kube 5):
//! the leader renews the Lease before it runs out; a follower takes it when it has run out; on stop
//! the leader releases it. Each process has its own identity: the Pod's name from the downward API
//! (`POD_NAME`), else the host name with a random suffix.

use std::time::Duration;

use anyhow::{Context, Result};
use kube_lease_manager::{LeaseCreateMode, LeaseManagerBuilder};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Whether this process leads, as it changes; and how to step down.
pub(crate) struct Leadership {
    pub is_leader: watch::Receiver<bool>,
    task: Option<JoinHandle<()>>,
    /// Asks the forwarding task to stop, which makes the manager release the Lease.
    release: Option<watch::Sender<()>>,
    /// Without election, the sender of the constant `true`.
    _alone: Option<watch::Sender<bool>>,
}

/// This process's identity among the replicas.
pub(crate) fn identity() -> String {
    if let Ok(pod) = std::env::var("POD_NAME")
        && !pod.trim().is_empty()
    {
        return pod.trim().to_owned();
    }
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "scopegate-watch".into());
    let mut suffix = [0u8; 4];
    let _ = ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut suffix);
    format!(
        "{host}-{}",
        suffix.iter().map(|b| format!("{b:02x}")).collect::<String>()
    )
}

impl Leadership {
    /// Always the leader (`--no-leader-election`).
    pub fn alone() -> Self {
        let (tx, rx) = watch::channel(true);
        Self {
            is_leader: rx,
            task: None,
            release: None,
            _alone: Some(tx),
        }
    }

    /// Elect on the Lease `name` in `namespace` (created when absent), held for `duration`.
    pub async fn elect(
        client: kube::Client,
        namespace: &str,
        name: &str,
        identity: &str,
        duration: Duration,
    ) -> Result<Self> {
        let seconds = duration.as_secs().max(2);
        // Renew a third of the way before it runs out (at least a second before).
        let grace = (seconds / 3).clamp(1, seconds - 1);
        let manager = LeaseManagerBuilder::new(client, name)
            .with_namespace(namespace)
            .with_identity(identity)
            .with_duration(seconds)
            .with_grace(grace)
            .with_field_manager(format!("scopegate-watch-{identity}"))
            .with_create_mode(LeaseCreateMode::AutoCreate)
            .build()
            .await
            .with_context(|| format!("using the Lease {namespace}/{name}"))?;
        let (mut from_manager, manager_task) = manager.watch().await;
        let (tx, rx) = watch::channel(*from_manager.borrow());
        let (release, mut released) = watch::channel(());
        // Forward the manager's state; when asked to stop, drop its channel so that it releases the
        // Lease, and wait for it to have done so.
        let task = tokio::spawn(async move {
            loop {
                tokio::select! {
                    changed = from_manager.changed() => {
                        if changed.is_err() {
                            break;
                        }
                        let leads = *from_manager.borrow_and_update();
                        let _ = tx.send(leads);
                    }
                    _ = released.changed() => break,
                }
            }
            drop(from_manager);
            let _ = tx.send(false);
            match manager_task.await {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => tracing::warn!(error = %e, "releasing the Lease failed"),
                Err(e) => tracing::warn!(error = %e, "the Lease manager stopped"),
            }
        });
        Ok(Self {
            is_leader: rx,
            task: Some(task),
            release: Some(release),
            _alone: None,
        })
    }

    /// Step down: release the Lease (if held) and wait until it is released.
    pub async fn release(mut self) {
        if let Some(r) = self.release.take() {
            let _ = r.send(());
        }
        if let Some(t) = self.task.take() {
            let _ = t.await;
        }
    }
}
