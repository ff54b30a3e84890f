//! The embedded TURN relay over real sockets, driven by a TURN client (`turn-client-proto`):
//! a participant gets its ICE servers and credential with `joined`; with them it allocates a
//! relayed address, and the relay forwards to the media plane's port and nowhere else; a wrong
//! password and an expired credential are refused; allocations per participant are bounded.

mod common;

use common::turn::{turn_addr, Client};
use common::*;
use futures_util::StreamExt;
use gavel_server::turn::{credentials, TurnConfig};
use serde_json::Value;
use std::time::{Duration, Instant};
use tokio::net::UdpSocket;

const SECRET: &str = "turn-test-secret";

async fn start(max_allocations: usize) -> TestServer {
    let mut config = TestServer::config();
    config.turn = TurnConfig {
        enabled: true,
        udp_port: free_udp_port(),
        tls_port: 0,
        relay_ports: (41000, 41999),
        max_allocations_per_participant: max_allocations,
        secret: Some(SECRET.into()),
        ..TurnConfig::default()
    };
    TestServer::with_config(config).await
}

/// A free loopback UDP port for the relay's listener (`common::process::free_port`).
fn free_udp_port() -> u16 {
    common::process::free_port()
}

/// Joins natively and returns the `ice_servers` frame that follows `joined`.
async fn ice_servers(ts: &TestServer, identity: &str) -> Value {
    let token = ts.token("turn-room", identity, "participant");
    let url = format!("{}/v1/rtc?access_token={token}", ts.ws);
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    let mut frames = Vec::new();
    while frames.len() < 2 {
        let m = tokio::time::timeout(WAIT, ws.next())
            .await
            .expect("joined, then ice_servers")
            .unwrap()
            .unwrap();
        frames.push(serde_json::from_str::<Value>(m.to_text().unwrap()).unwrap());
    }
    assert_eq!(frames[0]["type"], "joined");
    assert_eq!(frames[1]["type"], "ice_servers", "{:?}", frames[1]);
    // Keep the session open while the test runs.
    tokio::spawn(async move { while ws.next().await.is_some() {} });
    frames[1]["ice_servers"][0].clone()
}

#[tokio::test]
async fn a_participant_relays_to_the_media_plane_and_nowhere_else() {
    let ts = start(4).await;
    let server = ice_servers(&ts, "ann").await;
    let (username, password) = (
        server["username"].as_str().unwrap(),
        server["credential"].as_str().unwrap(),
    );
    assert_eq!(password, credentials::password(SECRET.as_bytes(), username));
    let mut client = Client::new(turn_addr(&server), username, password).await;
    assert!(client.allocate().await, "allocation: {:?}", client.events);

    // To the media plane: relayed.
    let media = ts
        .server
        .as_ref()
        .unwrap()
        .media_addr()
        .expect("a media plane");
    client.send(media, b"not really media").await;
    let deadline = Instant::now() + Duration::from_secs(5);
    while metric(&ts, "gavel_turn_relayed_bytes_total").await == 0.0 {
        assert!(
            Instant::now() < deadline,
            "nothing was relayed to the media plane"
        );
        client.drive(Duration::from_millis(100), |_| false).await;
    }

    // Anywhere else (another port on the same host): dropped, and counted.
    let elsewhere = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let before = metric(&ts, "gavel_turn_refused_total{reason=\"peer\"}").await;
    client
        .send(elsewhere.local_addr().unwrap(), b"open proxy?")
        .await;
    client.drive(Duration::from_millis(300), |_| false).await;
    let mut buf = [0u8; 64];
    let got = tokio::time::timeout(Duration::from_millis(500), elsewhere.recv_from(&mut buf)).await;
    assert!(got.is_err(), "the relay forwarded to a foreign address");
    assert!(metric(&ts, "gavel_turn_refused_total{reason=\"peer\"}").await > before);
    ts.stop().await;
}

#[tokio::test]
async fn wrong_and_expired_credentials_and_too_many_allocations_are_refused() {
    let ts = start(1).await;
    let server = ice_servers(&ts, "bob").await;
    let addr = turn_addr(&server);
    let username = server["username"].as_str().unwrap();

    let mut wrong = Client::new(addr, username, "not-the-password").await;
    assert!(!wrong.allocate().await, "a wrong password allocated");

    let expired = format!("{}:PA_old", gavel_server::turn::unix_now() - 10);
    let password = credentials::password(SECRET.as_bytes(), &expired);
    let mut late = Client::new(addr, &expired, &password).await;
    assert!(!late.allocate().await, "an expired credential allocated");
    assert!(metric(&ts, "gavel_turn_refused_total{reason=\"expired\"}").await > 0.0);

    let password = server["credential"].as_str().unwrap();
    let mut first = Client::new(addr, username, password).await;
    assert!(first.allocate().await, "{:?}", first.events);
    let mut second = Client::new(addr, username, password).await;
    assert!(
        !second.allocate().await,
        "a second allocation past the limit of one"
    );
    assert!(metric(&ts, "gavel_turn_refused_total{reason=\"allocations\"}").await > 0.0);
    ts.stop().await;
}
