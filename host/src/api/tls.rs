//! HTTPS for `cally serve --tls-cert FILE --tls-key FILE`: rustls (TLS 1.2 and
//! 1.3, its default cipher suites, on the `ring` provider) in front of the same
//! router as plain HTTP, a certificate that can be reloaded while serving
//! (SIGHUP in `cally serve`), and HSTS on every answer sent over TLS.

use std::convert::Infallible;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::http::{HeaderValue, header};
use axum::response::Response;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use rustls::crypto::CryptoProvider;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tower_service::Service as _;

use super::ApiHost;

/// `Strict-Transport-Security` on every TLS answer: browsers keep to HTTPS for
/// this host for a year, so a later plain-HTTP link cannot strip the TLS.
pub const HSTS: &str = "max-age=31536000";

/// How long a client has to finish its TLS handshake; one that stalls is
/// dropped instead of holding a task (a slow-handshake flood).
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a certificate or key could not be loaded; each names the file.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// The certificate file is missing, unreadable or not PEM.
    #[error(
        "cannot read the TLS certificate chain from {path}: {reason} (give a PEM file with the server certificate first, then its intermediates)"
    )]
    Certificate {
        /// The `--tls-cert` file.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// The key file is missing, unreadable, not PEM, or a key type rustls
    /// cannot sign with.
    #[error(
        "cannot read the TLS private key from {path}: {reason} (give a PEM file with one PKCS#8, PKCS#1 or SEC1 private key)"
    )]
    Key {
        /// The `--tls-key` file.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// The key is not the one the certificate was issued for.
    #[error(
        "the TLS private key {key} does not match the certificate {cert}: {reason} (give the key the certificate was issued for)"
    )]
    Mismatch {
        /// The `--tls-cert` file.
        cert: PathBuf,
        /// The `--tls-key` file.
        key: PathBuf,
        /// What rustls reported.
        reason: String,
    },
    /// rustls refused the protocol versions (a build without TLS 1.2/1.3).
    #[error("cannot configure TLS: {0}")]
    Config(#[from] rustls::Error),
}

/// The PEM files `cally serve` reads its certificate chain and key from.
#[derive(Debug, Clone)]
pub struct CertificateFiles {
    /// The certificate chain, server certificate first.
    pub cert: PathBuf,
    /// The server certificate's private key.
    pub key: PathBuf,
}

impl CertificateFiles {
    /// Reads and checks both files: a non-empty chain, a key rustls can sign
    /// with, and the key matching the first certificate.
    pub fn load(&self, provider: &CryptoProvider) -> Result<CertifiedKey, TlsError> {
        let chain = read_chain(&self.cert)?;
        let key = PrivateKeyDer::from_pem_file(&self.key).map_err(|e| TlsError::Key {
            path: self.key.clone(),
            reason: e.to_string(),
        })?;
        let signing_key =
            provider
                .key_provider
                .load_private_key(key)
                .map_err(|e| TlsError::Key {
                    path: self.key.clone(),
                    reason: e.to_string(),
                })?;
        let certified = CertifiedKey::new(chain, signing_key);
        certified.keys_match().map_err(|e| TlsError::Mismatch {
            cert: self.cert.clone(),
            key: self.key.clone(),
            reason: e.to_string(),
        })?;
        Ok(certified)
    }
}

fn read_chain(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let error = |reason: String| TlsError::Certificate {
        path: path.to_owned(),
        reason,
    };
    let chain = CertificateDer::pem_file_iter(path)
        .map_err(|e| error(e.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| error(e.to_string()))?;
    if chain.is_empty() {
        return Err(error("no CERTIFICATE block in the file".into()));
    }
    Ok(chain)
}

/// The server's certificate, swapped whole on [`ReloadingCert::reload`]: new
/// handshakes take the new one, connections already open keep theirs.
#[derive(Debug)]
pub struct ReloadingCert {
    files: CertificateFiles,
    provider: Arc<CryptoProvider>,
    current: RwLock<Arc<CertifiedKey>>,
}

impl ReloadingCert {
    /// Loads `files` now; an error here stops `cally serve` before it listens.
    pub fn load(files: CertificateFiles) -> Result<Self, TlsError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let current = RwLock::new(Arc::new(files.load(&provider)?));
        Ok(Self {
            files,
            provider,
            current,
        })
    }

    /// Reads the files again; on success new handshakes use them, on error
    /// the certificate in use stays (a half-written or wrong file never takes
    /// the server's HTTPS down) and the error says why.
    pub fn reload(&self) -> Result<(), TlsError> {
        let fresh = Arc::new(self.files.load(&self.provider)?);
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = fresh;
        Ok(())
    }

    /// The files it reads.
    pub fn files(&self) -> &CertificateFiles {
        &self.files
    }

    /// The rustls server configuration over this certificate: TLS 1.3 and
    /// 1.2 with rustls's default suites (forward-secret AEAD only), no
    /// client certificates, HTTP/1.1 offered by ALPN.
    pub fn server_config(self: &Arc<Self>) -> Result<Arc<rustls::ServerConfig>, TlsError> {
        let mut config = rustls::ServerConfig::builder_with_provider(self.provider.clone())
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?
            .with_no_client_auth()
            .with_cert_resolver(self.clone());
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Arc::new(config))
    }
}

impl ResolvesServerCert for ReloadingCert {
    fn resolve(&self, _client_hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(
            self.current
                .read()
                .unwrap_or_else(PoisonError::into_inner)
                .clone(),
        )
    }
}

/// Adds [`HSTS`] to an answer.
async fn add_hsts(mut response: Response) -> Response {
    response.headers_mut().insert(
        header::STRICT_TRANSPORT_SECURITY,
        HeaderValue::from_static(HSTS),
    );
    response
}

/// Serves `app(host)` over TLS on `listener` until `shutdown` completes; then
/// stops accepting, lets running requests finish, and ends every live call,
/// as [`super::serve`] does for plain HTTP.
pub async fn serve_tls(
    listener: tokio::net::TcpListener,
    tls: Arc<rustls::ServerConfig>,
    host: Arc<ApiHost>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let acceptor = tokio_rustls::TlsAcceptor::from(tls);
    let app = super::app(host.clone()).layer(axum::middleware::map_response(add_hsts));
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors and the like: wait, as axum::serve does.
                    tracing::warn!(%error, "cannot accept a connection");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let acceptor = acceptor.clone();
        let app = app.clone();
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            let stream = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                Ok(Ok(stream)) => stream,
                Ok(Err(error)) => {
                    tracing::debug!(%peer, %error, "TLS handshake failed");
                    return;
                }
                Err(_) => {
                    tracing::debug!(%peer, "TLS handshake timed out");
                    return;
                }
            };
            let service =
                hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
                    // What `into_make_service_with_connect_info` gives plain HTTP.
                    request.extensions_mut().insert(ConnectInfo(peer));
                    let mut app = app.clone();
                    async move {
                        Ok::<_, Infallible>(app.call(request).await.unwrap_or_else(|e| match e {}))
                    }
                });
            // The timer makes hyper's 30 s limit on reading a request's headers
            // apply, so a client trickling headers cannot hold the connection.
            let connection = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .serve_connection(TokioIo::new(stream), service);
            if let Err(error) = watcher.watch(connection).await {
                tracing::debug!(%peer, %error, "HTTPS connection ended with an error");
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
    host.end_live_calls().await;
    Ok(())
}
