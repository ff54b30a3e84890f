//! Seed 003 (Cloudflare RealtimeKit, "Manage participants in a session"): host controls from
//! the local participant's preset — `disableAudio` / `disableVideo`, `disableAllAudio` /
//! `disableAllVideo` (the local participant included), `pin` / `unpin` (one pinned participant,
//! seen by everyone, pinning another unpins the previous), `kick` (roomLeft "kicked") and
//! `kickAll` (roomLeft "ended" for everyone). Each fails with a permission error (1201) when
//! the preset lacks the control.

mod common;
use common::*;
use gavel_client::core::{Event, LeaveReason, Source};
use gavel_client::{Message, RtcClient};
use serde_json::{json, Value};

async fn pinned(c: &RtcClient, identity: &str, by: Option<&str>) {
    let e = expect(c, "pinned").await;
    assert_eq!(
        e,
        Event::Pinned {
            identity: identity.into(),
            by: by.map(Into::into)
        },
        "{}",
        c.identity()
    );
}

async fn unpinned(c: &RtcClient, identity: &str, by: Option<&str>) {
    let e = expect(c, "unpinned").await;
    assert_eq!(
        e,
        Event::Unpinned {
            identity: identity.into(),
            by: by.map(Into::into)
        },
        "{}",
        c.identity()
    );
}

fn muted_flags(p: &Value) -> Vec<(String, bool, Value)> {
    p["tracks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["source"].as_str().unwrap().to_string(),
                t["muted"].as_bool().unwrap(),
                t.get("muted_by").cloned().unwrap_or(Value::Null),
            )
        })
        .collect()
}

/// `participant.disableAudio()` / `disableVideo()`: the target's audio / video is off and
/// everyone gets the update (`audioUpdate` / `videoUpdate`).
#[tokio::test]
async fn disable_audio_and_video_of_a_participant() {
    let ts = TestServer::start().await;
    let api = ts.admin();
    let host = ts.join("rtk", "host", "host").await;
    let alice = ts.join("rtk", "alice", "participant").await;
    let bob = ts.join("rtk", "bob", "participant").await;
    let mic = alice.publish("microphone").await.unwrap();
    let cam = alice.publish("camera").await.unwrap();

    let r = host
        .request(json!({"type": "mute", "identity": "alice", "source": "microphone"}))
        .await
        .unwrap();
    assert_eq!(r["changed"], 1);
    let r = host
        .request(json!({"type": "mute", "identity": "alice", "source": "camera"}))
        .await
        .unwrap();
    assert_eq!(r["changed"], 1);
    for c in [&host, &alice, &bob] {
        let ev = expect_kinds(c, &["track_muted", "track_muted"]).await;
        for (e, (sid, source)) in ev
            .iter()
            .zip([(&mic, Source::Microphone), (&cam, Source::Camera)])
        {
            assert_eq!(
                e,
                &Event::TrackMuted {
                    identity: Some("alice".into()),
                    track_sid: Some(sid.clone()),
                    source,
                    muted: true,
                    by: Some("host".into()),
                    all: false,
                    except: vec![],
                }
            );
        }
        let st = c.state();
        let a = st.get("alice").unwrap();
        assert!(a.tracks.iter().all(|t| t.muted), "{}", c.identity());
    }
    assert_eq!(
        muted_flags(&api_participant(&api, "rtk", "alice").await),
        [
            ("microphone".into(), true, json!("host")),
            ("camera".into(), true, json!("host"))
        ]
    );
    ts.stop().await;
}

