//! The server's certificate, reloaded without a restart.
//!
//! Every TLS handshake asks [`ReloadingCert`] for the current certificate, so a renewed one is
//! used by the next connection while the open ones carry on with theirs: nothing is dropped.
//! [`watch`] reloads it on SIGHUP and whenever the files change (their modification time,
//! checked every few seconds); a file that does not parse keeps the old certificate in use and
//! is logged.

use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

/// The certificate chain and key in `cert` and `key` (PEM), ready to serve.
pub fn load(cert: &Path, key: &Path) -> Result<Arc<CertifiedKey>, String> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .map_err(|e| format!("cannot read certificate {}: {e}", cert.display()))?
        .collect::<Result<_, _>>()
        .map_err(|e| format!("bad certificate {}: {e}", cert.display()))?;
    if chain.is_empty() {
        return Err(format!("no certificate in {}", cert.display()));
    }
    let key = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| format!("cannot read private key {}: {e}", key.display()))?;
    let provider = rustls::crypto::aws_lc_rs::default_provider();
    let certified = CertifiedKey::from_der(chain, key, &provider)
        .map_err(|e| format!("certificate and key do not go together: {e}"))?;
    Ok(Arc::new(certified))
}

/// Hands every handshake the certificate loaded last — or, to an ACME validation (ALPN
/// `acme-tls/1`), the challenge certificate for the name it asks for.
#[derive(Debug)]
pub struct ReloadingCert {
    current: RwLock<Arc<CertifiedKey>>,
    challenges: Option<Arc<super::acme::Challenges>>,
}

impl ReloadingCert {
    pub fn new(first: Arc<CertifiedKey>) -> Arc<ReloadingCert> {
        Self::answering(first, None)
    }

    /// A certificate that also answers TLS-ALPN-01 challenges from `challenges`.
    pub fn answering(
        first: Arc<CertifiedKey>,
        challenges: Option<Arc<super::acme::Challenges>>,
    ) -> Arc<ReloadingCert> {
        Arc::new(ReloadingCert {
            current: RwLock::new(first),
            challenges,
        })
    }

    pub fn replace(&self, next: Arc<CertifiedKey>) {
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = next;
    }

    pub fn current(&self) -> Arc<CertifiedKey> {
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

impl ResolvesServerCert for ReloadingCert {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let acme = hello
            .alpn()
            .is_some_and(|mut protocols| protocols.any(|p| p == super::acme::ACME_TLS_ALPN));
        if acme {
            // Only a validation asks for acme-tls/1; it gets the challenge or nothing.
            let name = hello.server_name()?;
            return self.challenges.as_ref()?.tls_alpn_cert(name);
        }
        Some(self.current())
    }
}

/// How often the files' modification times are looked at.
pub const POLL: Duration = Duration::from_secs(5);

/// Reloads `into` from `cert` and `key` on SIGHUP and when either file changes, until the
/// process ends. Returns at once; the work runs on a task.
pub fn watch(
    into: Arc<ReloadingCert>,
    cert: PathBuf,
    key: PathBuf,
    metrics: Arc<crate::metrics::Metrics>,
) {
    tokio::spawn(async move {
        let stamp = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
        let mut seen: (Option<SystemTime>, Option<SystemTime>) = (stamp(&cert), stamp(&key));
        #[cfg(unix)]
        let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
        loop {
            #[cfg(unix)]
            let signalled = async {
                match hup.as_mut() {
                    Some(h) => {
                        h.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            #[cfg(not(unix))]
            let signalled = std::future::pending::<()>();
            let why = tokio::select! {
                _ = signalled => "SIGHUP",
                _ = tokio::time::sleep(POLL) => {
                    let now = (stamp(&cert), stamp(&key));
                    if now == seen {
                        continue;
                    }
                    "the files changed"
                }
            };
            seen = (stamp(&cert), stamp(&key));
            match load(&cert, &key) {
                Ok(next) => {
                    into.replace(next);
                    metrics.tls_reloads.inc();
                    tracing::info!(why, cert = %cert.display(), "certificate reloaded");
                }
                Err(e) => {
                    metrics.tls_reload_failures.inc();
                    tracing::error!(why, error = %e, "certificate not reloaded: the old one stays in use");
                }
            }
        }
    });
}
