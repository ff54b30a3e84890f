//! HTTPS and WSS on the HTTP port (`[tls]`), and the optional plain-HTTP port that redirects to
//! it.
//!
//! Browsers give a page the microphone and camera only in a secure context, and an HTTPS page
//! may only open `wss://`: a server reachable from other machines needs TLS. The certificate
//! comes from files (`certs.rs`, reloaded on change or SIGHUP without dropping connections);
//! handshakes run off the accept path (`listener.rs`). `gavel dev` stays plain HTTP.

pub mod acme;
pub mod certs;
pub mod listener;

use serde::Deserialize;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

/// `[tls]` in the configuration file: certificate files, or `[tls.acme]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// The certificate chain (PEM), the server's certificate first.
    #[serde(default)]
    pub cert: Option<PathBuf>,
    /// Its private key (PEM: PKCS#8, PKCS#1 or SEC1).
    #[serde(default)]
    pub key: Option<PathBuf>,
    /// Automatic certificates instead of files (`acme.rs`).
    #[serde(default)]
    pub acme: Option<acme::AcmeConfig>,
    /// A plain-HTTP address that answers every request with a redirect to HTTPS (for example
    /// `0.0.0.0:80`). Unset: none.
    #[serde(default)]
    pub redirect_from: Option<SocketAddr>,
}

/// The TLS side of the server: the certificate every handshake gets, and rustls' settings.
pub struct Tls {
    pub cert: Arc<certs::ReloadingCert>,
    pub config: Arc<rustls::ServerConfig>,
    /// ACME challenges being answered (`[tls.acme]`), for the plain-HTTP port's HTTP-01.
    pub challenges: Option<Arc<acme::Challenges>>,
}

impl TlsConfig {
    /// Exactly one source of certificates, complete.
    pub fn validate(&self) -> Result<(), String> {
        match (&self.cert, &self.key, &self.acme) {
            (Some(_), Some(_), None) => Ok(()),
            (None, None, Some(acme)) => acme::validate(acme, self.redirect_from.is_some()),
            (_, _, Some(_)) => {
                Err("[tls] has both certificate files and [tls.acme]: choose one".into())
            }
            _ => Err("[tls] needs cert and key (files), or [tls.acme]".into()),
        }
    }
}

impl Tls {
    /// Loads the certificate (a bad one is a start-up error) and starts watching its files, or
    /// starts ACME (`data_dir` caches what it issues; in a cluster, the nodes share it).
    pub fn start(
        c: &TlsConfig,
        data_dir: Option<&std::path::Path>,
        metrics: Arc<crate::metrics::Metrics>,
        cluster: Option<&Arc<crate::cluster::node::Node>>,
    ) -> Result<Tls, String> {
        c.validate()?;
        let mut alpn = vec![b"http/1.1".to_vec()];
        let cert = match (&c.cert, &c.key, &c.acme) {
            (Some(cert_file), Some(key_file), _) => {
                let cert = certs::ReloadingCert::new(certs::load(cert_file, key_file)?);
                certs::watch(cert.clone(), cert_file.clone(), key_file.clone(), metrics);
                (cert, None)
            }
            (_, _, Some(a)) => {
                let challenges = Arc::new(acme::Challenges::default());
                let first = acme::first_certificate(a, data_dir)?;
                let cert = certs::ReloadingCert::answering(first, Some(challenges.clone()));
                alpn.push(acme::ACME_TLS_ALPN.to_vec());
                let shared = cluster.map(crate::cluster::acme::SharedAcme::new);
                if let Some(shared) = &shared {
                    shared.attach(challenges.clone(), cert.clone());
                }
                acme::start(
                    a.clone(),
                    data_dir.map(|d| d.to_path_buf()),
                    cert.clone(),
                    challenges.clone(),
                    metrics,
                    shared,
                );
                (cert, Some(challenges))
            }
            _ => unreachable!("validated above"),
        };
        let (cert, challenges) = cert;
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .with_no_client_auth()
            .with_cert_resolver(cert.clone());
        // HTTP/1.1 only: WebSocket upgrades (the clients' signalling) are HTTP/1.1's. And
        // acme-tls/1 when ACME's TLS-ALPN-01 challenges are answered here.
        config.alpn_protocols = alpn;
        Ok(Tls {
            cert,
            config: Arc::new(config),
            challenges,
        })
    }
}

/// Serves `redirect_from`: every request is answered `308 Permanent Redirect` to the same path
/// on `https://` at the same host and the HTTPS port `https_port` — except ACME's HTTP-01
/// validations (`/.well-known/acme-challenge/<token>`) while `challenges` has them.
pub async fn serve_redirect(
    from: SocketAddr,
    https_port: u16,
    challenges: Option<Arc<acme::Challenges>>,
) -> std::io::Result<()> {
    use axum::http::{header, StatusCode, Uri};
    use axum::response::IntoResponse;
    let listener = tokio::net::TcpListener::bind(from).await?;
    let app = axum::Router::new()
        .route(
            "/.well-known/acme-challenge/{token}",
            axum::routing::get(
                move |axum::extract::Path(token): axum::extract::Path<String>| async move {
                    match challenges.as_ref().and_then(|c| c.http_response(&token)) {
                        Some(answer) => (StatusCode::OK, answer).into_response(),
                        None => (StatusCode::NOT_FOUND, "no such challenge").into_response(),
                    }
                },
            ),
        )
        .fallback(move |headers: axum::http::HeaderMap, uri: Uri| async move {
            let host = headers
                .get(header::HOST)
                .and_then(|h| h.to_str().ok())
                .map(|h| strip_port(h).to_string());
            let Some(host) = host.filter(|h| !h.is_empty()) else {
                return (StatusCode::BAD_REQUEST, "a Host header is needed").into_response();
            };
            let port = match https_port {
                443 => String::new(),
                p => format!(":{p}"),
            };
            let path = uri.path_and_query().map_or("/", |p| p.as_str());
            let location = format!("https://{host}{port}{path}");
            (
                StatusCode::PERMANENT_REDIRECT,
                [(header::LOCATION, location)],
            )
                .into_response()
        });
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!(error = %e, "the HTTP redirect stopped");
        }
    });
    Ok(())
}

/// `host` without its `:port` (IPv6 literals keep their brackets).
pub(crate) fn strip_port(host: &str) -> &str {
    match host.rfind(':') {
        Some(i) if !host[i..].contains(']') => &host[..i],
        _ => host,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn ports_come_off_hosts() {
        assert_eq!(super::strip_port("example.com:80"), "example.com");
        assert_eq!(super::strip_port("example.com"), "example.com");
        assert_eq!(super::strip_port("[::1]:80"), "[::1]");
        assert_eq!(super::strip_port("[::1]"), "[::1]");
    }
}