/// `disableAllAudio()` / `disableAllVideo()` affect everyone, the local participant included:
/// one summary update each.
#[tokio::test]
async fn disable_all_audio_and_video_including_the_local_participant() {
    let ts = TestServer::start().await;
    let api = ts.admin();
    let host = ts.join("rtk-all", "host", "host").await;
    let a = ts.join("rtk-all", "a", "participant").await;
    let b = ts.join("rtk-all", "b", "participant").await;
    for c in [&host, &a, &b] {
        c.publish("microphone").await.unwrap();
        c.publish("camera").await.unwrap();
    }

    let r = host
        .request(json!({"type": "mute_all", "source": "microphone"}))
        .await
        .unwrap();
    assert_eq!(r["changed"], 3);
    for c in [&host, &a, &b] {
        let e = expect(c, "track_muted").await;
        assert_eq!(
            e,
            Event::TrackMuted {
                identity: None,
                track_sid: None,
                source: Source::Microphone,
                muted: true,
                by: Some("host".into()),
                all: true,
                except: vec![],
            }
        );
        // meeting.self gets its audioUpdate too.
        let st = c.state();
        assert!(
            st.me
                .as_ref()
                .unwrap()
                .track(Source::Microphone)
                .unwrap()
                .muted
        );
        assert!(st
            .everyone()
            .all(|p| p.track(Source::Microphone).unwrap().muted
                && !p.track(Source::Camera).unwrap().muted));
        expect_none(c, "track_muted").await;
    }

    // disableAllVideo() from the backend.
    let r = api.mute_all("rtk-all", "camera", &[]).await.unwrap();
    assert_eq!(r["changed"], 3);
    for c in [&host, &a, &b] {
        assert!(matches!(
            expect(c, "track_muted").await,
            Event::TrackMuted { all: true, source: Source::Camera, by: Some(by), .. } if by == "admin"
        ));
    }
    let list = api.list_participants("rtk-all").await.unwrap();
    for p in list["participants"].as_array().unwrap() {
        assert_eq!(
            muted_flags(p),
            [
                ("microphone".into(), true, json!("host")),
                ("camera".into(), true, json!("admin"))
            ]
        );
    }
    // Nothing left to mute.
    let r = host
        .request(json!({"type": "mute_all", "source": "microphone"}))
        .await
        .unwrap();
    assert_eq!(r["changed"], 0);
    expect_none(&a, "track_muted").await;
    ts.stop().await;
}

/// `pin()` / `unpin()`: a session-wide focus. Everyone sees it, the target's own view too;
/// pinning another unpins the previous; kicking the pinned participant unpins it.
#[tokio::test]
async fn pin_and_unpin_seen_by_everyone() {
    let ts = TestServer::start().await;
    let api = ts.admin();
    let host = ts.join("rtk-pin", "host", "host").await;
    let alice = ts.join("rtk-pin", "alice", "participant").await;
    let bob = ts.join("rtk-pin", "bob", "participant").await;
    let _observer = ts.join("rtk-pin", "observer", "observer").await;

    host.request(json!({"type": "pin", "identity": "alice"}))
        .await
        .unwrap();
    for c in [&host, &alice, &bob] {
        pinned(c, "alice", Some("host")).await;
        assert_eq!(c.state().pinned.as_deref(), Some("alice"));
    }
    assert_eq!(
        api.list_participants("rtk-pin").await.unwrap()["pinned"],
        "alice"
    );

    // Pinning again changes nothing.
    host.request(json!({"type": "pin", "identity": "alice"}))
        .await
        .unwrap();
    expect_none(&bob, "pinned").await;

    // Pinning bob unpins alice first.
    host.request(json!({"type": "pin", "identity": "bob"}))
        .await
        .unwrap();
    for c in [&host, &alice, &bob] {
        let ev = expect_kinds(c, &["unpinned", "pinned"]).await;
        assert_eq!(
            ev,
            [
                Event::Unpinned {
                    identity: "alice".into(),
                    by: Some("host".into())
                },
                Event::Pinned {
                    identity: "bob".into(),
                    by: Some("host".into())
                }
            ]
        );
        assert_eq!(c.state().pinned.as_deref(), Some("bob"));
    }
    assert_eq!(
        api.get_room("rtk-pin").await.unwrap()["room"]["pinned"],
        "bob"
    );
    // A newcomer sees the pin in its snapshot.
    let carol = ts.join("rtk-pin", "carol", "participant").await;
    assert_eq!(carol.state().pinned.as_deref(), Some("bob"));

    // Unpinning someone who is not pinned is refused; unpinning bob works.
    let r = host
        .request(json!({"type": "unpin", "identity": "alice"}))
        .await;
    assert_eq!(ws_code(r), "failed_precondition");
    api.unpin("rtk-pin", "bob").await.unwrap();
    for c in [&host, &alice, &bob, &carol] {
        unpinned(c, "bob", Some("admin")).await;
        assert_eq!(c.state().pinned, None);
    }
    assert_eq!(
        api.list_participants("rtk-pin").await.unwrap()["pinned"],
        Value::Null
    );

    // A hidden participant cannot be the session's focus; to a host client it does not exist.
    assert_eq!(
        api_code(api.pin("rtk-pin", "observer").await),
        ("failed_precondition", 412)
    );
    let r = host
        .request(json!({"type": "pin", "identity": "observer"}))
        .await;
    assert_eq!(ws_code(r), "not_found");

    // Kicking the pinned participant removes it from the pinned map.
    api.pin("rtk-pin", "alice").await.unwrap();
    pinned(&bob, "alice", Some("admin")).await;
    host.request(json!({"type": "kick", "identity": "alice"}))
        .await
        .unwrap();
    let ev = expect_kinds(&bob, &["unpinned", "participant_left"]).await;
    assert_eq!(
        ev[0],
        Event::Unpinned {
            identity: "alice".into(),
            by: None
        }
    );
    assert_eq!(bob.state().pinned, None);
    assert_eq!(
        api.list_participants("rtk-pin").await.unwrap()["pinned"],
        Value::Null
    );
    ts.stop().await;
}

