//! HTTPS and WSS on the HTTP port (`[tls]`), and the optional plain-HTTP port that redirects to
//! it.
//!
//! Browsers give a page the microphone and camera only in a secure context, and an HTTPS page
//! may only open `wss://`: a server reachable from other machines needs TLS. The certificate
//! comes from files (`certs.rs`, reloaded on change or SIGHUP without dropping connections);
//! handshakes run off the accept path (`listener.rs`). `gavel dev` stays plain HTTP.

pub mod certs;
pub mod listener;

use serde::Deserialize;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

/// `[tls]` in the configuration file.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// The certificate chain (PEM), the server's certificate first.
    pub cert: PathBuf,
    /// Its private key (PEM: PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
    /// A plain-HTTP address that answers every request with a redirect to HTTPS (for example
    /// `0.0.0.0:80`). Unset: none.
    #[serde(default)]
    pub redirect_from: Option<SocketAddr>,
}

/// The TLS side of the server: the certificate every handshake gets, and rustls' settings.
pub struct Tls {
    pub cert: Arc<certs::ReloadingCert>,
    pub config: Arc<rustls::ServerConfig>,
}

impl Tls {
    /// Loads the certificate (a bad one is a start-up error) and starts watching its files.
    pub fn start(c: &TlsConfig, metrics: Arc<crate::metrics::Metrics>) -> Result<Tls, String> {
        let cert = certs::ReloadingCert::new(certs::load(&c.cert, &c.key)?);
        certs::watch(cert.clone(), c.cert.clone(), c.key.clone(), metrics);
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .with_no_client_auth()
            .with_cert_resolver(cert.clone());
        // HTTP/1.1 only: WebSocket upgrades (the clients' signalling) are HTTP/1.1's.
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Tls {
            cert,
            config: Arc::new(config),
        })
    }
}

/// Serves `redirect_from`: every request is answered `308 Permanent Redirect` to the same path
/// on `https://` at the same host and the HTTPS port `https_port`.
pub async fn serve_redirect(from: SocketAddr, https_port: u16) -> std::io::Result<()> {
    use axum::http::{header, StatusCode, Uri};
    use axum::response::IntoResponse;
    let listener = tokio::net::TcpListener::bind(from).await?;
    let app =
        axum::Router::new().fallback(move |headers: axum::http::HeaderMap, uri: Uri| async move {
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
