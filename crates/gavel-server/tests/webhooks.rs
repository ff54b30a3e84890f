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

/// Events a server acknowledged before `kill -9` are in its outbox: the next process on the
/// same data directory delivers them.
#[tokio::test]
async fn acknowledged_events_are_delivered_after_kill_9() {
    use common::process::{free_port, gavel, temp_dir, wait_for_line, Proc};
    use gavel_client::{AccessToken, ApiClient, RtcClient};
    const SECRET32: &str = "0123456789abcdef0123456789abcdef";
    let receiver = Receiver::start(Mode::Fail).await;
    let data = temp_dir("webhooks-kill9");
    let config = data.join("gavel.toml");
    std::fs::write(
        &config,
        format!(
            "[webhooks]\ntimeout_ms = 500\n[[webhooks.endpoints]]\nname = \"main\"\nurl = \"{}\"\n",
            receiver.url
        ),
    )
    .unwrap();
    let port = free_port();
    let start = || {
        let mut cmd = gavel(&["serve", "--bind", &format!("127.0.0.1:{port}")]);
        cmd.env("GAVEL_API_KEY", "prod")
            .env("GAVEL_API_SECRET", SECRET32)
            .env("GAVEL_DATA_DIR", &data)
            .env("GAVEL_CONFIG", &config);
        let mut p = Proc(cmd.spawn().expect("spawn gavel"));
        let lines = p.stdout_lines();
        wait_for_line(&lines, "listening");
        std::thread::spawn(move || while lines.recv().is_ok() {});
        p
    };
    let http = format!("http://127.0.0.1:{port}");
    let api = || {
        ApiClient::new(
            &http,
            &AccessToken::new("prod", SECRET32).admin(None).to_jwt(),
        )
    };
    let mut first = start();
    let token = AccessToken::new("prod", SECRET32)
        .join("k9", "troll")
        .role("participant")
        .to_jwt();
    let troll = RtcClient::connect(&format!("ws://127.0.0.1:{port}"), &token)
        .await
        .unwrap();
    // Acknowledged: its webhook events are in the outbox (no wait before the kill).
    api().remove("k9", "troll", Some(600)).await.unwrap();
    first.kill9();
    drop(troll);
    assert!(receiver.accepted().is_empty());

    receiver.set(Mode::Accept);
    let _second = start();
    let got = receiver
        .wait_for(DELIVERED, "the kick's events", |b| {
            in_order(
                &kinds(b, "k9"),
                &["room_started", "participant_joined", "participant_left"],
            ) && b
                .iter()
                .any(|e| e["event"] == "host_action" && e["gavel"]["action"] == "kick")
        })
        .await;
    let left = got
        .iter()
        .find(|b| b["event"] == "participant_left")
        .unwrap();
    assert_eq!(left["participant"]["identity"], "troll", "{left}");
    assert_eq!(left["gavel"]["reason"], "kicked", "{left}");
}

/// LiveKit's own `WebhookReceiver` (Python `livekit-api`) verifies and parses Gavel's webhooks.
#[tokio::test]
async fn livekits_python_webhook_receiver_verifies_gavels_webhooks() {
    use common::external::{run_checked, workspace_root};
    let receiver = Receiver::start(Mode::Accept).await;
    let mut config = TestServer::config();
    config.webhooks = WebhookConfig {
        endpoints: vec![endpoint("main", &receiver.url)],
        ..Default::default()
    };
    let s = TestServer::with_config(config).await;
    let ann = s.join("py", "ann", "participant").await;
    ann.close().await;
    receiver
        .wait_for(DELIVERED, "ann's session", |b| {
            has(b, "py", "participant_left")
        })
        .await;
    let dir = common::process::temp_dir("webhooks-python");
    for (i, r) in receiver.seen().iter().enumerate() {
        std::fs::write(dir.join(format!("{i:03}.body")), &r.body).unwrap();
        std::fs::write(dir.join(format!("{i:03}.auth")), &r.authorization).unwrap();
    }
    run_checked(
        workspace_root().join(".venv/bin/python"),
        vec![
            "tests/python/verify_webhooks.py".into(),
            dir.display().to_string(),
        ],
        vec![
            ("GAVEL_KEY".into(), KEY.into()),
            ("GAVEL_SECRET".into(), SECRET.into()),
            ("PYTHONDONTWRITEBYTECODE".into(), "1".into()),
        ],
    )
    .await;
    s.stop().await;
}

