//! Certificates and TLS clients for the TLS tests: each test makes its own CA.
#![allow(dead_code)]

use rustls_pki_types::{CertificateDer, ServerName};
use std::path::Path;
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

/// A CA and a certificate it signed for `localhost` and 127.0.0.1.
pub struct Issued {
    pub ca: CertificateDer<'static>,
    pub ca_pem: String,
    pub chain_pem: String,
    pub key_pem: String,
}

pub fn issue(name: &str) -> Issued {
    issue_for(name, &["localhost", "127.0.0.1"]).0
}

/// A CA and a certificate it signed for `names` (DNS names or IP addresses); also the leaf's
/// SubjectPublicKeyInfo (DER), which Chromium can be told to trust.
pub fn issue_for(name: &str, names: &[&str]) -> (Issued, Vec<u8>) {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(rcgen::DnType::CommonName, format!("{name} test CA"));
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let issuer = rcgen::Issuer::new(ca, ca_key);
    let key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
        .unwrap()
        .signed_by(&key, &issuer)
        .unwrap();
    let spki = rcgen::PublicKeyData::subject_public_key_info(&key);
    (
        Issued {
            ca: ca_cert.der().clone(),
            ca_pem: ca_cert.pem(),
            chain_pem: leaf.pem(),
            key_pem: key.serialize_pem(),
        },
        spki,
    )
}

pub fn write(dir: &Path, issued: &Issued) -> (std::path::PathBuf, std::path::PathBuf) {
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&key, &issued.key_pem).unwrap();
    std::fs::write(&cert, &issued.chain_pem).unwrap();
    (cert, key)
}

/// A TLS connection to the server that trusts only `ca`.
pub async fn connect(
    addr: &str,
    ca: &CertificateDer<'static>,
) -> std::io::Result<impl tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca.clone()).unwrap();
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let tcp = TcpStream::connect(addr).await?;
    let name = ServerName::try_from("localhost").unwrap();
    TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
}

/// `GET path` over a fresh TLS connection: the status line and the body.
pub async fn https_get(addr: &str, ca: &CertificateDer<'static>, path: &str) -> (String, String) {
    let mut tls = connect(addr, ca).await.expect("TLS handshake");
    let request = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    tls.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    tls.read_to_string(&mut response).await.unwrap();
    let status = response.lines().next().unwrap_or_default().to_string();
    let body = response
        .split("\r\n\r\n")
        .nth(1)
        .unwrap_or_default()
        .to_string();
    (status, body)
}
