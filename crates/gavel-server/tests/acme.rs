//! Automatic certificates (`[tls.acme]`) against Debian's `pebble`, a test ACME CA that really
//! validates: it connects back to the server on the HTTPS port (TLS-ALPN-01) or the
//! plain-HTTP port (HTTP-01). The server starts on a self-signed placeholder, orders its
//! certificate, and then serves one that Pebble's root verifies; a restart on the same data
//! directory serves the cached certificate without a new order. Bad `[tls]` combinations are
//! refused at start-up with a clear error.

mod common;

use common::cluster::Cluster;
use common::process::{free_port, temp_dir};
use common::tls::{connect, https_get, issue, Issued};
use common::TestServer;
use gavel_server::tls::acme::{AcmeConfig, ChallengeKind};
use gavel_server::tls::TlsConfig;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::CertificateDer;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A Pebble server that validates on `http_port` (HTTP-01) and `tls_port` (TLS-ALPN-01),
/// killed when dropped.
struct Pebble {
    child: Child,
    directory: String,
    management: u16,
    /// The CA of Pebble's own HTTPS listener (the directory's certificate).
    listener: Issued,
    listener_ca: std::path::PathBuf,
}

impl Pebble {
    fn start(http_port: u16, tls_port: u16) -> Pebble {
        let dir = temp_dir("pebble");
        let listener = issue("pebble listener");
        let (cert, key) = common::tls::write(&dir, &listener);
        let listener_ca = dir.join("listener-ca.pem");
        std::fs::write(&listener_ca, &listener.ca_pem).unwrap();
        let (port, management) = (free_port(), free_port());
        let config = serde_json::json!({"pebble": {
            "listenAddress": format!("127.0.0.1:{port}"),
            "managementListenAddress": format!("127.0.0.1:{management}"),
            "certificate": cert,
            "privateKey": key,
            "httpPort": http_port,
            "tlsPort": tls_port,
            "ocspResponderURL": "",
            "externalAccountBindingRequired": false,
        }});
        let config_path = dir.join("pebble.json");
        std::fs::write(&config_path, config.to_string()).unwrap();
        let child = Command::new("pebble")
            .arg("-config")
            .arg(&config_path)
            // No random sleeps before validating; every nonce accepted (tests, not chaos).
            .env("PEBBLE_VA_NOSLEEP", "1")
            .env("PEBBLE_WFE_NONCEREJECT", "0")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("pebble is installed (scripts/test-env installs it)");
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "pebble listens");
            std::thread::sleep(Duration::from_millis(50));
        }
        Pebble {
            child,
            directory: format!("https://localhost:{port}/dir"),
            management,
            listener,
            listener_ca,
        }
    }

    /// The root Pebble issues under (from its management interface).
    async fn root(&self) -> CertificateDer<'static> {
        let (status, body) = https_get(
            &format!("127.0.0.1:{}", self.management),
            &self.listener.ca,
            "/roots/0",
        )
        .await;
        assert!(status.contains("200"), "{status}: {body}");
        CertificateDer::from_pem_slice(body.as_bytes()).expect("a PEM root")
    }
}

