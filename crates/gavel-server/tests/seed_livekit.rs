//! Seed 002 (LiveKit, "Managing participants" with the RoomServiceClient): list and get
//! participants, update permissions (audience → speaker → audience: revoking publish unpublishes
//! tracks), update metadata, move a participant to another room, remove a participant (and keep
//! them out with a ban), mute / unmute a published track. Also the session-level rules around
//! identities: duplicate identity (replace or reject) and `max_participants`.

mod common;
use common::*;
use gavel_client::core::event::UnpublishReason;
use gavel_client::core::{ErrorCode, Event, LeaveReason, Source};
use gavel_client::RtcClient;
use serde_json::{json, Value};

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

fn track_of(p: &Value, source: &str) -> Value {
    p["tracks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["source"] == source)
        .cloned()
        .unwrap_or_else(|| panic!("no {source} track in {p}"))
}

/// `ListParticipants` and `GetParticipant`.
#[tokio::test]
async fn list_and_get_participants() {
    let ts = TestServer::start().await;
    let api = ts.admin();
    let alice = ts.join("lk", "alice", "participant").await;
    let bob = ts.join("lk", "bob", "host").await;
    alice.publish("microphone").await.unwrap();

    let list = api.list_participants("lk").await.unwrap();
    let ps = list["participants"].as_array().unwrap();
    assert_eq!(ps.len(), 2);
    assert_eq!(list["counts"], json!({"present": 2, "hidden": 0}));
    assert_eq!(list["pinned"], Value::Null);
    for (p, c) in ps.iter().zip([&alice, &bob]) {
        assert_eq!(p["identity"], c.identity());
        assert_eq!(p["sid"], c.sid());
    }
    let a = api_participant(&api, "lk", "alice").await;
    assert_eq!(a["identity"], "alice");
    assert_eq!(a["role"], "participant");
    assert_eq!(track_of(&a, "microphone")["muted"], false);
    assert!(a["joined_at"].as_u64().unwrap() <= now_ms());
    assert_eq!(api_participant(&api, "lk", "bob").await["role"], "host");

    assert_eq!(
        api_code(api.get_participant("lk", "nobody").await),
        ("not_found", 404)
    );
    assert_eq!(
        api_code(api.list_participants("no-such-room").await),
        ("not_found", 404)
    );
    ts.stop().await;
}

/// `UpdateParticipant` permissions: an audience member becomes a speaker and goes back to the
/// audience; revoking publish unpublishes the tracks. First through the API, then from a host
/// client with roles.
#[tokio::test]
async fn audience_to_speaker_and_back() {
    let ts = TestServer::start().await;
    let api = ts.admin();
    let host = ts.join("lk-stage", "host", "host").await;
    let alice = ts.join("lk-stage", "alice", "viewer").await;
    expect(&host, "participant_joined").await;
    assert_eq!(
        ws_code(alice.publish("microphone").await.map(Value::from)),
        "permission_denied"
    );

    // Promote: CanSubscribe, CanPublish, CanPublishData.
    let speaker = json!({"permissions": {
        "can_send": ["microphone", "camera", "screen_video", "screen_audio"],
        "can_receive": ["microphone", "camera", "screen_video", "screen_audio"],
        "can_publish_data": true}});
    let r = api
        .update_participant("lk-stage", "alice", speaker)
        .await
        .unwrap();
    assert_eq!(r["participant"]["permissions"]["can_publish_data"], true);
    match expect(&alice, "permissions_changed").await {
        Event::PermissionsChanged {
            role,
            permissions,
            by,
            ..
        } => {
            assert_eq!(role, "viewer", "a permissions patch keeps the role");
            assert_eq!(permissions.can_send.len(), 4);
            assert!(permissions.can_publish_data);
            assert_eq!(by.as_deref(), Some("admin"));
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(matches!(
        expect(&host, "participant_updated").await,
        Event::ParticipantUpdated { participant, changed, .. }
            if participant.identity == "alice" && changed == ["permissions"]
    ));
    let mic = alice.publish("microphone").await.unwrap();
    let cam = alice.publish("camera").await.unwrap();
    expect_kinds(&host, &["track_published", "track_published"]).await;

    // ...and later back to the audience: CanPublish false.
    api.update_participant(
        "lk-stage",
        "alice",
        json!({"permissions": {"can_send": [], "can_publish_data": true}}),
    )
    .await
    .unwrap();
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
                    assert_eq!(
                        (identity.as_str(), *reason),
                        ("alice", UnpublishReason::Permission)
                    );
                    track_sid.clone()
                }
                other => panic!("unexpected {other:?}"),
            })
            .collect();
        assert_eq!(gone, [mic.clone(), cam.clone()]);
    }
    expect(&alice, "permissions_changed").await;
    let a = api_participant(&api, "lk-stage", "alice").await;
    assert_eq!(a["tracks"], json!([]));
    assert_eq!(a["permissions"]["can_send"], json!([]));

    // The same from a host client, with roles.
    let r = host
        .request(json!({"type": "update_participant", "identity": "alice", "role": "participant"}))
        .await
        .unwrap();
    assert_eq!(r["participant"]["role"], "participant");
    assert!(matches!(
        expect(&alice, "permissions_changed").await,
        Event::PermissionsChanged { role, by: Some(by), .. } if role == "participant" && by == "host"
    ));
    let mic = alice.publish("microphone").await.unwrap();
    host.request(json!({"type": "update_participant", "identity": "alice", "role": "viewer"}))
        .await
        .unwrap();
    assert!(matches!(
        expect(&host, "track_unpublished").await,
        Event::TrackUnpublished { track_sid, reason: UnpublishReason::Permission, .. } if track_sid == mic
    ));
    let a = api_participant(&api, "lk-stage", "alice").await;
    assert_eq!(
        (a["role"].clone(), a["tracks"].clone()),
        (json!("viewer"), json!([]))
    );
    // A participant cannot promote itself.
    let r = alice
        .request(json!({"type": "update_participant", "identity": "alice", "role": "host"}))
        .await;
    assert_eq!(ws_code(r), "permission_denied");
    ts.stop().await;
}