/// `participant.kick()`: the target's `roomLeft` is "kicked" and its session ends; the others
/// see `participantLeft`.
#[tokio::test]
async fn kick_a_participant() {
    let ts = TestServer::start().await;
    let api = ts.admin();
    let host = ts.join("rtk-kick", "host", "host").await;
    let alice = ts.join("rtk-kick", "alice", "participant").await;
    let bob = ts.join("rtk-kick", "bob", "participant").await;
    host.request(json!({"type": "kick", "identity": "alice"}))
        .await
        .unwrap();
    expect_room_left(&alice, "kicked", Some("host")).await;
    assert_eq!(alice.state().left, Some(LeaveReason::Kicked));
    for c in [&host, &bob] {
        assert!(matches!(
            c.wait_for(WAIT, |e| matches!(e, Event::ParticipantLeft { .. })).await.unwrap(),
            Event::ParticipantLeft { identity, reason: LeaveReason::Kicked, by: Some(by), sid }
                if identity == "alice" && by == "host" && sid == alice.sid()
        ));
        assert!(!c.state().participants.contains_key("alice"));
    }
    assert_eq!(api_identities(&api, "rtk-kick").await, ["bob", "host"]);
    // Kicking oneself is not a thing: leave instead.
    let r = host
        .request(json!({"type": "kick", "identity": "host"}))
        .await;
    assert_eq!(ws_code(r), "invalid_argument");
    ts.stop().await;
}

/// Everything a client receives after `kickAll()` until its socket closes.
async fn rest(c: &RtcClient) -> Vec<Message> {
    let mut out = Vec::new();
    loop {
        match c.next(WAIT).await {
            Some(m @ Message::Closed { .. }) => {
                out.push(m);
                return out;
            }
            Some(m) => out.push(m),
            None => panic!("{}: no close after {out:?}", c.identity()),
        }
    }
}

