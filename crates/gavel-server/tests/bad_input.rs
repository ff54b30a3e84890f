//! Bad input, each with its error code, and nothing changes: malformed client requests (the
//! connection stays usable), invalid values, the rate limit, a client that stops reading, bad
//! tokens on `/v1/rtc`, and malformed server-API calls.

mod common;
use common::*;
use futures_util::{SinkExt, StreamExt};
use gavel_client::core::{Event, LeaveReason};
use gavel_client::{AccessToken, Message, RtcClient};
use gavel_server::config::Limits;
use serde_json::{json, Value};
use std::time::Duration;
use tokio_tungstenite::tungstenite::{self, Message as WsMessage};

/// The next response that matched no pending request (those answering requests without an id).
async fn next_response(client: &RtcClient) -> Value {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        match client.next(left).await {
            Some(Message::Response { body, .. }) => return body,
            Some(Message::Closed { code, reason }) => panic!("closed: {code} {reason}"),
            Some(_) => continue,
            None => panic!("{}: no response", client.identity()),
        }
    }
}

fn error_code(body: &Value) -> &str {
    assert_eq!(body["type"], "response", "{body}");
    assert_eq!(body["ok"], false, "{body}");
    body["error"]["code"].as_str().unwrap()
}

/// A room with `alice` (who sends the bad input) and `bob` (who must hear nothing).
async fn pair(ts: &TestServer, room: &str) -> (RtcClient, RtcClient) {
    let alice = ts.join(room, "alice", "participant").await;
    let bob = ts.join(room, "bob", "participant").await;
    settle(&alice).await;
    settle(&bob).await;
    (alice, bob)
}

