//! Loopback network peers for the enterprise tests: a certificate authority of the test's own, a TLS
//! front that serves a plain-HTTP stand-in over HTTPS with a certificate that CA signed (as a GitHub
//! Enterprise Server behind a private CA), an HTTP CONNECT proxy that counts its tunnels (as a
//! corporate egress proxy), and a front that holds requests until enough are in flight together (to
//! see calls overlap without sleeping).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};

/// A certificate authority made for one test.
pub struct TestCa {
    pub pem: String,
    params: rcgen::CertificateParams,
    key: rcgen::KeyPair,
}

impl TestCa {
    pub fn new(name: &str) -> anyhow::Result<Self> {
        use rcgen::{BasicConstraints, CertificateParams, DistinguishedName, DnType, IsCa, KeyPair};
        let key = KeyPair::generate()?;
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, name);
        params.distinguished_name = dn;
        let pem = params.clone().self_signed(&key)?.pem();
        Ok(Self { pem, params, key })
    }

    /// A serving certificate for 127.0.0.1 and localhost: (certificate PEM, key PEM).
    pub fn leaf(&self) -> anyhow::Result<(String, String)> {
        let issuer = rcgen::Issuer::new(self.params.clone(), &self.key);
        let key = rcgen::KeyPair::generate()?;
        let leaf = rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])?;
        Ok((leaf.signed_by(&key, &issuer)?.pem(), key.serialize_pem()))
    }
}

/// Serves `backend` (plain HTTP/1.1) over HTTPS with a certificate `ca` signed, offering only
/// `http/1.1`. Every connection is relayed byte for byte once the handshake is done.
pub struct TlsFront {
    pub addr: SocketAddr,
    handshakes: Arc<AtomicUsize>,
}

impl TlsFront {
    pub async fn start(backend: SocketAddr, ca: &TestCa) -> anyhow::Result<Self> {
        use rustls_pki_types::pem::PemObject;
        use rustls_pki_types::{CertificateDer, PrivateKeyDer};
        crate::install_crypto_provider();
        let (cert, key) = ca.leaf()?;
        let chain = CertificateDer::pem_slice_iter(cert.as_bytes()).collect::<Result<Vec<_>, _>>()?;
        let key = PrivateKeyDer::from_pem_slice(key.as_bytes())?;
        let mut config = rustls::ServerConfig::builder()
            .with_no_client_auth()
            .with_single_cert(chain, key)?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let handshakes = Arc::new(AtomicUsize::new(0));
        let done = handshakes.clone();
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let (acceptor, done) = (acceptor.clone(), done.clone());
                tokio::spawn(async move {
                    let Ok(mut tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    done.fetch_add(1, Ordering::SeqCst);
                    let Ok(mut upstream) = TcpStream::connect(backend).await else {
                        return;
                    };
                    let _ = tokio::io::copy_bidirectional(&mut tls, &mut upstream).await;
                });
            }
        });
        Ok(Self { addr, handshakes })
    }

    /// TLS handshakes completed (a client that does not trust the CA completes none).
    pub fn handshakes(&self) -> usize {
        self.handshakes.load(Ordering::SeqCst)
    }
}

/// What a proxy saw of one client connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tunnel {
    /// `CONNECT`'s target, `host:port`.
    pub target: String,
    /// The `Proxy-Authorization` header, if any.
    pub authorization: Option<String>,
}

/// An HTTP proxy that serves `CONNECT` only (how HTTPS goes through a proxy): it answers 200 and
/// relays bytes to the target. With `credentials`, a request without them gets 407.
pub struct ConnectProxy {
    pub addr: SocketAddr,
    connections: Arc<AtomicUsize>,
    tunnels: Arc<Mutex<Vec<Tunnel>>>,
}