/// `participants.kickAll()` ends the session: every client, the local one included, gets
/// `roomLeft` with "ended" — one message each, nobody is told about anyone else leaving.
#[tokio::test]
async fn kick_all_ends_the_session_for_everyone() {
    let ts = TestServer::start().await;
    let api = ts.admin();
    api.create_room("rtk-end", json!({})).await.unwrap();
    let host = ts.join("rtk-end", "host", "host").await;
    let a = ts.join("rtk-end", "a", "participant").await;
    let b = ts.join("rtk-end", "b", "participant").await;
    let o = ts.join("rtk-end", "o", "observer").await;
    for c in [&host, &a] {
        c.wait_for(WAIT, |e| {
            matches!(
                e,
                Event::CountsUpdated {
                    present: 3,
                    hidden: 1,
                    waiting: 0
                }
            )
        })
        .await
        .unwrap();
    }
    b.wait_for(WAIT, |e| {
        matches!(e, Event::CountsUpdated { hidden: 1, .. })
    })
    .await
    .unwrap();
    expect(&o, "joined").await;

    // The host's own request is answered, then its session ends like everyone else's.
    host.send_raw(r#"{"id":"end","type":"end_session"}"#)
        .await
        .unwrap();
    for c in [&host, &a, &b, &o] {
        let mut msgs = rest(c).await;
        if c.identity() == "host" {
            let Message::Response { body, .. } = msgs.remove(0) else {
                panic!("host: expected the response first, got {msgs:?}");
            };
            assert_eq!(
                (body["id"].as_str(), body["ok"].as_bool()),
                (Some("end"), Some(true))
            );
        }
        let [Message::Event { event, .. }, Message::Closed { code, reason }] = &msgs[..] else {
            panic!(
                "{}: expected room_left then close, got {msgs:?}",
                c.identity()
            );
        };
        assert_eq!(
            event,
            &Event::RoomLeft {
                reason: LeaveReason::Ended,
                by: Some("host".into()),
                message: None,
            }
        );
        assert_eq!((*code, reason.as_str()), (1000, "ended"));
    }
    let list = api.list_participants("rtk-end").await.unwrap();
    assert_eq!(list["participants"], json!([]));
    assert_eq!(list["counts"], json!({"present": 0, "hidden": 0}));

    // The room remains; a new session can start, and the backend can end it too.
    let a = ts.join("rtk-end", "a", "participant").await;
    assert!(a.state().participants.is_empty());
    api.end_session("rtk-end").await.unwrap();
    expect_room_left(&a, "ended", Some("admin")).await;
    ts.stop().await;
}

/// A preset without host controls: every control fails with a permission error and changes
/// nothing. Granting one control (pin) makes exactly that one work.
#[tokio::test]
async fn participant_preset_lacks_every_control() {
    let ts = TestServer::start().await;
    let api = ts.admin();
    let room = "rtk-preset";
    let host = ts.join(room, "host", "host").await;
    let alice = ts.join(room, "alice", "participant").await;
    let bob = ts.join(room, "bob", "participant").await;
    bob.publish("microphone").await.unwrap();
    bob.publish("camera").await.unwrap();
    assert!(alice.state().me.unwrap().permissions.host.is_empty());

    let attempts = [
        json!({"type": "mute", "identity": "bob", "source": "microphone"}),
        json!({"type": "mute", "identity": "bob", "source": "camera"}),
        json!({"type": "mute_all", "source": "microphone"}),
        json!({"type": "mute_all", "source": "camera"}),
        json!({"type": "pin", "identity": "bob"}),
        json!({"type": "unpin"}),
        json!({"type": "kick", "identity": "bob"}),
        json!({"type": "kick", "identities": ["bob", "host"]}),
        json!({"type": "end_session"}),
    ];
    for a in &attempts {
        let r = alice.request(a.clone()).await;
        assert_eq!(ws_code(r), "permission_denied", "{a}");
    }
    for kind in [
        "track_muted",
        "pinned",
        "unpinned",
        "room_left",
        "participant_left",
    ] {
        expect_none(&bob, kind).await;
    }
    expect_none(&host, "room_left").await;
    let list = api.list_participants(room).await.unwrap();
    assert_eq!(list["participants"].as_array().unwrap().len(), 3);
    assert_eq!(list["pinned"], Value::Null);
    assert!(muted_flags(&api_participant(&api, room, "bob").await)
        .iter()
        .all(|(_, muted, _)| !muted));

    // A preset with only the pin control.
    api.update_participant(room, "alice", json!({"permissions": {"host": ["pin"]}}))
        .await
        .unwrap();
    alice
        .wait_for(WAIT, |e| matches!(e, Event::PermissionsChanged { .. }))
        .await
        .unwrap();
    alice
        .request(json!({"type": "pin", "identity": "bob"}))
        .await
        .unwrap();
    pinned(&bob, "bob", Some("alice")).await;
    for a in &attempts[..4] {
        assert_eq!(
            ws_code(alice.request(a.clone()).await),
            "permission_denied",
            "{a}"
        );
    }
    let r = alice
        .request(json!({"type": "kick", "identity": "bob"}))
        .await;
    assert_eq!(ws_code(r), "permission_denied");
    alice.request(json!({"type": "unpin"})).await.unwrap();
    unpinned(&bob, "bob", Some("alice")).await;

    // A preset with only disable_participant_audio: the camera stays out of reach.
    api.update_participant(
        room,
        "alice",
        json!({"permissions": {"host": ["mute_audio"]}}),
    )
    .await
    .unwrap();
    alice
        .wait_for(WAIT, |e| matches!(e, Event::PermissionsChanged { .. }))
        .await
        .unwrap();
    let r = alice
        .request(json!({"type": "mute", "identity": "bob", "source": "microphone"}))
        .await
        .unwrap();
    assert_eq!(r["changed"], 1);
    let r = alice
        .request(json!({"type": "mute", "identity": "bob", "source": "camera"}))
        .await;
    assert_eq!(ws_code(r), "permission_denied");
    assert_eq!(
        muted_flags(&api_participant(&api, room, "bob").await),
        [
            ("microphone".into(), true, json!("alice")),
            ("camera".into(), false, Value::Null)
        ]
    );
    ts.stop().await;
}