#[tokio::test]
async fn malformed_requests_are_refused_and_the_connection_stays_usable() {
    let ts = TestServer::start().await;
    let api = ts.admin();
    let (alice, bob) = pair(&ts, "bad-ws").await;
    let before = api.list_participants("bad-ws").await.unwrap();

    // Without a usable id the answer carries `id: null`.
    let oversized = json!({"type": "update_self", "metadata": "x".repeat(70 * 1024)}).to_string();
    assert!(oversized.len() > 64 * 1024 && oversized.len() < 1024 * 1024);
    for raw in [
        "{",
        "not json",
        "[1, 2]",
        "\"ping\"",
        "42",
        "null",
        r#"{"id": {"nested": true}, "type": "ping"}"#,
        &oversized,
    ] {
        alice.send_raw(raw).await.unwrap();
        let body = next_response(&alice).await;
        assert_eq!(
            error_code(&body),
            "invalid_argument",
            "{}",
            &raw[..raw.len().min(60)]
        );
        assert_eq!(body["id"], Value::Null);
        alice.request(json!({"type": "ping"})).await.unwrap();
    }

    // With an id, the error answers that request.
    for bad in [
        json!({}),
        json!({"type": "dance"}),
        json!({"type": 7}),
        json!({"type": "mute", "source": "microphone"}),
        json!({"type": "set_track_muted", "muted": true}),
        json!({"type": "audio_level", "level": "loud"}),
        json!({"type": "audio_level", "level": 300}),
        json!({"type": "audio_level", "level": -1}),
        json!({"type": "publish_track", "source": "hologram"}),
        json!({"type": "update_self", "name": 5}),
        json!({"type": "ping", "extra": 1}),
        json!({"type": "publish_track", "source": "microphone", "volume": 11}),
        json!({"type": "kick", "identity": "bob", "ban_seconds": "forever"}),
        json!({"type": "batch_update", "updates": {"bob": {"set_audio": false, "explode": true}}}),
        json!({"type": "update_participant", "identity": "bob", "permissions": {"fly": true}}),
    ] {
        assert_eq!(
            ws_code(alice.request(bad.clone()).await),
            "invalid_argument",
            "{bad}"
        );
    }

    // A binary frame, from a raw client.
    let token = ts.token("bad-ws", "carol", "participant");
    let url = format!("{}/v1/rtc?access_token={token}", ts.ws);
    let (mut raw, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    let joined = raw_next(&mut raw).await;
    assert_eq!(joined["type"], "joined");
    raw.send(WsMessage::Binary(b"{\"type\":\"ping\"}".to_vec().into()))
        .await
        .unwrap();
    let r = raw_next(&mut raw).await;
    assert_eq!(error_code(&r), "invalid_argument", "{r}");
    raw.send(WsMessage::Text(r#"{"id":"p","type":"ping"}"#.into()))
        .await
        .unwrap();
    let r = raw_next(&mut raw).await;
    assert_eq!(
        (r["id"].clone(), r["pong"].clone()),
        (json!("p"), json!(true))
    );
    raw.close(None).await.unwrap();
    expect(&bob, "participant_joined").await;
    expect(&bob, "participant_left").await;

    // Nothing changed and bob heard nothing from alice's requests.
    let after = api.list_participants("bad-ws").await.unwrap();
    assert_eq!(after, before);
    let bob_saw: Vec<String> = settle(&bob)
        .await
        .into_iter()
        .map(|m| format!("{m:?}"))
        .collect();
    assert!(
        bob_saw.iter().all(|m| m.contains("CountsUpdated")),
        "{bob_saw:?}"
    );
    ts.stop().await;
}

/// The next text frame of a raw client, as JSON.
async fn raw_next(
    ws: &mut tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
) -> Value {
    loop {
        match tokio::time::timeout(WAIT, ws.next()).await {
            Ok(Some(Ok(WsMessage::Text(t)))) => return serde_json::from_str(&t).unwrap(),
            Ok(Some(Ok(_))) => continue,
            other => panic!("no text frame: {other:?}"),
        }
    }
}

#[tokio::test]
async fn invalid_values_change_nothing() {
    let ts = TestServer::start().await;
    let api = ts.admin();
    let (alice, bob) = pair(&ts, "values").await;
    let host = ts.join("values", "host", "host").await;
    for c in [&alice, &bob, &host] {
        settle(c).await;
    }
    let before = api.list_participants("values").await.unwrap();
    let bans = api.list_bans("values").await.unwrap();

    let long_attrs: serde_json::Map<String, Value> =
        (0..65).map(|i| (format!("k{i}"), json!("v"))).collect();
    for bad in [
        json!({"type": "update_self", "name": "n".repeat(129)}),
        json!({"type": "update_self", "name": "tab\there"}),
        json!({"type": "update_self", "metadata": "m".repeat(16 * 1024 + 1)}),
        json!({"type": "update_self", "attributes": {"": "empty key"}}),
        json!({"type": "update_self", "attributes": {"k": "v".repeat(4 * 1024 + 1)}}),
        json!({"type": "update_self", "attributes": long_attrs}),
        json!({"type": "update_self", "name": "ok", "metadata": "m".repeat(16 * 1024 + 1)}),
        json!({"type": "audio_level", "level": 128}),
        json!({"type": "audio_level", "level": 255}),
        json!({"type": "publish_track", "source": "microphone", "name": "n".repeat(129)}),
    ] {
        assert_eq!(
            ws_code(alice.request(bad.clone()).await),
            "invalid_argument",
            "{}",
            &bad.to_string()[..60.min(bad.to_string().len())]
        );
    }
    // Host controls with bad identities or values.
    for bad in [
        json!({"type": "kick", "identity": "bad\u{7}id", "ban_seconds": 60}),
        json!({"type": "kick", "identity": "*", "ban_seconds": 60}),
        json!({"type": "kick", "identity": "bob", "ban_seconds": 0}),
        json!({"type": "kick", "identity": "bob", "identities": ["alice"]}),
        json!({"type": "kick"}),
        json!({"type": "move", "identity": "bob", "destination": "bad room"}),
        json!({"type": "update_participant", "identity": "bob", "name": "line\nbreak"}),
        json!({"type": "batch_update", "updates": {}}),
    ] {
        assert_eq!(
            ws_code(host.request(bad.clone()).await),
            "invalid_argument",
            "{bad}"
        );
    }
    for c in [&alice, &bob, &host] {
        assert_nothing(c, "invalid values").await;
    }
    assert_eq!(api.list_participants("values").await.unwrap(), before);
    assert_eq!(api.list_bans("values").await.unwrap(), bans);
    let rooms = api.list_rooms().await.unwrap();
    assert_eq!(rooms["rooms"].as_array().unwrap().len(), 1, "{rooms}");
    ts.stop().await;
}

/// An identity with control characters cannot join, and leaves nothing behind.
#[tokio::test]
async fn invalid_identity_in_a_token_is_refused() {
    let ts = TestServer::start().await;
    let api = ts.admin();
    let mut tokens: Vec<(String, String)> = ["bell\u{7}", "new\nline", "*", &"i".repeat(129)]
        .into_iter()
        .map(|identity| {
            let t = AccessToken::new(KEY, SECRET).join("ids", identity).to_jwt();
            (format!("identity {identity:?}"), t)
        })
        .collect();
    let fine = || AccessToken::new(KEY, SECRET).join("ids", "fine");
    tokens.push(("long name".into(), fine().name(&"n".repeat(129)).to_jwt()));
    tokens.push((
        "long metadata".into(),
        fine().metadata(&"m".repeat(16 * 1024 + 1)).to_jwt(),
    ));
    for (what, token) in &tokens {
        let (status, body) = refused(&ts, token).await;
        assert_eq!(status, 400, "{what}: {body}");
        assert_eq!(body["error"]["code"], "invalid_argument", "{what}: {body}");
        let e = RtcClient::connect(&ts.ws, token).await.err().unwrap();
        assert_eq!(e.code.as_str(), "invalid_argument", "{what}: {e}");
    }
    assert_eq!(api.list_rooms().await.unwrap()["rooms"], json!([]));
    ts.stop().await;
}

#[tokio::test]
async fn requests_above_the_rate_limit_are_refused() {
    let ts = TestServer::with_limits(Limits {
        requests_per_second: 1,
        request_burst: 5,
        ..Limits::default()
    })
    .await;
    let api = ts.admin();
    let alice = ts.join("rate", "alice", "participant").await;
    let bob = ts.join("rate", "bob", "participant").await;
    settle(&bob).await;
    let mut ok = Vec::new();
    let mut limited = 0;
    for i in 0..20 {
        let metadata = format!("m{i}");
        match alice
            .request(json!({"type": "update_self", "metadata": metadata}))
            .await
        {
            Ok(_) => ok.push(metadata),
            Err(e) => {
                assert_eq!(e.code.as_str(), "rate_limited", "{e}");
                limited += 1;
            }
        }
    }
    assert!(
        !ok.is_empty() && limited > 0,
        "ok {ok:?}, limited {limited}"
    );
    // Only the accepted requests had an effect.
    let updates: Vec<String> = settle(&bob)
        .await
        .into_iter()
        .filter_map(|m| match m {
            Message::Event {
                event: Event::ParticipantUpdated { participant, .. },
                ..
            } => Some(participant.metadata),
            _ => None,
        })
        .collect();
    assert_eq!(updates, ok);
    assert_eq!(
        api_participant(&api, "rate", "alice").await["metadata"],
        json!(ok.last().unwrap())
    );
    ts.stop().await;
}

/// A client that joins and never reads is dropped once its queue overflows; the room goes on.
#[tokio::test]
async fn a_slow_consumer_is_disconnected() {
    let ts = TestServer::with_limits(Limits {
        outbox_capacity: 16,
        requests_per_second: 1_000_000,
        request_burst: 1_000_000,
        // Long enough that the queue overflows first: this is about the queue, not the timeout.
        write_timeout_ms: 60_000,
        ..Limits::default()
    })
    .await;
    let api = ts.admin();
    let noisy = ts.join("slow", "noisy", "participant").await;
    let watcher = ts.join("slow", "watcher", "participant").await;

    // A raw client with a small receive buffer that never reads.
    let addr: std::net::SocketAddr = ts.ws.trim_start_matches("ws://").parse().unwrap();
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let stream = socket.connect(addr).await.unwrap();
    let token = ts.token("slow", "sloth", "participant");
    let url = format!("{}/v1/rtc?access_token={token}", ts.ws);
    let (sloth, _) = tokio_tungstenite::client_async(url, stream).await.unwrap();
    match expect(&watcher, "participant_joined").await {
        Event::ParticipantJoined { participant } => assert_eq!(participant.identity, "sloth"),
        other => panic!("{other:?}"),
    }

    // Big events until the server gives up on sloth.
    let big = ["a", "b"].map(|c| c.repeat(16 * 1024));
    let mut left = None;
    'outer: for i in 0..4000 {
        noisy
            .request(json!({"type": "update_self", "metadata": big[i % 2]}))
            .await
            .unwrap();
        if i % 16 == 0 {
            while noisy.next(Duration::ZERO).await.is_some() {}
            while let Some(m) = watcher.next(Duration::ZERO).await {
                if let Message::Event {
                    event: e @ Event::ParticipantLeft { .. },
                    ..
                } = m
                {
                    left = Some(e);
                    break 'outer;
                }
            }
        }
    }
    let left = match left {
        Some(e) => e,
        None => expect(&watcher, "participant_left").await,
    };
    match left {
        Event::ParticipantLeft {
            identity, reason, ..
        } => {
            assert_eq!(identity, "sloth");
            assert_eq!(reason, LeaveReason::SlowConsumer);
        }
        other => panic!("{other:?}"),
    }

    // The room keeps working for everyone else.
    assert_eq!(api_identities(&api, "slow").await, ["noisy", "watcher"]);
    settle(&watcher).await;
    noisy.publish("microphone").await.unwrap();
    expect(&watcher, "track_published").await;
    let late = ts.join("slow", "late", "participant").await;
    assert_eq!(
        late.state().participants.keys().collect::<Vec<_>>(),
        ["noisy", "watcher"]
    );
    // Its session ends once its socket goes (the server may still be stuck writing to it).
    drop(sloth);
    ts.stop().await;
}

// ----- tokens on /v1/rtc -----

fn b64url(bytes: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..=chunk.len() {
            out.push(A[(n >> (18 - 6 * i) & 63) as usize] as char);
        }
    }
    out
}

/// `GET /v1/rtc` with `token`: the HTTP status and JSON body of a refused upgrade.
async fn refused(ts: &TestServer, token: &str) -> (u16, Value) {
    let url = format!("{}/v1/rtc?access_token={token}", ts.ws);
    match tokio_tungstenite::connect_async(url).await {
        Ok(_) => panic!("token {token} was accepted"),
        Err(tungstenite::Error::Http(resp)) => {
            let body = resp.body().as_deref().unwrap_or_default();
            (
                resp.status().as_u16(),
                serde_json::from_slice(body).unwrap_or(Value::Null),
            )
        }
        Err(e) => panic!("unexpected {e}"),
    }
}

async fn assert_unauthenticated(ts: &TestServer, token: &str, what: &str) {
    let (status, body) = refused(ts, token).await;
    assert_eq!(status, 401, "{what}: {body}");
    assert_eq!(body["error"]["code"], "unauthenticated", "{what}: {body}");
    assert!(body["error"]["message"].is_string(), "{what}: {body}");
    let e = RtcClient::connect(&ts.ws, token).await.err().unwrap();
    assert_eq!(e.code.as_str(), "unauthenticated", "{what}: {e}");
}

#[tokio::test]
async fn bad_tokens_are_refused_before_the_upgrade() {
    let ts = TestServer::start().await;
    let api = ts.admin();
    let good = || AccessToken::new(KEY, SECRET).join("tok", "alice");

    // alg: none, with otherwise perfect claims.
    let claims = serde_json::to_vec(good().claims()).unwrap();
    let none = format!(
        "{}.{}.",
        b64url(br#"{"alg":"none","typ":"JWT"}"#),
        b64url(&claims)
    );
    assert_unauthenticated(&ts, &none, "alg none").await;
    // HS512 with the right secret.
    let hs512 = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS512),
        good().claims(),
        &jsonwebtoken::EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .unwrap();
    assert_unauthenticated(&ts, &hs512, "HS512").await;
    // A valid token with its signature swapped for another's.
    let jwt = good().to_jwt();
    let other = AccessToken::new(KEY, SECRET)
        .join("tok", "mallory")
        .to_jwt();
    let (body, _) = jwt.rsplit_once('.').unwrap();
    let (_, sig) = other.rsplit_once('.').unwrap();
    assert_unauthenticated(&ts, &format!("{body}.{sig}"), "swapped signature").await;

    let cases = [
        (
            AccessToken::new(KEY, "wrong-secret")
                .join("tok", "alice")
                .to_jwt(),
            "wrong secret",
        ),
        (
            AccessToken::new("otherkey", SECRET)
                .join("tok", "alice")
                .to_jwt(),
            "unknown key",
        ),
        (good().ttl(-120).to_jwt(), "expired beyond the leeway"),
        (good().not_before(120).to_jwt(), "nbf beyond the leeway"),
        (
            AccessToken::new(KEY, SECRET)
                .identity("alice")
                .grant(|g| g.room_join = Some(true))
                .to_jwt(),
            "no room",
        ),
        (
            AccessToken::new(KEY, SECRET)
                .join("tok", "alice")
                .grant(|g| g.room_join = None)
                .to_jwt(),
            "no roomJoin",
        ),
        (
            AccessToken::new(KEY, SECRET)
                .join("tok", "alice")
                .grant(|g| g.room_join = Some(false))
                .to_jwt(),
            "roomJoin false",
        ),
        (
            AccessToken::new(KEY, SECRET).admin(Some("tok")).to_jwt(),
            "admin token without roomJoin",
        ),
        (
            AccessToken::new(KEY, SECRET).join("tok", "").to_jwt(),
            "no identity",
        ),
        (good().role("emperor").to_jwt(), "unknown role"),
        ("garbage".to_string(), "garbage"),
        (String::new(), "empty"),
    ];
    for (token, what) in &cases {
        assert_unauthenticated(&ts, token, what).await;
    }
    // No token at all.
    let url = format!("{}/v1/rtc", ts.ws);
    match tokio_tungstenite::connect_async(url).await {
        Err(tungstenite::Error::Http(resp)) => {
            assert_eq!(resp.status().as_u16(), 401);
            let v: Value =
                serde_json::from_slice(resp.body().as_deref().unwrap_or_default()).unwrap();
            assert_eq!(v["error"]["code"], "unauthenticated");
        }
        other => panic!("no token: {other:?}"),
    }
    // Nothing was created by any of them.
    assert_eq!(api.list_rooms().await.unwrap()["rooms"], json!([]));

    // Within the 60 s leeway, tokens still work.
    RtcClient::connect(&ts.ws, &good().ttl(-30).to_jwt())
        .await
        .unwrap();
    RtcClient::connect(
        &ts.ws,
        &AccessToken::new(KEY, SECRET)
            .join("tok", "bob")
            .not_before(30)
            .to_jwt(),
    )
    .await
    .unwrap();
    assert_eq!(api_identities(&api, "tok").await, ["alice", "bob"]);
    ts.stop().await;
}

// ----- the server API -----

/// A raw call: method, path, raw body; returns the status and JSON body.
async fn raw_call(
    ts: &TestServer,
    method: &str,
    path: &str,
    body: Option<Vec<u8>>,
) -> (u16, Value) {
    let token = AccessToken::new(KEY, SECRET).admin(None).to_jwt();
    let mut req = reqwest::Client::new()
        .request(
            reqwest::Method::from_bytes(method.as_bytes()).unwrap(),
            format!("{}{path}", ts.http),
        )
        .bearer_auth(token);
    if let Some(b) = body {
        req = req.header("content-type", "application/json").body(b);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    let v = serde_json::from_str(&text)
        .unwrap_or_else(|_| panic!("{method} {path}: {status} with a non-JSON body {text:?}"));
    (status, v)
}

fn code(v: &Value) -> &str {
    v["error"]["code"].as_str().unwrap_or_else(|| panic!("{v}"))
}

#[tokio::test]
async fn malformed_server_api_calls() {
    let ts = TestServer::start().await;
    let api = ts.admin();
    api.create_room("real", json!({})).await.unwrap();
    let guest = ts.join("real", "guest", "participant").await;
    settle(&guest).await;
    let before = api.list_participants("real").await.unwrap();
    let rooms_before = api.list_rooms().await.unwrap();

    let bodies: [&[u8]; 6] = [b"{", b"{\"name\": }", b"[1]", b"\"real\"", b"42", b"null"];
    for body in bodies {
        for (method, path) in [
            ("POST", "/v1/rooms"),
            ("PATCH", "/v1/rooms/real/participants/guest"),
            ("POST", "/v1/rooms/real/participants/guest/mute"),
            ("POST", "/v1/rooms/real/participants:batch"),
        ] {
            let (status, v) = raw_call(&ts, method, path, Some(body.to_vec())).await;
            assert_eq!(
                (status, code(&v)),
                (400, "invalid_argument"),
                "{method} {path} {}",
                String::from_utf8_lossy(body)
            );
        }
    }

    // Room names and settings.
    for body in [
        json!({"name": "bad name"}),
        json!({"name": "x".repeat(200)}),
        json!({"name": ""}),
        json!({"name": 5}),
        json!({}),
        json!({"name": "fine", "bogus": 1}),
        json!({"name": "fine", "request_timeout_seconds": 0}),
        json!({"name": "fine", "request_timeout_seconds": 3601}),
        json!({"name": "fine", "remote_unmute": "sometimes"}),
        json!({"name": "fine", "max_participants": -1}),
        json!({"name": "fine", "metadata": "m".repeat(16 * 1024 + 1)}),
    ] {
        let (status, v) = raw_call(&ts, "POST", "/v1/rooms", Some(body.to_string().into())).await;
        assert_eq!(
            (status, code(&v)),
            (400, "invalid_argument"),
            "{}",
            &body.to_string()[..body.to_string().len().min(80)]
        );
    }
    // Bad fields on participant calls.
    for (path, body) in [
        (
            "/v1/rooms/real/participants/guest",
            json!({"permissions": {"can_fly": true}}),
        ),
        (
            "/v1/rooms/real/participants/guest",
            json!({"role": "emperor"}),
        ),
        ("/v1/rooms/real/participants/guest", json!({"name": 7})),
        ("/v1/rooms/real/participants/guest", json!({"shoe_size": 7})),
    ] {
        let (status, v) = raw_call(&ts, "PATCH", path, Some(body.to_string().into())).await;
        assert_eq!((status, code(&v)), (400, "invalid_argument"), "{body}");
    }
    for (path, body) in [
        (
            "/v1/rooms/real/participants/guest/mute",
            json!({"source": "hologram"}),
        ),
        ("/v1/rooms/real/participants/guest/mute", json!({})),
        (
            "/v1/rooms/real/participants/guest/remove",
            json!({"ban_seconds": 0}),
        ),
        ("/v1/rooms/real/participants/guest/move", json!({})),
        (
            "/v1/rooms/real/participants/guest/move",
            json!({"destination": "bad room"}),
        ),
        (
            "/v1/rooms/real/participants/guest/request-media",
            json!({"source": "camera", "wait_seconds": -1}),
        ),
        (
            "/v1/rooms/real/mute-all",
            json!({"source": "microphone", "except": "guest"}),
        ),
        ("/v1/rooms/real/end", json!({"now": true})),
    ] {
        let (status, v) = raw_call(&ts, "POST", path, Some(body.to_string().into())).await;
        assert_eq!(
            (status, code(&v)),
            (400, "invalid_argument"),
            "{path} {body}"
        );
    }

    // Unknown endpoints and rooms.
    for (method, path) in [
        ("GET", "/v1/nope"),
        ("GET", "/v2/rooms"),
        ("POST", "/v1/rooms/real/participants/guest/teleport"),
        ("PUT", "/v1/rooms"),
        ("POST", "/v1/rooms/real"),
        ("DELETE", "/v1/rooms/real/participants/guest"),
        ("POST", "/v1/rtc"),
        ("GET", "/v1/rooms/nowhere"),
        ("GET", "/v1/rooms/nowhere/participants"),
        ("GET", "/v1/rooms/nowhere/bans"),
        ("POST", "/v1/rooms/nowhere/end"),
        ("DELETE", "/v1/rooms/nowhere"),
        ("GET", "/v1/rooms/real/participants/nobody"),
        ("POST", "/v1/rooms/nowhere/participants/guest/mute"),
        ("DELETE", "/v1/rooms/real/bans/nobody"),
    ] {
        let body = path
            .ends_with("/mute")
            .then(|| br#"{"source":"microphone"}"#.to_vec());
        let (status, v) = raw_call(&ts, method, path, body).await;
        assert_eq!((status, code(&v)), (404, "not_found"), "{method} {path}");
    }

    // A plain GET (no upgrade) on the WebSocket endpoint, with a valid token.
    let token = ts.token("real", "plain-get", "participant");
    let (status, v) = raw_call(&ts, "GET", &format!("/v1/rtc?access_token={token}"), None).await;
    assert_eq!((status, code(&v)), (400, "invalid_argument"));

    // A body above the limit (256 KiB).
    let huge = json!({"metadata": "m".repeat(300 * 1024)}).to_string();
    for (method, path) in [
        ("PATCH", "/v1/rooms/real/participants/guest"),
        ("POST", "/v1/rooms"),
    ] {
        let (status, v) = raw_call(&ts, method, path, Some(huge.clone().into())).await;
        assert!(status == 413 || status == 400, "{method} {path}: {status}");
        assert_eq!(code(&v), "invalid_argument", "{method} {path}");
    }

    assert_nothing(&guest, "malformed calls").await;
    assert_eq!(api.list_participants("real").await.unwrap(), before);
    assert_eq!(api.list_rooms().await.unwrap(), rooms_before);
    ts.stop().await;
}

/// LiveKit's signalling endpoints answer bad or missing tokens with a status a LiveKit client
/// understands, `/rtc/v1` with the 404 that makes clients fall back, and a plain GET on `/rtc`
/// with `invalid_argument`.
#[tokio::test]
async fn livekit_signalling_endpoints_refuse_bad_tokens_with_a_status() {
    let ts = TestServer::start().await;
    let http = reqwest::Client::new();
    let get = |path: String, bearer: Option<String>| {
        let mut req = http.get(format!("{}{path}", ts.http));
        if let Some(t) = bearer {
            req = req.bearer_auth(t);
        }
        req.send()
    };
    let good = ts.token("lk-bad", "lee", "participant");
    for path in ["/rtc/v1", "/rtc/v1/validate"] {
        let r = get(path.to_string(), Some(good.clone())).await.unwrap();
        assert_eq!(r.status(), 404, "{path}");
    }
    let r = get("/rtc/validate".into(), None).await.unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(r.headers()["access-control-allow-origin"], "*");
    let r = get("/rtc/validate".into(), Some("not.a.token".into()))
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = get(format!("/rtc/validate?access_token={good}"), None)
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().await.unwrap(), "success");
    let r = get("/rtc".into(), None).await.unwrap();
    assert_eq!(r.status(), 401);
    let r = get("/rtc".into(), Some(good)).await.unwrap();
    assert_eq!(r.status(), 400, "a GET that is not a WebSocket upgrade");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "invalid_argument", "{body}");
    // Nothing was joined.
    let rooms = ts.admin().list_participants("lk-bad").await;
    assert!(rooms.map_or(true, |v| v["participants"]
        .as_array()
        .is_none_or(|a| a.is_empty())));
    ts.stop().await;
}
