//! The serving certificate: loaded from PEM files, handed to rustls per handshake, and reloaded when the
//! files change.
//!
//! Changes are found by reading the files and comparing their digest, at an interval. That sees every
//! way a file can change — including kubelet's update of a mounted Secret, an atomic swap of the `..data`
//! symlink that inotify reports only as the old directory going away. A new pair that does not load
//! (unreadable, not PEM, key not matching) keeps the old certificate serving and is logged and counted.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

use ring::digest;
use rustls::ServerConfig;
use rustls::server::{ClientHello, ResolvesServerCert, WebPkiClientVerifier};
use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

/// A TLS file problem, naming the file.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("{path}: {message}")]
    File { path: String, message: String },
    #[error("TLS configuration: {0}")]
    Rustls(#[from] rustls::Error),
    #[error("client CA {path}: {message}")]
    ClientCa { path: String, message: String },
}

fn file_error(path: &Path, message: impl fmt::Display) -> TlsError {
    TlsError::File {
        path: path.display().to_string(),
        message: message.to_string(),
    }
}

/// Parse a certificate chain and its private key from PEM bytes.
fn certified_key(cert_pem: &[u8], key_pem: &[u8], cert: &Path, key: &Path) -> Result<CertifiedKey, TlsError> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(cert_pem)
        .collect::<Result<_, _>>()
        .map_err(|e| file_error(cert, e))?;
    if chain.is_empty() {
        return Err(file_error(cert, "no certificate in the file"));
    }
    let key_der = PrivateKeyDer::from_pem_slice(key_pem).map_err(|e| file_error(key, e))?;
    let signing_key = rustls::crypto::ring::sign::any_supported_type(&key_der)
        .map_err(|e| file_error(key, format!("unusable private key: {e}")))?;
    let ck = CertifiedKey::new(chain, signing_key);
    ck.keys_match()
        .map_err(|e| file_error(cert, format!("does not match the key in {}: {e}", key.display())))?;
    Ok(ck)
}

fn read_pair(cert: &Path, key: &Path) -> Result<(Vec<u8>, Vec<u8>), TlsError> {
    let c = std::fs::read(cert).map_err(|e| file_error(cert, e))?;
    let k = std::fs::read(key).map_err(|e| file_error(key, e))?;
    Ok((c, k))
}

fn pair_digest(cert: &[u8], key: &[u8]) -> Vec<u8> {
    let mut ctx = digest::Context::new(&digest::SHA256);
    ctx.update(&(cert.len() as u64).to_be_bytes());
    ctx.update(cert);
    ctx.update(key);
    ctx.finish().as_ref().to_vec()
}

/// When the leaf certificate expires (Unix seconds).
pub fn not_after(ck: &CertifiedKey) -> Option<i64> {
    let der = ck.end_entity_cert().ok()?;
    let (_, cert) = x509_parser::parse_x509_certificate(der.as_ref()).ok()?;
    Some(cert.validity().not_after.timestamp())
}

/// What a reload attempt found.
#[derive(Debug, PartialEq, Eq)]
pub enum Reload {
    Unchanged,
    Reloaded,
    /// The files changed but do not load; the old certificate keeps serving.
    Failed(String),
}

/// The current serving certificate, shared by every handshake.
pub struct CertStore {
    cert_path: PathBuf,
    key_path: PathBuf,
    current: RwLock<Arc<CertifiedKey>>,
    /// Digest of the file pair last tried, loaded or not.
    seen: Mutex<Vec<u8>>,
}

impl fmt::Debug for CertStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CertStore")
            .field("cert", &self.cert_path)
            .field("key", &self.key_path)
            .finish()
    }
}

impl CertStore {
    pub fn load(cert_path: &Path, key_path: &Path) -> Result<Self, TlsError> {
        let (c, k) = read_pair(cert_path, key_path)?;
        let ck = certified_key(&c, &k, cert_path, key_path)?;
        Ok(Self {
            cert_path: cert_path.to_owned(),
            key_path: key_path.to_owned(),
            current: RwLock::new(Arc::new(ck)),
            seen: Mutex::new(pair_digest(&c, &k)),
        })
    }

