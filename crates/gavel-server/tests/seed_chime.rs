//! Seed 004 (Amazon Chime SDK, `update_attendee_capabilities`): Audio / Video / Content, each
//! `SendReceive | Send | Receive | None`, set through `PATCH …/participants/{identity}` with
//! `{"capabilities": {…}}`, with the seed's validation corner cases:
//!
//! 1. `MeetingFeatures:Video:MaxResolution:None` → any Video capability but `None` is a 400;
//! 2. `MeetingFeatures:Content:MaxResolution:None` → same for Content;
//! 3. Content `SendReceive` / `Receive` needs Video `SendReceive` / `Receive` (400 otherwise),
//!    while Video `Receive` with Content not receiving is fine;
//! 4. / 5. raising a capability to send lets media flow again (here: the client publishes again);
//!    lowering it stops the live track (`track_unpublished {reason: permission}`).

mod common;
use common::*;
use gavel_client::core::event::UnpublishReason;
use gavel_client::core::{Event, Source};
use gavel_client::{ApiClient, ApiError};
use serde_json::{json, Value};

const ALL: [&str; 4] = ["SendReceive", "Send", "Receive", "None"];

fn caps(audio: &str, video: &str, content: &str) -> Value {
    json!({"capabilities": {"Audio": audio, "Video": video, "Content": content}})
}

async fn set_caps(
    api: &ApiClient,
    room: &str,
    identity: &str,
    (a, v, c): (&str, &str, &str),
) -> Result<Value, ApiError> {
    api.update_participant(room, identity, caps(a, v, c)).await
}

/// (can_send, can_receive) of a participant object.
fn sets(p: &Value) -> (Value, Value) {
    (
        p["permissions"]["can_send"].clone(),
        p["permissions"]["can_receive"].clone(),
    )
}

