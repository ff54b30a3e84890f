//! Seed 000 (VideoSDK, "Toggle Remote Participant Media"): a host asks a participant to turn its
//! microphone or camera on (`enable_mic` / `enable_webcam` → `on_mic_requested` /
//! `on_webcam_requested` with accept / reject) and turns them off directly (`disable_mic` /
//! `disable_webcam`). Only a participant holding the moderation controls (`allow_mod`) may.

mod common;
use common::*;
use gavel_client::core::{Event, RequestOutcome, Source};
use gavel_client::RtcClient;
use serde_json::{json, Value};

/// Seed 000's `on_mic_requested` / `on_webcam_requested` payload as the target receives it.
async fn media_requested(client: &RtcClient) -> (String, Source, String) {
    match expect(client, "media_requested").await {
        Event::MediaRequested {
            request_id,
            source,
            from,
            ..
        } => (request_id, source, from),
        other => panic!("unexpected {other:?}"),
    }
}

/// The next `request_resolved` on `client`: (request id, target, from, outcome).
async fn resolved(client: &RtcClient) -> (String, String, String, RequestOutcome) {
    match expect(client, "request_resolved").await {
        Event::RequestResolved {
            request_id,
            identity,
            from,
            outcome,
            ..
        } => (request_id, identity, from, outcome),
        other => panic!("unexpected {other:?}"),
    }
}