impl Drop for Pebble {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A server on `port` with `[tls.acme]` for `localhost`, caching in `data`.
async fn server(
    port: u16,
    redirect: Option<u16>,
    pebble: &Pebble,
    challenge: ChallengeKind,
    data: &std::path::Path,
) -> TestServer {
    let mut config = TestServer::config();
    with_acme(&mut config, port, redirect, pebble, challenge, data);
    TestServer::with_config(config).await
}

/// `config` on `port` with `[tls.acme]` for `localhost`, caching in `data`.
fn with_acme(
    config: &mut gavel_server::config::Config,
    port: u16,
    redirect: Option<u16>,
    pebble: &Pebble,
    challenge: ChallengeKind,
    data: &std::path::Path,
) {
    config.bind = ([127, 0, 0, 1], port).into();
    config.data_dir = Some(data.to_path_buf());
    config.tls = Some(TlsConfig {
        cert: None,
        key: None,
        redirect_from: redirect.map(|p| ([127, 0, 0, 1], p).into()),
        acme: Some(AcmeConfig {
            domains: vec!["localhost".into()],
            contact: vec![],
            directory: pebble.directory.clone(),
            challenge,
            directory_ca: Some(pebble.listener_ca.clone()),
        }),
    });
}

/// Waits until the server's certificate verifies against `root` (the order went through),
/// then checks the API answers over it. Returns the served leaf.
async fn issued_by(addr: &str, root: &CertificateDer<'static>) -> Vec<u8> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if connect(addr, root).await.is_ok() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no certificate from Pebble in time"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let (status, body) = https_get(addr, root, "/healthz").await;
    assert!(
        status.contains("200") && body.contains("ok"),
        "{status} {body}"
    );
    served_leaf(addr).await
}

/// The leaf certificate the server presents (whoever issued it).
async fn served_leaf(addr: &str) -> Vec<u8> {
    use std::sync::Arc;
    #[derive(Debug)]
    struct Anything;
    impl rustls::client::danger::ServerCertVerifier for Anything {
        fn verify_server_cert(
            &self,
            _: &CertificateDer<'_>,
            _: &[CertificateDer<'_>],
            _: &rustls_pki_types::ServerName<'_>,
            _: &[u8],
            _: rustls_pki_types::UnixTime,
        ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
            Ok(rustls::client::danger::ServerCertVerified::assertion())
        }
        fn verify_tls12_signature(
            &self,
            _: &[u8],
            _: &CertificateDer<'_>,
            _: &rustls::DigitallySignedStruct,
        ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
            Ok(rustls::client::danger::HandshakeSignatureValid::assertion())
        }
        fn verify_tls13_signature(
            &self,
            _: &[u8],
            _: &CertificateDer<'_>,
            _: &rustls::DigitallySignedStruct,
        ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
            Ok(rustls::client::danger::HandshakeSignatureValid::assertion())
        }
        fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
            rustls::crypto::aws_lc_rs::default_provider()
                .signature_verification_algorithms
                .supported_schemes()
        }
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(Anything))
        .with_no_client_auth();
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let name = rustls_pki_types::ServerName::try_from("localhost").unwrap();
    let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
        .unwrap();
    tls.get_ref().1.peer_certificates().unwrap()[0].to_vec()
}

fn orders(server: &TestServer, outcome: &str) -> u64 {
    let Some(s) = &server.server else { return 0 };
    let text = s.registry.metrics.render();
    let line = format!("gavel_acme_orders_total{{outcome=\"{outcome}\"}}");
    text.lines()
        .find_map(|l| l.strip_prefix(&line).map(|v| v.trim().parse().unwrap_or(0)))
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_alpn_01_issues_a_certificate_that_a_restart_serves_from_the_cache() {
    let port = free_port();
    let pebble = Pebble::start(free_port(), port);
    let root = pebble.root().await;
    let data = temp_dir("acme-alpn");
    let ts = server(port, None, &pebble, ChallengeKind::TlsAlpn01, &data).await;
    let addr = format!("127.0.0.1:{port}");
    let leaf = issued_by(&addr, &root).await;
    assert_eq!(orders(&ts, "issued"), 1);
    assert!(data.join("acme/cert.pem").exists() && data.join("acme/account.json").exists());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(data.join("acme/key.pem"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "the key is the owner's only");
    }
    ts.stop().await;

    // The same data directory: the cached certificate at once, and no new order.
    let ts = server(port, None, &pebble, ChallengeKind::TlsAlpn01, &data).await;
    assert!(
        connect(&addr, &root).await.is_ok(),
        "served from the cache at once"
    );
    assert_eq!(served_leaf(&addr).await, leaf, "the same certificate");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        orders(&ts, "issued") + orders(&ts, "failed"),
        0,
        "no new order"
    );
    ts.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_01_is_answered_on_the_plain_http_port() {
    let (port, http) = (free_port(), free_port());
    let pebble = Pebble::start(http, free_port());
    let root = pebble.root().await;
    let data = temp_dir("acme-http");
    let ts = server(port, Some(http), &pebble, ChallengeKind::Http01, &data).await;
    issued_by(&format!("127.0.0.1:{port}"), &root).await;
    assert_eq!(orders(&ts, "issued"), 1);
    // Other paths on the plain-HTTP port still redirect; an unknown token is not found.
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let r = client
        .get(format!(
            "http://127.0.0.1:{http}/.well-known/acme-challenge/nope"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 404);
    let r = client
        .get(format!("http://127.0.0.1:{http}/v1/rooms"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 308);
    ts.stop().await;
}

/// In a cluster one node orders, any node answers the CA, and every node serves the
/// certificate: Pebble validates TLS-ALPN-01 on b's HTTPS port only, while b's own orders go
/// to a directory nobody serves — so a orders, and b answers for it from the shared challenges.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_a_cluster_one_node_orders_and_every_node_answers_and_serves() {
    let cluster = Cluster::start("acme_cluster").await;
    let (port_a, port_b) = (free_port(), free_port());
    let pebble = Pebble::start(free_port(), port_b);
    let root = pebble.root().await;
    let node = |name: &str, port: u16, directory: String| {
        let mut c = cluster.node(name, 3_000, 500);
        let data = temp_dir(&format!("acme-{name}"));
        with_acme(&mut c, port, None, &pebble, ChallengeKind::TlsAlpn01, &data);
        c.tls.as_mut().unwrap().acme.as_mut().unwrap().directory = directory;
        c
    };

    // b first: its order fails at once, and it lets the order lock go.
    let nowhere = format!("https://127.0.0.1:{}/dir", free_port());
    let b = TestServer::with_config(node("b", port_b, nowhere)).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    while orders(&b, "failed") == 0 {
        assert!(Instant::now() < deadline, "b never tried to order");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let a = TestServer::with_config(node("a", port_a, pebble.directory.clone())).await;
    let leaf = issued_by(&format!("127.0.0.1:{port_a}"), &root).await;
    assert_eq!(orders(&a, "issued"), 1);
    // b answered the CA's validation, and serves what a ordered without ordering itself.
    let leaf_b = issued_by(&format!("127.0.0.1:{port_b}"), &root).await;
    assert_eq!(leaf_b, leaf, "the same certificate on every node");
    assert_eq!(orders(&b, "issued"), 0);
    b.stop().await;
    a.stop().await;
}

#[tokio::test]
async fn bad_tls_configurations_are_refused_at_start_up() {
    let start = |tls: TlsConfig| async move {
        let mut config = TestServer::config();
        config.tls = Some(tls);
        gavel_server::Server::start(config)
            .await
            .err()
            .expect("refused")
            .to_string()
    };
    let acme = |challenge| AcmeConfig {
        domains: vec!["example.com".into()],
        contact: vec![],
        directory: "https://127.0.0.1:1/dir".into(),
        challenge,
        directory_ca: None,
    };
    let none = TlsConfig {
        cert: None,
        key: None,
        acme: None,
        redirect_from: None,
    };
    assert!(start(none.clone()).await.contains("needs cert and key"));
    let both = TlsConfig {
        cert: Some("c.pem".into()),
        key: Some("k.pem".into()),
        acme: Some(acme(ChallengeKind::TlsAlpn01)),
        redirect_from: None,
    };
    assert!(start(both).await.contains("choose one"));
    let http = TlsConfig {
        acme: Some(acme(ChallengeKind::Http01)),
        ..none.clone()
    };
    assert!(start(http).await.contains("redirect_from"));
    let missing = TlsConfig {
        cert: Some("/nonexistent/cert.pem".into()),
        key: Some("/nonexistent/key.pem".into()),
        ..none
    };
    assert!(start(missing).await.contains("/nonexistent/cert.pem"));
}
