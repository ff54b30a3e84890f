//! HTTPS and WSS on the server's port (`[tls]`), over real sockets, with certificates from a
//! CA each test makes: the API and the signalling WebSocket through TLS, the plain-HTTP
//! redirect, and a renewed certificate picked up from its files without dropping connections.

mod common;

use common::tls::*;
use common::*;
use futures_util::{SinkExt, StreamExt};
use gavel_server::tls::TlsConfig;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;

use common::process::free_port;

async fn start(tls: TlsConfig) -> TestServer {
    let mut config = TestServer::config();
    config.tls = Some(tls);
    TestServer::with_config(config).await
}

fn host_port(ts: &TestServer) -> String {
    ts.http.trim_start_matches("http://").to_string()
}

#[tokio::test]
async fn https_and_wss_serve_the_api_and_signalling_and_plain_http_redirects() {
    let dir = process::temp_dir("tls");
    let issued = issue("one");
    let (cert, key) = write(&dir, &issued);
    let redirect = std::net::SocketAddr::from(([127, 0, 0, 1], free_port()));
    let ts = start(TlsConfig {
        cert: Some(cert),
        key: Some(key),
        acme: None,
        redirect_from: Some(redirect),
    })
    .await;
    let addr = host_port(&ts);

    let (status, body) = https_get(&addr, &issued.ca, "/healthz").await;
    assert!(status.contains("200"), "{status}");
    assert!(body.contains("ok"), "{body}");

    // The native signalling WebSocket, over TLS: a join answered with the room's snapshot.
    let tls = connect(&addr, &issued.ca).await.unwrap();
    let token = ts.token("tls-room", "ann", "participant");
    let url = format!("wss://localhost/v1/rtc?access_token={token}");
    let (mut ws, _) = tokio_tungstenite::client_async(url, tls).await.unwrap();
    let first = ws.next().await.unwrap().unwrap();
    assert!(first.to_text().unwrap().contains("\"joined\""), "{first:?}");

    // Plain HTTP on the redirect port: a permanent redirect to the same path over HTTPS.
    let mut plain = TcpStream::connect(redirect).await.unwrap();
    plain
        .write_all(
            b"GET /v1/rooms?x=1 HTTP/1.1\r\nHost: meet.example:80\r\nConnection: close\r\n\r\n",
        )
        .await
        .unwrap();
    let mut response = String::new();
    plain.read_to_string(&mut response).await.unwrap();
    assert!(response.starts_with("HTTP/1.1 308"), "{response}");
    let port = addr.rsplit(':').next().unwrap();
    assert!(
        response.to_lowercase().contains(&format!(
            "location: https://meet.example:{port}/v1/rooms?x=1"
        )),
        "{response}"
    );

    // A client that does not trust the certificate is refused; plain HTTP on the TLS port too.
    let stranger = issue("stranger");
    assert!(connect(&addr, &stranger.ca).await.is_err());
    assert!(reqwest::get(format!("{}/healthz", ts.http)).await.is_err());
    ts.stop().await;
}

#[tokio::test]
async fn a_renewed_certificate_is_used_by_new_connections_and_open_ones_carry_on() {
    let dir = process::temp_dir("tls-renew");
    let first = issue("first");
    let (cert, key) = write(&dir, &first);
    let ts = start(TlsConfig {
        cert: Some(cert),
        key: Some(key),
        acme: None,
        redirect_from: None,
    })
    .await;
    let addr = host_port(&ts);
    let tls = connect(&addr, &first.ca).await.unwrap();
    let token = ts.token("tls-renew", "ann", "participant");
    let url = format!("wss://localhost/v1/rtc?access_token={token}");
    let (mut ws, _) = tokio_tungstenite::client_async(url, tls).await.unwrap();
    ws.next().await.unwrap().unwrap(); // joined

    // The files are replaced by a certificate from another CA (a renewal).
    let second = issue("second");
    write(&dir, &second);
    let deadline = Instant::now() + Duration::from_secs(20);
    while connect(&addr, &second.ca).await.is_err() {
        assert!(
            Instant::now() < deadline,
            "the new certificate was never served"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(
        connect(&addr, &first.ca).await.is_err(),
        "the old certificate is gone"
    );

    // The connection opened before the renewal still works.
    ws.send(Message::text(r#"{"id":1,"type":"ping"}"#))
        .await
        .unwrap();
    loop {
        let m = tokio::time::timeout(Duration::from_secs(5), ws.next())
            .await
            .expect("an answer")
            .unwrap()
            .unwrap();
        if m.to_text().unwrap().contains("\"pong\":true") {
            break;
        }
    }

    // A broken file keeps the certificate in use.
    std::fs::write(dir.join("cert.pem"), "not a certificate").unwrap();
    tokio::time::sleep(gavel_server::tls::certs::POLL + Duration::from_secs(1)).await;
    let (status, _) = https_get(&addr, &second.ca, "/healthz").await;
    assert!(status.contains("200"), "{status}");
    ts.stop().await;
}