fn mic_of(p: &Value) -> Value {
    p["tracks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["source"] == "microphone")
        .cloned()
        .unwrap_or(Value::Null)
}

/// Example 2: on `participant_joined`, the host calls `enable_mic()` and `enable_webcam()`.
/// B accepts the microphone (its muted track comes back on) and rejects the camera.
#[tokio::test]
async fn example2_enable_mic_and_webcam_on_join_accept_and_reject() {
    let ts = TestServer::start().await;
    let api = ts.admin();
    api.create_room("vs", json!({})).await.unwrap();
    let a = ts.join("vs", "A", "host").await;
    let b = ts.join("vs", "B", "participant").await;
    expect(&a, "participant_joined").await;
    let mic = b
        .request(json!({"type": "publish_track", "source": "microphone", "muted": true}))
        .await
        .unwrap()["track"]["sid"]
        .as_str()
        .unwrap()
        .to_string();
    expect(&a, "track_published").await;

    // A: participant.enable_mic(); participant.enable_webcam()
    let r_mic = a
        .request(json!({"type": "request_media", "identity": "B", "source": "microphone"}))
        .await
        .unwrap();
    assert_eq!(r_mic["status"], "pending");
    assert_eq!(r_mic["deduplicated"], false);
    let mic_req = r_mic["request_id"].as_str().unwrap().to_string();
    let r_cam = a
        .request(json!({"type": "request_media", "identity": "B", "source": "camera"}))
        .await
        .unwrap();
    let cam_req = r_cam["request_id"].as_str().unwrap().to_string();
    assert_ne!(mic_req, cam_req);

    // B: on_mic_requested then on_webcam_requested, each carrying the requester's id.
    assert_eq!(
        media_requested(&b).await,
        (mic_req.clone(), Source::Microphone, "A".to_string())
    );
    assert_eq!(
        media_requested(&b).await,
        (cam_req.clone(), Source::Camera, "A".to_string())
    );
    assert_eq!(b.state().requests.len(), 2);

    // B: accept() the microphone request.
    b.request(json!({"type": "respond_request", "request_id": mic_req, "accept": true}))
        .await
        .unwrap();
    let ev = expect_kinds(&b, &["track_muted", "request_resolved"]).await;
    match &ev[0] {
        Event::TrackMuted {
            identity,
            track_sid,
            muted,
            by,
            ..
        } => {
            assert_eq!(identity.as_deref(), Some("B"));
            assert_eq!(track_sid.as_deref(), Some(mic.as_str()));
            assert!(!muted);
            assert_eq!(by, &None, "B turned it on itself by consenting");
        }
        other => panic!("unexpected {other:?}"),
    }
    match &ev[1] {
        Event::RequestResolved {
            request_id,
            identity,
            from,
            outcome,
            source,
        } => {
            assert_eq!(
                (request_id, identity.as_str(), from.as_str()),
                (&mic_req, "B", "A")
            );
            assert_eq!(
                (*source, *outcome),
                (Source::Microphone, RequestOutcome::Accepted)
            );
        }
        other => panic!("unexpected {other:?}"),
    }
    // The host sees the microphone come on, then learns the outcome.
    let ev = expect_kinds(&a, &["track_muted", "request_resolved"]).await;
    assert!(matches!(&ev[0], Event::TrackMuted { muted: false, .. }));
    assert!(
        matches!(&ev[1], Event::RequestResolved { request_id, from, outcome: RequestOutcome::Accepted, .. }
        if *request_id == mic_req && from == "A")
    );

    // B: reject() the camera request.
    b.request(json!({"type": "respond_request", "request_id": cam_req, "accept": false}))
        .await
        .unwrap();
    assert_eq!(
        resolved(&b).await,
        (
            cam_req.clone(),
            "B".into(),
            "A".into(),
            RequestOutcome::Rejected
        )
    );
    assert_eq!(
        resolved(&a).await,
        (
            cam_req.clone(),
            "B".into(),
            "A".into(),
            RequestOutcome::Rejected
        )
    );
    assert!(b.state().requests.is_empty());

    // A resolved request cannot be answered again.
    let again = b
        .request(json!({"type": "respond_request", "request_id": cam_req, "accept": true}))
        .await;
    assert_eq!(ws_code(again), "not_found");

    // Server state: the microphone is on, no camera was published.
    let p = api_participant(&api, "vs", "B").await;
    assert_eq!(p["tracks"].as_array().unwrap().len(), 1);
    assert_eq!(mic_of(&p)["muted"], false);
    assert!(mic_of(&p).get("muted_by").is_none());

    // Asking someone whose microphone is already on is refused.
    let r = a
        .request(json!({"type": "request_media", "identity": "B", "source": "microphone"}))
        .await;
    assert_eq!(ws_code(r), "failed_precondition");
    expect_none(&b, "media_requested").await;
    ts.stop().await;
}

/// Nobody answers: the request expires after the room's `request_timeout_seconds`, and both
/// askers (deduplicated onto one request) and the target learn it.
#[tokio::test]
async fn webcam_request_expires_and_every_asker_learns_it() {
    let ts = TestServer::start().await;
    let api = ts.admin();
    let room = api
        .create_room("vs-exp", json!({"request_timeout_seconds": 1}))
        .await
        .unwrap();
    assert_eq!(room["room"]["settings"]["request_timeout_seconds"], 1);
    let a = ts.join("vs-exp", "A", "host").await;
    let c = ts.join("vs-exp", "C", "host").await;
    let b = ts.join("vs-exp", "B", "participant").await;

    let r1 = a
        .request(json!({"type": "request_media", "identity": "B", "source": "camera"}))
        .await
        .unwrap();
    let id = r1["request_id"].as_str().unwrap().to_string();
    let r2 = c
        .request(json!({"type": "request_media", "identity": "B", "source": "camera"}))
        .await
        .unwrap();
    assert_eq!(r2["request_id"], id.as_str());
    assert_eq!(r2["deduplicated"], true);

    let (rid, source, from) = media_requested(&b).await;
    assert_eq!(
        (rid.as_str(), source, from.as_str()),
        (id.as_str(), Source::Camera, "A")
    );
    // B never answers.
    assert_eq!(
        resolved(&b).await,
        (
            id.clone(),
            "B".into(),
            "A,C".into(),
            RequestOutcome::Expired
        )
    );
    assert_eq!(
        resolved(&a).await,
        (id.clone(), "B".into(), "A".into(), RequestOutcome::Expired)
    );
    assert_eq!(
        resolved(&c).await,
        (id.clone(), "B".into(), "C".into(), RequestOutcome::Expired)
    );
    assert!(b.state().requests.is_empty());
    // Only one media_requested reached B for the two asks.
    expect_none(&b, "media_requested").await;
    let late = b
        .request(json!({"type": "respond_request", "request_id": id, "accept": true}))
        .await;
    assert_eq!(ws_code(late), "not_found");
    ts.stop().await;
}

/// Example 1: when a participant's stream is enabled, the host calls `disable_mic()` /
/// `disable_webcam()`. No consent is needed to turn media off; a participant without the
/// moderation controls cannot.
#[tokio::test]
async fn example1_disable_mic_and_webcam_when_streams_are_enabled() {
    let ts = TestServer::start().await;
    let api = ts.admin();
    let a = ts.join("vs-off", "A", "host").await;
    let b = ts.join("vs-off", "B", "participant").await;
    let c = ts.join("vs-off", "C", "participant").await;

    let mic = b.publish("microphone").await.unwrap();
    let cam = b.publish("camera").await.unwrap();
    // A: on_stream_enabled → disable_mic() / disable_webcam()
    for _ in 0..2 {
        let (identity, source) = match expect(&a, "track_published").await {
            Event::TrackPublished { identity, track } => (identity, track.source),
            other => panic!("unexpected {other:?}"),
        };
        assert_eq!(identity, "B");
        let r = a
            .request(json!({"type": "mute", "identity": identity, "source": source.as_str(), "muted": true}))
            .await
            .unwrap();
        assert_eq!(r["changed"], 1);
    }
    for client in [&b, &c] {
        let ev = expect_kinds(client, &["track_muted", "track_muted"]).await;
        let got: Vec<_> = ev
            .iter()
            .map(|e| match e {
                Event::TrackMuted {
                    track_sid,
                    muted,
                    by,
                    ..
                } => (track_sid.clone().unwrap(), *muted, by.clone().unwrap()),
                other => panic!("unexpected {other:?}"),
            })
            .collect();
        assert_eq!(
            got,
            vec![
                (mic.clone(), true, "A".to_string()),
                (cam.clone(), true, "A".to_string())
            ]
        );
    }
    // The host saw its own two mutes too.
    expect_kinds(&a, &["track_muted", "track_muted"]).await;
    let p = api_participant(&api, "vs-off", "B").await;
    for t in p["tracks"].as_array().unwrap() {
        assert_eq!(
            (t["muted"].clone(), t["muted_by"].clone()),
            (json!(true), json!("A"))
        );
    }

    // Disabling again changes nothing and tells nobody.
    let r = a
        .request(json!({"type": "mute", "identity": "B", "source": "microphone"}))
        .await
        .unwrap();
    assert_eq!(r["changed"], 0);
    expect_none(&b, "track_muted").await;

    // C has no moderation controls (no allow_mod): both directions are refused.
    let r = c
        .request(json!({"type": "mute", "identity": "B", "source": "camera"}))
        .await;
    assert_eq!(ws_code(r), "permission_denied");
    let r = c
        .request(json!({"type": "request_media", "identity": "B", "source": "camera"}))
        .await;
    assert_eq!(ws_code(r), "permission_denied");
    expect_none(&b, "media_requested").await;

    // B turns its camera back on itself; the backend turns it off again through the API.
    b.request(json!({"type": "set_track_muted", "track_sid": cam, "muted": false}))
        .await
        .unwrap();
    assert!(matches!(
        expect(&a, "track_muted").await,
        Event::TrackMuted {
            muted: false,
            by: None,
            ..
        }
    ));
    let r = api.mute("vs-off", "B", "camera", true).await.unwrap();
    assert_eq!(r["changed"], 1);
    let ev = expect_kinds(&b, &["track_muted", "track_muted"]).await;
    assert!(matches!(
        &ev[0],
        Event::TrackMuted {
            muted: false,
            by: None,
            ..
        }
    ));
    assert!(matches!(&ev[1], Event::TrackMuted { muted: true, by: Some(by), .. } if by == "admin"));
    ts.stop().await;
}

/// A host "unmute" under each `remote_unmute` policy, from a host client and from the API.
async fn remote_unmute(policy: &str) {
    let ts = TestServer::start().await;
    let api = ts.admin();
    let room = format!("ru-{policy}");
    api.create_room(&room, json!({"remote_unmute": policy}))
        .await
        .unwrap();
    let a = ts.join(&room, "A", "host").await;
    let b = ts.join(&room, "B", "participant").await;
    let mic = b.publish("microphone").await.unwrap();
    a.request(json!({"type": "mute", "identity": "B", "source": "microphone", "muted": true}))
        .await
        .unwrap();
    expect(&b, "track_muted").await;
    let unmute = json!({"type": "mute", "identity": "B", "source": "microphone", "muted": false});

    match policy {
        "off" => {
            assert_eq!(ws_code(a.request(unmute).await), "failed_precondition");
            let http = api.mute(&room, "B", "microphone", false).await;
            assert_eq!(api_code(http), ("failed_precondition", 412));
            expect_none(&b, "track_muted").await;
            expect_none(&b, "media_requested").await;
            let m = mic_of(&api_participant(&api, &room, "B").await);
            assert_eq!(
                (m["muted"].clone(), m["muted_by"].clone()),
                (json!(true), json!("A"))
            );
        }
        "ask" => {
            let r = a.request(unmute).await.unwrap();
            assert_eq!(r["status"], "pending");
            let id = r["request_id"].as_str().unwrap().to_string();
            assert_eq!(
                media_requested(&b).await,
                (id.clone(), Source::Microphone, "A".to_string())
            );
            // The backend asking the same thing joins the pending request.
            let http = api.mute(&room, "B", "microphone", false).await.unwrap();
            assert_eq!(http["request_id"], id.as_str());
            assert_eq!(http["deduplicated"], true);
            // Nothing is unmuted before B consents.
            expect_none(&b, "track_muted").await;
            b.request(json!({"type": "respond_request", "request_id": id, "accept": true}))
                .await
                .unwrap();
            let ev = expect_kinds(&b, &["track_muted", "request_resolved"]).await;
            assert!(
                matches!(&ev[0], Event::TrackMuted { muted: false, by: None, track_sid: Some(t), .. } if *t == mic)
            );
            assert!(
                matches!(&ev[1], Event::RequestResolved { outcome: RequestOutcome::Accepted, from, .. } if from == "A,admin")
            );
            assert_eq!(
                resolved(&a).await,
                (id, "B".into(), "A".into(), RequestOutcome::Accepted)
            );
            let m = mic_of(&api_participant(&api, &room, "B").await);
            assert_eq!(m["muted"], false);
        }
        "force" => {
            let r = a.request(unmute).await.unwrap();
            assert_eq!(r["changed"], 1);
            assert!(
                matches!(expect(&b, "track_muted").await, Event::TrackMuted { muted: false, by: Some(by), .. } if by == "A")
            );
            expect_none(&b, "media_requested").await;
            assert_eq!(
                mic_of(&api_participant(&api, &room, "B").await)["muted"],
                false
            );
            // Muted again, then force-unmuted by the backend.
            api.mute(&room, "B", "microphone", true).await.unwrap();
            expect(&b, "track_muted").await;
            let r = api.mute(&room, "B", "microphone", false).await.unwrap();
            assert_eq!(r["changed"], 1);
            assert!(
                matches!(expect(&b, "track_muted").await, Event::TrackMuted { muted: false, by: Some(by), .. } if by == "admin")
            );
            assert_eq!(
                mic_of(&api_participant(&api, &room, "B").await)["muted"],
                false
            );
        }
        _ => unreachable!(),
    }
    ts.stop().await;
}

#[tokio::test]
async fn remote_unmute_policy_off_refuses() {
    remote_unmute("off").await;
}

#[tokio::test]
async fn remote_unmute_policy_ask_asks_for_consent() {
    remote_unmute("ask").await;
}

#[tokio::test]
async fn remote_unmute_policy_force_unmutes() {
    remote_unmute("force").await;
}

/// `enable_mic()` from a backend: `request-media` with `wait_seconds` answers with the outcome.
#[tokio::test]
async fn http_request_media_waits_for_the_outcome() {
    let ts = TestServer::start().await;
    let api = ts.admin();
    api.create_room("vs-http", json!({})).await.unwrap();
    api.create_room("vs-http-exp", json!({"request_timeout_seconds": 1}))
        .await
        .unwrap();
    let b = ts.join("vs-http", "B", "participant").await;

    // Accepted.
    let call = {
        let api = api.clone();
        tokio::spawn(async move {
            api.request_media("vs-http", "B", "microphone", Some(10))
                .await
        })
    };
    let (id, source, from) = media_requested(&b).await;
    assert_eq!((source, from.as_str()), (Source::Microphone, "admin"));
    b.request(json!({"type": "respond_request", "request_id": id, "accept": true}))
        .await
        .unwrap();
    let r = call.await.unwrap().unwrap();
    assert_eq!(r, json!({"request_id": id, "status": "accepted"}));
    // The target is told; the backend asker has no socket and gets its answer over HTTP.
    assert_eq!(resolved(&b).await.3, RequestOutcome::Accepted);

    // Rejected.
    let call = {
        let api = api.clone();
        tokio::spawn(async move { api.request_media("vs-http", "B", "camera", Some(10)).await })
    };
    let (id, ..) = media_requested(&b).await;
    b.request(json!({"type": "respond_request", "request_id": id, "accept": false}))
        .await
        .unwrap();
    let r = call.await.unwrap().unwrap();
    assert_eq!(r, json!({"request_id": id, "status": "rejected"}));

    // Without wait_seconds (or with 0) the call answers at once: pending.
    let r = api
        .request_media("vs-http", "B", "camera", None)
        .await
        .unwrap();
    assert_eq!(r["status"], "pending");
    assert_eq!(r["deduplicated"], false);
    let pending_id = r["request_id"].as_str().unwrap().to_string();
    assert_eq!(media_requested(&b).await.0, pending_id);
    let r = api
        .request_media("vs-http", "B", "camera", Some(0))
        .await
        .unwrap();
    assert_eq!(r, json!({"request_id": pending_id, "status": "pending"}));

    // Out-of-range waits are refused.
    let bad = api
        .request_media("vs-http", "B", "camera", Some(4000))
        .await;
    assert_eq!(api_code(bad), ("invalid_argument", 400));

    // Cancelled: the target leaves while the backend waits.
    let call = {
        let api = api.clone();
        tokio::spawn(async move {
            api.request_media("vs-http", "B", "screen_video", Some(10))
                .await
        })
    };
    let (id, source, _) = media_requested(&b).await;
    assert_eq!(source, Source::ScreenVideo);
    b.close().await;
    let r = call.await.unwrap().unwrap();
    assert_eq!(r, json!({"request_id": id, "status": "cancelled"}));

    // Expired: nobody answers within the room's request_timeout_seconds.
    let b2 = ts.join("vs-http-exp", "B", "participant").await;
    let call = {
        let api = api.clone();
        tokio::spawn(async move {
            api.request_media("vs-http-exp", "B", "microphone", Some(10))
                .await
        })
    };
    let (id, ..) = media_requested(&b2).await;
    let r = call.await.unwrap().unwrap();
    assert_eq!(r, json!({"request_id": id, "status": "expired"}));
    assert_eq!(resolved(&b2).await.3, RequestOutcome::Expired);
    ts.stop().await;
}

/// Requests that cannot make sense are refused and reach nobody.
#[tokio::test]
async fn request_media_refusals() {
    let ts = TestServer::start().await;
    let api = ts.admin();
    let a = ts.join("vs-bad", "A", "host").await;
    let v = ts.join("vs-bad", "V", "viewer").await;
    let req = |identity: &str, source: &str| json!({"type": "request_media", "identity": identity, "source": source});
    assert_eq!(
        ws_code(a.request(req("A", "microphone")).await),
        "invalid_argument"
    );
    // A viewer may not send at all.
    assert_eq!(
        ws_code(a.request(req("V", "microphone")).await),
        "failed_precondition"
    );
    assert_eq!(
        ws_code(a.request(req("nobody", "microphone")).await),
        "not_found"
    );
    assert_eq!(
        ws_code(v.request(req("A", "microphone")).await),
        "permission_denied"
    );
    let http = api.request_media("vs-bad", "V", "camera", Some(1)).await;
    assert_eq!(api_code(http), ("failed_precondition", 412));
    expect_none(&v, "media_requested").await;
    expect_none(&a, "media_requested").await;
    ts.stop().await;
}