    pub fn current(&self) -> Arc<CertifiedKey> {
        match self.current.read() {
            Ok(g) => g.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Read the files; swap in a changed pair that loads. Blocking file I/O: run it off the runtime.
    pub fn reload_if_changed(&self) -> Reload {
        let (c, k) = match read_pair(&self.cert_path, &self.key_path) {
            Ok(pair) => pair,
            // Mid-swap a file can be missing for a moment; a later poll sees the finished swap.
            Err(e) => return Reload::Failed(e.to_string()),
        };
        let digest = pair_digest(&c, &k);
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        if *seen == digest {
            return Reload::Unchanged;
        }
        *seen = digest;
        match certified_key(&c, &k, &self.cert_path, &self.key_path) {
            Ok(ck) => {
                let mut cur = self.current.write().unwrap_or_else(|p| p.into_inner());
                *cur = Arc::new(ck);
                Reload::Reloaded
            }
            Err(e) => Reload::Failed(e.to_string()),
        }
    }
}

impl ResolvesServerCert for CertStore {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current())
    }
}

/// The rustls server configuration: the store's certificate, ALPN `h2` then `http/1.1`, and, with a
/// client CA, client certificates required and verified against it.
pub fn server_config(store: Arc<CertStore>, client_ca: Option<&Path>) -> Result<ServerConfig, TlsError> {
    let provider = Arc::new(crate::crypto_provider());
    let builder = ServerConfig::builder_with_provider(provider.clone()).with_safe_default_protocol_versions()?;
    let mut config = match client_ca {
        None => builder.with_no_client_auth().with_cert_resolver(store),
        Some(path) => {
            let ca_error = |message: String| TlsError::ClientCa {
                path: path.display().to_string(),
                message,
            };
            let mut roots = rustls::RootCertStore::empty();
            let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
                .map_err(|e| ca_error(e.to_string()))?
                .collect::<Result<_, _>>()
                .map_err(|e| ca_error(e.to_string()))?;
            if certs.is_empty() {
                return Err(ca_error("no certificate in the file".into()));
            }
            for c in certs {
                roots.add(c).map_err(|e| ca_error(e.to_string()))?;
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .map_err(|e| ca_error(e.to_string()))?;
            builder.with_client_cert_verifier(verifier).with_cert_resolver(store)
        }
    };
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::certs::{CertRequest, issue, write};

    #[test]
    fn reloads_changed_pairs_and_keeps_serving_on_broken_ones() {
        crate::install_crypto_provider();
        let dir = tempfile::tempdir().unwrap();
        let first = issue(&CertRequest::new("a", "b")).unwrap();
        write(dir.path(), &first).unwrap();
        let store = CertStore::load(&dir.path().join("tls.crt"), &dir.path().join("tls.key")).unwrap();
        let before = store.current().cert[0].clone();
        assert!(not_after(&store.current()).unwrap() > jiff::Timestamp::now().as_second());
        assert_eq!(store.reload_if_changed(), Reload::Unchanged);

        let second = issue(&CertRequest::new("a", "b")).unwrap();
        write(dir.path(), &second).unwrap();
        assert_eq!(store.reload_if_changed(), Reload::Reloaded);
        let after = store.current().cert[0].clone();
        assert_ne!(before, after);

        std::fs::write(dir.path().join("tls.crt"), "garbage").unwrap();
        assert!(matches!(store.reload_if_changed(), Reload::Failed(m) if m.contains("tls.crt")));
        assert_eq!(
            store.current().cert[0],
            after,
            "the last good certificate keeps serving"
        );
        assert_eq!(
            store.reload_if_changed(),
            Reload::Unchanged,
            "a broken pair is reported once"
        );
    }
}