/// `UpdateParticipant` metadata: connected clients are told (`ParticipantMetadataChanged`).
#[tokio::test]
async fn update_metadata() {
    let ts = TestServer::start().await;
    let api = ts.admin();
    let host = ts.join("lk-meta", "host", "host").await;
    let alice = ts.join("lk-meta", "alice", "participant").await;
    let data = json!({"some": "values"}).to_string();
    let r = api
        .update_participant("lk-meta", "alice", json!({"metadata": data}))
        .await
        .unwrap();
    assert_eq!(r["participant"]["metadata"], data.as_str());
    for c in [&host, &alice] {
        match expect(c, "participant_updated").await {
            Event::ParticipantUpdated {
                participant,
                changed,
                by,
                ..
            } => {
                assert_eq!(participant.metadata, data);
                assert_eq!(changed, ["metadata"]);
                assert_eq!(by.as_deref(), Some("admin"));
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    // Metadata is not a permission change.
    expect_none(&alice, "permissions_changed").await;
    assert_eq!(
        host.state().get("alice").unwrap().metadata,
        data,
        "the host's view follows"
    );

    // From a host client.
    host.request(
        json!({"type": "update_participant", "identity": "alice", "metadata": "{\"a\":1}"}),
    )
    .await
    .unwrap();
    assert!(matches!(
        expect(&alice, "participant_updated").await,
        Event::ParticipantUpdated { by: Some(by), .. } if by == "host"
    ));
    // Too large: refused, nothing changes.
    let big = "x".repeat(16 * 1024 + 1);
    assert_eq!(
        api_code(
            api.update_participant("lk-meta", "alice", json!({"metadata": big}))
                .await
        ),
        ("invalid_argument", 400)
    );
    expect_none(&alice, "participant_updated").await;
    assert_eq!(
        api_participant(&api, "lk-meta", "alice").await["metadata"],
        "{\"a\":1}"
    );
    ts.stop().await;
}

async fn expect_moved(c: &RtcClient, from: &str, room: &str, by: &str) -> Event {
    let ev = expect_kinds(c, &["moved", "joined"]).await;
    assert_eq!(
        ev[0],
        Event::Moved {
            from: from.into(),
            room: room.into(),
            by: Some(by.into())
        }
    );
    ev[1].clone()
}

/// `MoveParticipant`: the old room sees the participant leave (moved), the participant gets
/// `moved` then `joined` for the new room and keeps its identity, session, role, permissions and
/// tracks; its later requests act in the new room. A ban in the destination refuses the move.
#[tokio::test]
async fn move_participant_between_rooms() {
    let ts = TestServer::start().await;
    let api = ts.admin();
    api.create_room("lobby", json!({})).await.unwrap();
    // A child of the lobby: the lobby's host may move people into it.
    api.create_room("breakout", json!({ "parent": "lobby" }))
        .await
        .unwrap();
    let host = ts.join("lobby", "host", "host").await;
    let alice = ts.join("lobby", "alice", "host").await;
    let carol = ts.join("lobby", "carol", "participant").await;
    let dave = ts.join("breakout", "dave", "participant").await;
    let alice_mic = alice.publish("microphone").await.unwrap();
    carol.publish("microphone").await.unwrap();
    let dave_mic = dave.publish("microphone").await.unwrap();
    let before = api_participant(&api, "lobby", "alice").await;

    // Banned from the destination: refused, nothing moves.
    api.remove("breakout", "alice", Some(60)).await.unwrap();
    assert_eq!(
        api_code(api.move_participant("lobby", "alice", "breakout").await),
        ("banned", 403)
    );
    expect_none(&alice, "moved").await;
    assert_eq!(
        api_identities(&api, "lobby").await,
        ["alice", "carol", "host"]
    );
    api.lift_ban("breakout", "alice").await.unwrap();

    let r = api
        .move_participant("lobby", "alice", "breakout")
        .await
        .unwrap();
    assert_eq!(r["room"], "breakout");
    match expect_moved(&alice, "lobby", "breakout", "admin").await {
        Event::Joined {
            room,
            me,
            participants,
            ..
        } => {
            assert_eq!(room.name, "breakout");
            assert_eq!(me.identity, "alice");
            assert_eq!(me.sid, alice.sid());
            assert_eq!(me.role, "host");
            assert_eq!(
                serde_json::to_value(&me.permissions).unwrap(),
                before["permissions"]
            );
            assert_eq!(me.track(Source::Microphone).unwrap().sid, alice_mic);
            let ids: Vec<_> = participants.iter().map(|p| p.identity.as_str()).collect();
            assert_eq!(ids, ["dave"]);
        }
        other => panic!("unexpected {other:?}"),
    }
    assert_eq!(alice.state().room, "breakout");
    for c in [&host, &carol] {
        assert!(matches!(
            expect(c, "participant_left").await,
            Event::ParticipantLeft { identity, reason: LeaveReason::Moved, by: Some(by), sid }
                if identity == "alice" && by == "admin" && sid == alice.sid()
        ));
    }
    assert!(matches!(
        expect(&dave, "participant_joined").await,
        Event::ParticipantJoined { participant } if participant.identity == "alice" && participant.role == "host"
    ));
    assert_eq!(api_identities(&api, "lobby").await, ["carol", "host"]);
    assert_eq!(api_identities(&api, "breakout").await, ["alice", "dave"]);
    let after = api_participant(&api, "breakout", "alice").await;
    assert_eq!(after["sid"], before["sid"]);
    assert_eq!(after["role"], "host");
    assert_eq!(after["permissions"], before["permissions"]);

    // Alice's next requests act in the breakout room.
    let r = alice
        .request(json!({"type": "mute", "identity": "dave", "source": "microphone"}))
        .await
        .unwrap();
    assert_eq!(r["changed"], 1);
    assert!(matches!(
        expect(&dave, "track_muted").await,
        Event::TrackMuted { track_sid: Some(t), by: Some(by), .. } if t == dave_mic && by == "alice"
    ));
    let r = alice
        .request(json!({"type": "mute", "identity": "carol", "source": "microphone"}))
        .await;
    assert_eq!(ws_code(r), "not_found");
    expect_none(&carol, "track_muted").await;

    // A host client moves carol too.
    host.request(json!({"type": "move", "identity": "carol", "destination": "breakout"}))
        .await
        .unwrap();
    match expect_moved(&carol, "lobby", "breakout", "host").await {
        Event::Joined { participants, .. } => {
            let ids: Vec<_> = participants.iter().map(|p| p.identity.as_str()).collect();
            assert_eq!(ids, ["alice", "dave"]);
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(matches!(
        expect(&host, "participant_left").await,
        Event::ParticipantLeft { identity, reason: LeaveReason::Moved, by: Some(by), .. }
            if identity == "carol" && by == "host"
    ));
    for c in [&alice, &dave] {
        assert!(matches!(
            expect(c, "participant_joined").await,
            Event::ParticipantJoined { participant } if participant.identity == "carol"
        ));
    }
    assert_eq!(api_identities(&api, "lobby").await, ["host"]);
    assert_eq!(
        api_identities(&api, "breakout").await,
        ["alice", "carol", "dave"]
    );
    // A participant cannot move anyone.
    let r = carol
        .request(json!({"type": "move", "identity": "dave", "destination": "lobby"}))
        .await;
    assert_eq!(ws_code(r), "permission_denied");

    // When alice's connection drops, the breakout room (not the lobby) sees her go.
    alice.close().await;
    assert!(matches!(
        dave.wait_for(WAIT, |e| matches!(e, Event::ParticipantLeft { .. })).await.unwrap(),
        Event::ParticipantLeft { identity, reason: LeaveReason::Disconnected, .. } if identity == "alice"
    ));
    expect_none(&host, "participant_left").await;
    assert_eq!(api_identities(&api, "breakout").await, ["carol", "dave"]);
    ts.stop().await;
}

/// Moving into a room where the identity is already present replaces that session, and the
/// moved client's first messages are its `moved` and `joined`, not news of the replacement.
#[tokio::test]
async fn move_into_a_room_holding_the_same_identity_replaces_it() {
    let ts = TestServer::start().await;
    let api = ts.admin();
    let stale = ts.join("lk-mv-b", "alice", "participant").await;
    let dave = ts.join("lk-mv-b", "dave", "participant").await;
    let alice = ts.join("lk-mv-a", "alice", "participant").await;
    expect(&alice, "joined").await;
    api.move_participant("lk-mv-a", "alice", "lk-mv-b")
        .await
        .unwrap();
    let mut first = Vec::new();
    while first.len() < 2 {
        match alice.next(WAIT).await {
            Some(gavel_client::Message::Event { event, .. }) => first.push(event),
            other => panic!("alice: unexpected {other:?} after {first:?}"),
        }
    }
    assert_eq!(first[0].kind(), "moved", "{first:?}");
    match &first[1] {
        Event::Joined {
            me, participants, ..
        } => {
            assert_eq!(me.sid, alice.sid());
            let ids: Vec<_> = participants.iter().map(|p| p.identity.as_str()).collect();
            assert_eq!(ids, ["dave"]);
        }
        other => panic!("expected joined, got {other:?}"),
    }
    expect_none(&alice, "participant_left").await;
    expect_room_left(&stale, "replaced", None).await;
    let ev = expect_kinds(&dave, &["participant_left", "participant_joined"]).await;
    assert!(
        matches!(&ev[0], Event::ParticipantLeft { sid, reason: LeaveReason::Replaced, .. } if sid == stale.sid())
    );
    assert!(
        matches!(&ev[1], Event::ParticipantJoined { participant } if participant.sid == alice.sid())
    );
    assert_eq!(
        api_participant(&api, "lk-mv-b", "alice").await["sid"],
        alice.sid()
    );
    ts.stop().await;
}

/// `RemoveParticipant` does not invalidate the token: a plain removal can rejoin. A removal
/// with a ban keeps the identity out until the ban is lifted.
#[tokio::test]
async fn remove_with_ban_then_lift_and_rejoin() {
    let ts = TestServer::start().await;
    let api = ts.admin();
    api.create_room("lk-ban", json!({})).await.unwrap();
    let host = ts.join("lk-ban", "host", "host").await;
    let token = ts.token("lk-ban", "troll", "participant");
    let troll = RtcClient::connect(&ts.ws, &token).await.unwrap();
    expect(&host, "participant_joined").await;

    // Plain removal: the same token rejoins.
    api.remove("lk-ban", "troll", None).await.unwrap();
    expect_room_left(&troll, "kicked", Some("admin")).await;
    let troll = RtcClient::connect(&ts.ws, &token).await.unwrap();
    expect(&host, "participant_joined").await;

    // Removal with a ban.
    api.remove("lk-ban", "troll", Some(3600)).await.unwrap();
    expect_room_left(&troll, "kicked", Some("admin")).await;
    assert!(matches!(
        host.wait_for(WAIT, |e| matches!(e, Event::ParticipantLeft { .. })).await.unwrap(),
        Event::ParticipantLeft { identity, reason: LeaveReason::Kicked, by: Some(by), .. }
            if identity == "troll" && by == "admin"
    ));
    let refused = RtcClient::connect(&ts.ws, &token).await.err().unwrap();
    assert_eq!(refused.code, ErrorCode::Banned);
    let bans = api.list_bans("lk-ban").await.unwrap()["bans"].clone();
    assert_eq!(bans.as_array().unwrap().len(), 1);
    assert_eq!(bans[0]["identity"], "troll");
    assert_eq!(bans[0]["by"], "admin");
    assert!(bans[0]["until"].as_u64().unwrap() > now_ms() + 3500 * 1000);
    expect_none(&host, "participant_joined").await;
    assert_eq!(api_identities(&api, "lk-ban").await, ["host"]);

    // Lift it: the identity may come back.
    api.lift_ban("lk-ban", "troll").await.unwrap();
    assert_eq!(api.list_bans("lk-ban").await.unwrap()["bans"], json!([]));
    assert_eq!(
        api_code(api.lift_ban("lk-ban", "troll").await),
        ("not_found", 404)
    );
    let troll = RtcClient::connect(&ts.ws, &token).await.unwrap();
    expect(&host, "participant_joined").await;

    // A host client bans too.
    host.request(json!({"type": "kick", "identity": "troll", "ban_seconds": 60}))
        .await
        .unwrap();
    expect_room_left(&troll, "kicked", Some("host")).await;
    let bans = api.list_bans("lk-ban").await.unwrap()["bans"].clone();
    assert_eq!(bans[0]["by"], "host");
    assert_eq!(
        RtcClient::connect(&ts.ws, &token).await.err().unwrap().code,
        ErrorCode::Banned
    );
    let r = host
        .request(json!({"type": "lift_ban", "identity": "troll"}))
        .await;
    assert!(r.is_ok(), "{r:?}");
    RtcClient::connect(&ts.ws, &token).await.unwrap();

    // Removing someone absent without a ban is not_found.
    assert_eq!(
        api_code(api.remove("lk-ban", "nobody", None).await),
        ("not_found", 404)
    );
    ts.stop().await;
}

/// `MutePublishedTrack`: find the track with `GetParticipant`, mute it, unmute it. Remote unmute
/// needs the room to allow it (`remote_unmute`, LiveKit's `enable_remote_unmute`).
#[tokio::test]
async fn mute_and_unmute_a_published_track() {
    let ts = TestServer::start().await;
    let api = ts.admin();
    for (room, policy) in [("lk-mute-off", "off"), ("lk-mute-on", "force")] {
        api.create_room(room, json!({"remote_unmute": policy}))
            .await
            .unwrap();
        let alice = ts.join(room, "alice", "participant").await;
        alice.publish("microphone").await.unwrap();
        alice.publish("camera").await.unwrap();
        let p = api_participant(&api, room, "alice").await;
        let track_sid = track_of(&p, "camera")["sid"].as_str().unwrap().to_string();

        let r = api.mute(room, "alice", "camera", true).await.unwrap();
        assert_eq!(r["changed"], 1);
        match expect(&alice, "track_muted").await {
            Event::TrackMuted {
                identity,
                track_sid: t,
                source,
                muted,
                by,
                ..
            } => {
                assert_eq!(identity.as_deref(), Some("alice"));
                assert_eq!(t.as_deref(), Some(track_sid.as_str()));
                assert_eq!((source, muted), (Source::Camera, true));
                assert_eq!(by.as_deref(), Some("admin"));
            }
            other => panic!("unexpected {other:?}"),
        }
        let me = alice.state().me.unwrap();
        assert!(me.track(Source::Camera).unwrap().muted);
        assert!(!me.track(Source::Microphone).unwrap().muted);
        let p = api_participant(&api, room, "alice").await;
        assert_eq!(track_of(&p, "camera")["muted_by"], "admin");
        assert_eq!(track_of(&p, "microphone")["muted"], false);

        let unmute = api.mute(room, "alice", "camera", false).await;
        if policy == "off" {
            assert_eq!(api_code(unmute), ("failed_precondition", 412));
            expect_none(&alice, "track_muted").await;
            assert_eq!(
                track_of(&api_participant(&api, room, "alice").await, "camera")["muted"],
                true
            );
        } else {
            assert_eq!(unmute.unwrap()["changed"], 1);
            assert!(matches!(
                expect(&alice, "track_muted").await,
                Event::TrackMuted { track_sid: Some(t), muted: false, .. } if t == track_sid
            ));
            let cam = track_of(&api_participant(&api, room, "alice").await, "camera");
            assert_eq!(cam["muted"], false);
            assert!(cam.get("muted_by").is_none());
        }
    }
    ts.stop().await;
}

/// Joining with an identity already in the room: by default the new session replaces the old
/// one; a room with `duplicate_identity: "reject"` refuses the newcomer with `conflict`.
#[tokio::test]
async fn duplicate_identity_replace_or_reject() {
    let ts = TestServer::start().await;
    let api = ts.admin();
    let host = ts.join("lk-dup", "host", "host").await;
    let first = ts.join("lk-dup", "alice", "participant").await;
    first.publish("microphone").await.unwrap();
    expect(&host, "track_published").await;
    let second = ts.join("lk-dup", "alice", "participant").await;
    assert_ne!(first.sid(), second.sid());
    expect_room_left(&first, "replaced", None).await;
    let ev = expect_kinds(&host, &["participant_left", "participant_joined"]).await;
    assert!(
        matches!(&ev[0], Event::ParticipantLeft { identity, sid, reason: LeaveReason::Replaced, .. }
        if identity == "alice" && sid == first.sid())
    );
    assert!(matches!(&ev[1], Event::ParticipantJoined { participant }
        if participant.sid == second.sid() && participant.tracks.is_empty()));
    let a = api_participant(&api, "lk-dup", "alice").await;
    assert_eq!(a["sid"], second.sid());
    assert_eq!(a["tracks"], json!([]));
    assert_eq!(
        api.list_participants("lk-dup").await.unwrap()["counts"],
        json!({"present": 2, "hidden": 0})
    );

    api.create_room("lk-dup-rej", json!({"duplicate_identity": "reject"}))
        .await
        .unwrap();
    let first = ts.join("lk-dup-rej", "alice", "participant").await;
    let err = RtcClient::connect(&ts.ws, &ts.token("lk-dup-rej", "alice", "participant"))
        .await
        .err()
        .unwrap();
    assert_eq!(err.code, ErrorCode::Conflict);
    expect_none(&first, "room_left").await;
    assert_eq!(
        api_participant(&api, "lk-dup-rej", "alice").await["sid"],
        first.sid()
    );
    ts.stop().await;
}

/// `max_participants`: the next join is refused with `room_full`, as is a move into the room;
/// a slot frees up when someone leaves.
#[tokio::test]
async fn max_participants_room_full() {
    let ts = TestServer::start().await;
    let api = ts.admin();
    api.create_room("lk-full", json!({"max_participants": 2}))
        .await
        .unwrap();
    let a = ts.join("lk-full", "a", "participant").await;
    let b = ts.join("lk-full", "b", "participant").await;
    expect(&a, "participant_joined").await;
    let err = RtcClient::connect(&ts.ws, &ts.token("lk-full", "c", "participant"))
        .await
        .err()
        .unwrap();
    assert_eq!(err.code, ErrorCode::RoomFull);
    expect_none(&a, "participant_joined").await;

    let d = ts.join("lk-src", "d", "participant").await;
    assert_eq!(
        api_code(api.move_participant("lk-src", "d", "lk-full").await),
        ("room_full", 409)
    );
    expect_none(&d, "moved").await;
    assert_eq!(api_identities(&api, "lk-src").await, ["d"]);
    assert_eq!(api_identities(&api, "lk-full").await, ["a", "b"]);

    b.close().await;
    expect(&a, "participant_left").await;
    let c = ts.join("lk-full", "c", "participant").await;
    assert_eq!(c.state().counts.present, 2);
    assert_eq!(api_identities(&api, "lk-full").await, ["a", "c"]);
    ts.stop().await;
}