/// The server API's endpoints: created, filtered, tested, replayed, listed with their log,
/// removed; bad input refused with its code; only a server-wide admin may manage them.
#[tokio::test]
async fn endpoints_managed_through_the_api() {
    use common::api_code;
    let receiver = Receiver::start(Mode::Accept).await;
    let s = TestServer::start().await;
    let api = s.admin();

    // Only a server-wide admin.
    let scoped = gavel_client::ApiClient::new(
        &s.http,
        &gavel_client::AccessToken::new(KEY, SECRET)
            .admin(Some("one"))
            .to_jwt(),
    );
    assert_eq!(
        api_code(scoped.webhooks().await),
        ("permission_denied", 403)
    );

    // Bad input changes nothing.
    for (body, code) in [
        (
            json!({"name": "Bad Name", "url": receiver.url}),
            "invalid_argument",
        ),
        (
            json!({"name": "x", "url": "ftp://host/x"}),
            "invalid_argument",
        ),
        (
            json!({"name": "x", "url": receiver.url, "events": ["nope"]}),
            "invalid_argument",
        ),
        (
            json!({"name": "x", "url": receiver.url, "api_key": "unknown"}),
            "invalid_argument",
        ),
        (
            json!({"name": "x", "url": receiver.url, "extra": 1}),
            "invalid_argument",
        ),
    ] {
        assert_eq!(
            api_code(api.add_webhook(body.clone()).await).0,
            code,
            "{body}"
        );
    }
    assert_eq!(api.webhooks().await.unwrap()["endpoints"], json!([]));

    let added = api
        .add_webhook(
            json!({"name": "joins", "url": receiver.url, "events": ["participant_joined"]}),
        )
        .await
        .unwrap();
    assert_eq!(added["endpoint"]["name"], "joins");
    assert_eq!(
        api_code(
            api.add_webhook(json!({"name": "joins", "url": receiver.url}))
                .await
        ),
        ("conflict", 409)
    );
    let list = api.webhooks().await.unwrap();
    assert_eq!(list["endpoints"][0]["source"], "api", "{list}");

    // The filter: joins only.
    let ann = s.join("api-room", "ann", "participant").await;
    let got = receiver
        .wait_for(DELIVERED, "ann's join", |b| {
            has(b, "api-room", "participant_joined")
        })
        .await;
    assert_eq!(kinds(&got, "api-room"), ["participant_joined"]);
    let joined_id = got[0]["id"].as_str().unwrap().to_string();
    ann.close().await;

    // A test event.
    let test = api.test_webhook("joins").await.unwrap();
    let test_id = test["event_id"].as_str().unwrap().to_string();
    receiver
        .wait_for(DELIVERED, "the test event", |b| {
            b.iter()
                .any(|e| e["event"] == "test" && e["id"] == test_id.as_str())
        })
        .await;

    // The log, then a replay of a logged event: the same id again.
    let log = api.webhook_deliveries("joins", 10).await.unwrap();
    let outcomes: Vec<(&str, &str)> = log["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| (d["kind"].as_str().unwrap(), d["outcome"].as_str().unwrap()))
        .collect();
    assert_eq!(
        outcomes,
        [("test", "delivered"), ("participant_joined", "delivered")],
        "{log}"
    );
    let replayed = api
        .replay_webhooks("joins", &[&joined_id, "EV_unknown"])
        .await
        .unwrap();
    assert_eq!(replayed["replayed"], json!([joined_id]));
    receiver
        .wait_for(DELIVERED, "the replayed join", |b| {
            b.iter().filter(|e| e["id"] == joined_id.as_str()).count() == 2
        })
        .await;

    assert_eq!(api_code(api.test_webhook("nope").await), ("not_found", 404));
    api.remove_webhook("joins").await.unwrap();
    assert_eq!(api.webhooks().await.unwrap()["endpoints"], json!([]));
    assert_eq!(
        api_code(api.remove_webhook("joins").await),
        ("not_found", 404)
    );
    s.stop().await;
}

/// An endpoint that never answers cannot grow the outbox without bound: past `max_pending`,
/// and past the retry period, events are dropped — logged and counted.
#[tokio::test]
async fn a_dead_endpoint_keeps_its_outbox_bounded() {
    let receiver = Receiver::start(Mode::Fail).await;
    let mut config = TestServer::config();
    config.webhooks = WebhookConfig {
        endpoints: vec![endpoint("dead", &receiver.url)],
        max_pending: 3,
        retry_for_seconds: 2,
        ..Default::default()
    };
    let s = TestServer::with_config(config).await;
    let api = s.admin();
    for i in 0..4 {
        s.join("bounded", &format!("p{i}"), "participant")
            .await
            .close()
            .await;
    }
    let end = tokio::time::Instant::now() + DELIVERED;
    loop {
        let log = api.webhook_deliveries("dead", 100).await.unwrap();
        let errors: Vec<String> = log["deliveries"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|d| d["outcome"] == "dropped")
            .map(|d| d["error"].as_str().unwrap_or_default().to_string())
            .collect();
        let full = errors.iter().any(|e| e.contains("outbox was full"));
        let aged = errors.iter().any(|e| e.contains("retry period"));
        if full && aged && log["pending_total"] == 0 {
            // The last error is kept with the reason.
            assert!(errors.iter().any(|e| e.contains("HTTP 500")), "{errors:?}");
            break;
        }
        assert!(tokio::time::Instant::now() < end, "not bounded: {log}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(
        common::metric(
            &s,
            "gavel_webhook_deliveries_total{endpoint=\"dead\",outcome=\"dropped\"}"
        )
        .await
            >= 4.0
    );
    s.stop().await;
}

/// Two cluster nodes share the outbox: rooms on either node reach the endpoint, each event
/// once, from one deliverer; when that node stops, the other delivers.
#[tokio::test]
async fn cluster_nodes_share_the_outbox_and_one_delivers() {
    use common::cluster::Cluster;
    let receiver = Receiver::start(Mode::Accept).await;
    let cluster = Cluster::start("webhooks").await;
    let config = |name: &str| {
        let mut c = cluster.node(name, 3_000, 500);
        c.webhooks = WebhookConfig {
            endpoints: vec![endpoint("main", &receiver.url)],
            ..Default::default()
        };
        c
    };
    let a = TestServer::with_config(config("a")).await;
    let b = TestServer::with_config(config("b")).await;
    a.join("on-a", "ann", "participant").await.close().await;
    b.join("on-b", "ben", "participant").await.close().await;
    receiver
        .wait_for(DELIVERED, "both rooms' sessions", |bodies| {
            ["on-a", "on-b"].iter().all(|r| {
                in_order(
                    &kinds(bodies, r),
                    &["room_started", "participant_joined", "participant_left"],
                )
            })
        })
        .await;
    let url = cluster.url.clone();
    let claims: Vec<String> = tokio::task::spawn_blocking(move || {
        let mut c = postgres::Client::connect(&url, postgres::NoTls).unwrap();
        c.query(
            "SELECT node FROM webhook_dispatchers WHERE endpoint = 'main'",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect()
    })
    .await
    .unwrap();
    assert_eq!(claims.len(), 1, "one deliverer: {claims:?}");

    // The deliverer's node stops (it gives its claim up); the other node delivers from now on,
    // the stopped node's last events included.
    let (stopping, staying) = match claims[0].as_str() {
        "a" => (a, b),
        _ => (b, a),
    };
    stopping.stop().await;
    staying
        .join("later", "cat", "participant")
        .await
        .close()
        .await;
    let got = receiver
        .wait_for(DELIVERED, "the later room's session", |bodies| {
            has(bodies, "later", "participant_left")
        })
        .await;
    let mut ids: Vec<&str> = got.iter().map(|b| b["id"].as_str().unwrap()).collect();
    let n = ids.len();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), n, "an event was delivered twice");
    staying.stop().await;
}