impl ConnectProxy {
    pub async fn start(credentials: Option<(&str, &str)>) -> anyhow::Result<Self> {
        use base64::Engine as _;
        let want = credentials.map(|(u, p)| {
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"))
            )
        });
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let connections = Arc::new(AtomicUsize::new(0));
        let tunnels: Arc<Mutex<Vec<Tunnel>>> = Arc::default();
        let (seen, opened) = (connections.clone(), tunnels.clone());
        tokio::spawn(async move {
            while let Ok((mut tcp, _)) = listener.accept().await {
                seen.fetch_add(1, Ordering::SeqCst);
                let (opened, want) = (opened.clone(), want.clone());
                tokio::spawn(async move {
                    let Some(head) = read_head(&mut tcp).await else { return };
                    let mut lines = head.lines();
                    let request = lines.next().unwrap_or_default().to_owned();
                    let authorization = lines
                        .filter_map(|l| l.split_once(':'))
                        .find(|(k, _)| k.trim().eq_ignore_ascii_case("proxy-authorization"))
                        .map(|(_, v)| v.trim().to_owned());
                    let mut parts = request.split_whitespace();
                    let (Some("CONNECT"), Some(target)) = (parts.next(), parts.next()) else {
                        let _ = tcp
                            .write_all(b"HTTP/1.1 405 Method Not Allowed\r\ncontent-length: 0\r\n\r\n")
                            .await;
                        return;
                    };
                    opened.lock().unwrap().push(Tunnel {
                        target: target.to_owned(),
                        authorization: authorization.clone(),
                    });
                    if want.is_some() && authorization != want {
                        let _ = tcp
                            .write_all(
                                b"HTTP/1.1 407 Proxy Authentication Required\r\nproxy-authenticate: Basic realm=\"proxy\"\r\ncontent-length: 0\r\n\r\n",
                            )
                            .await;
                        return;
                    }
                    let Ok(mut upstream) = TcpStream::connect(target).await else {
                        let _ = tcp
                            .write_all(b"HTTP/1.1 502 Bad Gateway\r\ncontent-length: 0\r\n\r\n")
                            .await;
                        return;
                    };
                    if tcp
                        .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
                        .await
                        .is_err()
                    {
                        return;
                    }
                    let _ = tokio::io::copy_bidirectional(&mut tcp, &mut upstream).await;
                });
            }
        });
        Ok(Self {
            addr,
            connections,
            tunnels,
        })
    }

    /// Client connections accepted, tunnel or not.
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }

    /// The `CONNECT` requests received.
    pub fn tunnels(&self) -> Vec<Tunnel> {
        self.tunnels.lock().unwrap().clone()
    }
}

/// Read an HTTP request head (up to the blank line), at most 16 KiB.
async fn read_head(tcp: &mut TcpStream) -> Option<String> {
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") {
        if buf.len() > 16 * 1024 || tcp.read(&mut byte).await.ok()? == 0 {
            return None;
        }
        buf.push(byte[0]);
    }
    String::from_utf8(buf).ok()
}

struct Holding {
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
    arrived: tokio::sync::watch::Sender<usize>,
    hold_until: usize,
    holds: fn(&str) -> bool,
    backend: String,
    client: reqwest::Client,
}

/// A plain-HTTP front for a stand-in that holds each request `holds` selects until `hold_until` of
/// them are in flight together (or 5 s have passed), then forwards it; it records the most that were
/// in flight at once. Calls made one after another never get past one in flight.
pub struct HoldingFront {
    pub addr: SocketAddr,
    shared: Arc<Holding>,
}

impl HoldingFront {
    pub async fn start(backend: SocketAddr, hold_until: usize, holds: fn(&str) -> bool) -> anyhow::Result<Self> {
        crate::install_crypto_provider();
        let shared = Arc::new(Holding {
            in_flight: AtomicUsize::new(0),
            max_in_flight: AtomicUsize::new(0),
            arrived: tokio::sync::watch::channel(0).0,
            hold_until,
            holds,
            backend: format!("http://{backend}"),
            client: reqwest::Client::builder().no_proxy().build()?,
        });
        let app = axum::Router::new().fallback(forward).with_state(shared.clone());
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        tokio::spawn(async move { axum::serve(listener, app).await });
        Ok(Self { addr, shared })
    }

    /// The most held requests that were in flight at once.
    pub fn max_in_flight(&self) -> usize {
        self.shared.max_in_flight.load(Ordering::SeqCst)
    }
}

async fn forward(
    axum::extract::State(s): axum::extract::State<Arc<Holding>>,
    req: axum::extract::Request,
) -> axum::response::Response {
    use axum::response::IntoResponse as _;
    let path_and_query = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_default();
    let held = (s.holds)(req.uri().path());
    if held {
        let now = s.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        s.max_in_flight.fetch_max(now, Ordering::SeqCst);
        s.arrived.send_modify(|n| *n = (*n).max(now));
        let mut arrived = s.arrived.subscribe();
        let _ = tokio::time::timeout(Duration::from_secs(5), arrived.wait_for(|n| *n >= s.hold_until)).await;
    }
    let method = req.method().clone();
    let headers = req.headers().clone();
    let body = axum::body::to_bytes(req.into_body(), 1 << 20).await.unwrap_or_default();
    let mut out = s
        .client
        .request(method, format!("{}{path_and_query}", s.backend))
        .body(body);
    for (k, v) in &headers {
        if k != axum::http::header::HOST {
            out = out.header(k, v);
        }
    }
    let answer = out.send().await;
    if held {
        s.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
    let Ok(answer) = answer else {
        return axum::http::StatusCode::BAD_GATEWAY.into_response();
    };
    let status = answer.status();
    let headers = answer.headers().clone();
    let body = answer.bytes().await.unwrap_or_default();
    let mut resp = (status, body).into_response();
    for (k, v) in &headers {
        if k != axum::http::header::CONTENT_LENGTH && k != axum::http::header::TRANSFER_ENCODING {
            resp.headers_mut().insert(k, v.clone());
        }
    }
    resp
}