/// The seed's request: Audio SendReceive, Video None, Content None. The live camera and screen
/// share stop (`track_unpublished`, reason permission); the microphone keeps flowing.
#[tokio::test]
async fn update_attendee_capabilities_lowers_send_and_unpublishes() {
    let ts = TestServer::start().await;
    let api = ts.admin();
    let host = ts.join("chime", "host", "host").await;
    let alice = ts.join("chime", "alice", "participant").await;
    let mic = alice.publish("microphone").await.unwrap();
    let cam = alice.publish("camera").await.unwrap();
    let screen = alice.publish("screen_video").await.unwrap();

    let r = set_caps(&api, "chime", "alice", ("SendReceive", "None", "None"))
        .await
        .unwrap();
    assert_eq!(
        sets(&r["participant"]),
        (json!(["microphone"]), json!(["microphone"]))
    );
    assert_eq!(r["participant"]["role"], "participant");
    for c in [&alice, &host] {
        let ev = expect_kinds(
            c,
            &[
                "track_unpublished",
                "track_unpublished",
                "participant_updated",
            ],
        )
        .await;
        let gone: Vec<_> = ev[..2]
            .iter()
            .map(|e| match e {
                Event::TrackUnpublished {
                    identity,
                    track_sid,
                    reason,
                    ..
                } => {
                    assert_eq!(identity, "alice");
                    assert_eq!(*reason, UnpublishReason::Permission);
                    track_sid.clone()
                }
                other => panic!("unexpected {other:?}"),
            })
            .collect();
        assert_eq!(gone, [cam.clone(), screen.clone()]);
        assert!(
            matches!(&ev[2], Event::ParticipantUpdated { changed, by: Some(by), .. } if changed == &["permissions"] && by == "admin")
        );
    }
    match expect(&alice, "permissions_changed").await {
        Event::PermissionsChanged { permissions, .. } => {
            assert_eq!(permissions.can_send, [Source::Microphone].into());
            assert_eq!(permissions.can_receive, [Source::Microphone].into());
        }
        other => panic!("unexpected {other:?}"),
    }
    let p = api_participant(&api, "chime", "alice").await;
    let tracks: Vec<_> = p["tracks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t["sid"].as_str().unwrap().to_string(), t["muted"].clone()))
        .collect();
    assert_eq!(tracks, [(mic, json!(false))], "the microphone still flows");
    assert_eq!(
        ws_code(alice.publish("camera").await.map(Value::from)),
        "permission_denied"
    );

    // Send-only and receive-only views map to the two sets independently.
    let r = set_caps(&api, "chime", "alice", ("Send", "Receive", "None"))
        .await
        .unwrap();
    assert_eq!(
        sets(&r["participant"]),
        (json!(["microphone"]), json!(["camera"]))
    );
    let r = set_caps(&api, "chime", "alice", ("Receive", "SendReceive", "Send"))
        .await
        .unwrap();
    assert_eq!(
        sets(&r["participant"]),
        (
            json!(["camera", "screen_video", "screen_audio"]),
            json!(["microphone", "camera"])
        )
    );
    // Audio Receive no longer sends: the live microphone stops too.
    assert!(matches!(
        host.wait_for(WAIT, |e| matches!(
            e,
            Event::TrackUnpublished {
                source: Source::Microphone,
                ..
            }
        ))
        .await
        .unwrap(),
        Event::TrackUnpublished {
            reason: UnpublishReason::Permission,
            ..
        }
    ));
    assert_eq!(
        api_participant(&api, "chime", "alice").await["tracks"],
        json!([])
    );
    ts.stop().await;
}

/// Corner cases 4 and 5: from `None`/`Receive` back to `SendReceive`, the attendee can send
/// again (its client publishes and the others receive the track). From a host client too.
#[tokio::test]
async fn raising_audio_to_send_lets_the_attendee_publish_again() {
    let ts = TestServer::start().await;
    let host = ts.join("chime-up", "host", "host").await;
    let alice = ts.join("chime-up", "alice", "participant").await;
    alice.publish("microphone").await.unwrap();
    expect(&host, "track_published").await;

    let r = host
        .request(json!({"type": "update_participant", "identity": "alice",
            "capabilities": {"Audio": "None", "Video": "SendReceive", "Content": "SendReceive"}}))
        .await
        .unwrap();
    assert_eq!(
        r["participant"]["permissions"]["can_receive"],
        json!(["camera", "screen_video", "screen_audio"])
    );
    assert!(matches!(
        expect(&host, "track_unpublished").await,
        Event::TrackUnpublished {
            source: Source::Microphone,
            reason: UnpublishReason::Permission,
            ..
        }
    ));
    assert!(matches!(
        expect(&alice, "permissions_changed").await,
        Event::PermissionsChanged { by: Some(by), .. } if by == "host"
    ));
    assert_eq!(
        ws_code(alice.publish("microphone").await.map(Value::from)),
        "permission_denied"
    );

    host.request(json!({"type": "update_participant", "identity": "alice",
        "capabilities": {"Audio": "SendReceive", "Video": "SendReceive", "Content": "SendReceive"}}))
        .await
        .unwrap();
    assert!(matches!(
        expect(&alice, "permissions_changed").await,
        Event::PermissionsChanged { permissions, .. } if permissions.can_send.contains(&Source::Microphone)
    ));
    alice.publish("microphone").await.unwrap();
    assert!(matches!(
        expect(&host, "track_published").await,
        Event::TrackPublished { identity, track } if identity == "alice" && track.source == Source::Microphone && !track.muted
    ));
    // Setting what is already there changes nothing and tells nobody.
    host.request(json!({"type": "update_participant", "identity": "alice",
        "capabilities": {"Audio": "SendReceive", "Video": "SendReceive", "Content": "SendReceive"}}))
        .await
        .unwrap();
    expect_none(&alice, "permissions_changed").await;
    ts.stop().await;
}

/// Corner case 1: a meeting created with `video_max_resolution: None`.
#[tokio::test]
async fn video_max_resolution_none_rejects_any_video_capability() {
    let ts = TestServer::start().await;
    let api = ts.admin();
    let room = api
        .create_room("chime-novideo", json!({"video_max_resolution": "None"}))
        .await
        .unwrap();
    assert_eq!(room["room"]["settings"]["video_max_resolution"], "None");
    let host = ts.join("chime-novideo", "host", "host").await;
    let alice = ts.join("chime-novideo", "alice", "participant").await;
    // The room's feature removes video from everyone on join.
    let me = alice.state().me.unwrap();
    assert!(!me.permissions.can_send.contains(&Source::Camera));
    assert!(!me.permissions.can_receive.contains(&Source::Camera));
    assert_eq!(
        ws_code(alice.publish("camera").await.map(Value::from)),
        "permission_denied"
    );
    let before = api_participant(&api, "chime-novideo", "alice").await;

    for video in ["SendReceive", "Send", "Receive"] {
        let r = set_caps(
            &api,
            "chime-novideo",
            "alice",
            ("SendReceive", video, "None"),
        )
        .await;
        assert_eq!(api_code(r), ("invalid_argument", 400), "Video {video}");
        let r = host
            .request(json!({"type": "update_participant", "identity": "alice",
                "capabilities": {"Audio": "SendReceive", "Video": video, "Content": "None"}}))
            .await;
        assert_eq!(
            ws_code(r),
            "invalid_argument",
            "Video {video} from a host client"
        );
    }
    expect_none(&alice, "permissions_changed").await;
    assert_eq!(
        api_participant(&api, "chime-novideo", "alice").await,
        before
    );

    // Video None is accepted, with any audio, and with content that only sends.
    for audio in ALL {
        let r = set_caps(&api, "chime-novideo", "alice", (audio, "None", "None")).await;
        assert!(r.is_ok(), "Audio {audio}: {r:?}");
    }
    let r = set_caps(
        &api,
        "chime-novideo",
        "alice",
        ("SendReceive", "None", "Send"),
    )
    .await
    .unwrap();
    assert_eq!(
        sets(&r["participant"]),
        (
            json!(["microphone", "screen_video", "screen_audio"]),
            json!(["microphone"])
        )
    );
    ts.stop().await;
}

/// Corner case 2: a meeting created with `content_max_resolution: None`.
#[tokio::test]
async fn content_max_resolution_none_rejects_any_content_capability() {
    let ts = TestServer::start().await;
    let api = ts.admin();
    api.create_room("chime-nocontent", json!({"content_max_resolution": "None"}))
        .await
        .unwrap();
    let alice = ts.join("chime-nocontent", "alice", "participant").await;
    let me = alice.state().me.unwrap();
    assert_eq!(
        me.permissions.can_send,
        [Source::Microphone, Source::Camera].into()
    );
    assert_eq!(
        ws_code(alice.publish("screen_video").await.map(Value::from)),
        "permission_denied"
    );
    let before = api_participant(&api, "chime-nocontent", "alice").await;
    for content in ["SendReceive", "Send", "Receive"] {
        let r = set_caps(
            &api,
            "chime-nocontent",
            "alice",
            ("SendReceive", "SendReceive", content),
        )
        .await;
        assert_eq!(api_code(r), ("invalid_argument", 400), "Content {content}");
    }
    expect_none(&alice, "permissions_changed").await;
    assert_eq!(
        api_participant(&api, "chime-nocontent", "alice").await,
        before
    );
    let r = set_caps(
        &api,
        "chime-nocontent",
        "alice",
        ("SendReceive", "Receive", "None"),
    )
    .await
    .unwrap();
    assert_eq!(
        sets(&r["participant"]),
        (json!(["microphone"]), json!(["microphone", "camera"]))
    );
    ts.stop().await;
}

/// Corner case 3: Content may only receive when Video receives too.
#[tokio::test]
async fn content_receive_requires_video_receive() {
    let ts = TestServer::start().await;
    let api = ts.admin();
    let alice = ts.join("chime-rx", "alice", "participant").await;
    let before = api_participant(&api, "chime-rx", "alice").await;

    // Every combination, against the rule as the seed states it.
    for video in ALL {
        for content in ALL {
            let video_receives = matches!(video, "SendReceive" | "Receive");
            let content_receives = matches!(content, "SendReceive" | "Receive");
            let r = set_caps(&api, "chime-rx", "alice", ("SendReceive", video, content)).await;
            if content_receives && !video_receives {
                assert_eq!(
                    api_code(r),
                    ("invalid_argument", 400),
                    "Video {video} Content {content}"
                );
            } else {
                let p = r.unwrap_or_else(|e| panic!("Video {video} Content {content}: {e}"));
                let recv = &p["participant"]["permissions"]["can_receive"];
                let has = |s: &str| recv.as_array().unwrap().iter().any(|x| x == s);
                assert_eq!(has("camera"), video_receives);
                assert_eq!(has("screen_video"), content_receives);
                assert_eq!(has("screen_audio"), content_receives);
            }
        }
    }
    // The seed's allowed case explicitly: Video Receive, Content not receiving.
    let r = set_caps(&api, "chime-rx", "alice", ("None", "Receive", "None"))
        .await
        .unwrap();
    assert_eq!(sets(&r["participant"]), (json!([]), json!(["camera"])));

    // A refused update leaves the previous capabilities in place.
    let r = set_caps(
        &api,
        "chime-rx",
        "alice",
        ("SendReceive", "Send", "Receive"),
    )
    .await;
    assert_eq!(api_code(r), ("invalid_argument", 400));
    assert_eq!(
        sets(&api_participant(&api, "chime-rx", "alice").await),
        (json!([]), json!(["camera"]))
    );
    assert_ne!(sets(&before), (json!([]), json!(["camera"])));
    drop(alice);
    ts.stop().await;
}

/// All three kinds are required and must be one of the four values; only hosts may set them.
#[tokio::test]
async fn malformed_or_unauthorized_capability_updates() {
    let ts = TestServer::start().await;
    let api = ts.admin();
    let alice = ts.join("chime-bad", "alice", "participant").await;
    let bob = ts.join("chime-bad", "bob", "participant").await;
    let before = api_participant(&api, "chime-bad", "alice").await;
    let bad = [
        json!({"capabilities": {"Audio": "SendReceive", "Video": "None"}}),
        json!({"capabilities": {"Audio": "Sometimes", "Video": "None", "Content": "None"}}),
        json!({"capabilities": {"Audio": "sendreceive", "Video": "None", "Content": "None"}}),
        json!({"capabilities": "SendReceive"}),
    ];
    for body in bad {
        let r = api
            .update_participant("chime-bad", "alice", body.clone())
            .await;
        assert_eq!(api_code(r), ("invalid_argument", 400), "{body}");
    }
    let r = set_caps(&api, "chime-bad", "nobody", ("None", "None", "None")).await;
    assert_eq!(api_code(r), ("not_found", 404));
    let r = bob
        .request(json!({"type": "update_participant", "identity": "alice",
            "capabilities": {"Audio": "None", "Video": "None", "Content": "None"}}))
        .await;
    assert_eq!(ws_code(r), "permission_denied");
    expect_none(&alice, "permissions_changed").await;
    assert_eq!(api_participant(&api, "chime-bad", "alice").await, before);
    ts.stop().await;
}
