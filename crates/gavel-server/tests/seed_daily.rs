//! Seed 001 (Daily, "participants"): listing participants and counts (present / hidden),
//! participant events, active speaker detection, `update_remote_participants` (setAudio /
//! setVideo / eject, batched), `eject_remote_participants`, `update_permissions` (canSend), the
//! "mute all except local" moderator and speaking-time analytics.

mod common;
use common::*;
use gavel_client::core::{Counts, Event, LeaveReason, Source};
use gavel_client::RtcClient;
use serde_json::{json, Value};
use std::time::Duration;

fn track<'a>(p: &'a Value, source: &str) -> &'a Value {
    p["tracks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["source"] == source)
        .unwrap_or_else(|| panic!("no {source} track in {p}"))
}

/// The next `track_muted` about `identity`'s own tracks (others' are skipped).
async fn muted_of(client: &RtcClient, identity: &str) -> Event {
    client
        .wait_for(
            WAIT,
            |e| matches!(e, Event::TrackMuted { identity: Some(i), .. } if i == identity),
        )
        .await
        .unwrap_or_else(|e| panic!("track_muted of {identity}: {e}"))
}

/// No `track_muted` about `identity`'s tracks within QUIET.
async fn no_mute_of(client: &RtcClient, identity: &str) {
    let got = client
        .wait_for(
            QUIET,
            |e| matches!(e, Event::TrackMuted { identity: Some(i), .. } if i == identity),
        )
        .await;
    assert!(got.is_err(), "unexpected {got:?}");
}

async fn counts_become(client: &RtcClient, present: u32, hidden: u32) {
    client
        .wait_for(WAIT, |e| {
            matches!(e, Event::CountsUpdated { present: p, hidden: h, .. } if *p == present && *h == hidden)
        })
        .await
        .unwrap_or_else(|e| panic!("counts {present}/{hidden}: {e}"));
}

/// `participants()` and `participant_counts()` with a hidden observer: it is counted as hidden
/// and appears in no participant's list, event or batch.
#[tokio::test]
async fn participants_and_counts_with_a_hidden_observer() {
    let ts = TestServer::start().await;
    let api = ts.admin();
    api.create_room("daily", json!({})).await.unwrap();
    let host = ts.join("daily", "host", "host").await;
    let alice = ts.join("daily", "alice", "participant").await;
    expect(&host, "participant_joined").await;
    counts_become(&host, 2, 0).await;

    let observer = ts.join("daily", "observer", "observer").await;
    let st = observer.state();
    assert_eq!(
        st.counts,
        Counts {
            present: 2,
            hidden: 1,
            waiting: 0,
        }
    );
    assert!(st.me.as_ref().unwrap().permissions.hidden);
    assert_eq!(
        st.participants.keys().collect::<Vec<_>>(),
        ["alice", "host"],
        "the observer sees everyone"
    );
    counts_become(&host, 2, 1).await;
    counts_become(&alice, 2, 1).await;
    expect_none(&host, "participant_joined").await;
    assert_eq!(
        host.state().participants.keys().collect::<Vec<_>>(),
        ["alice"]
    );
    assert_eq!(
        host.state().counts,
        Counts {
            present: 2,
            hidden: 1,
            waiting: 0,
        }
    );

    // The server API sees the observer too, counted as hidden.
    let list = api.list_participants("daily").await.unwrap();
    assert_eq!(list["counts"], json!({"present": 2, "hidden": 1}));
    assert_eq!(
        api_identities(&api, "daily").await,
        ["alice", "host", "observer"]
    );
    // Seed 001's participant data: name, owner (role), canSend.
    let a = api_participant(&api, "daily", "alice").await;
    assert_eq!(a["name"], "alice");
    assert_eq!(a["role"], "participant");
    assert_eq!(
        a["permissions"]["can_send"],
        json!(["microphone", "camera", "screen_video", "screen_audio"])
    );
    assert_eq!(a["permissions"]["host"], json!([]));
    assert_eq!(
        api_participant(&api, "daily", "host").await["permissions"]["host"]
            .as_array()
            .unwrap()
            .len(),
        gavel_client::core::HostControl::ALL.len()
    );

    // The observer receives others' media events.
    alice.publish("microphone").await.unwrap();
    expect(&observer, "track_published").await;
    // To participants the observer does not exist: not a target, not in a `*` batch.
    let r = host
        .request(json!({"type": "mute", "identity": "observer", "source": "microphone"}))
        .await;
    assert_eq!(ws_code(r), "not_found");
    let r = host
        .request(json!({"type": "batch_update", "updates": {"*": {"set_video": false}}}))
        .await
        .unwrap();
    assert_eq!(r["results"], json!({"alice": {"ok": true}}));

    // It leaves: counts change, nobody sees it leave.
    observer.send_raw(r#"{"type":"leave"}"#).await.unwrap();
    expect_room_left(&observer, "left", None).await;
    counts_become(&host, 2, 0).await;
    expect_none(&host, "participant_left").await;
    assert_eq!(
        api.list_participants("daily").await.unwrap()["counts"],
        json!({"present": 2, "hidden": 0})
    );
    ts.stop().await;
}

/// The seed's `ParticipantTracker`: joined, updated, left (with its reason), counts updated.
#[tokio::test]
async fn participant_tracker_events() {
    let ts = TestServer::start().await;
    let api = ts.admin();
    let host = ts.join("daily-ev", "host", "host").await;
    let bob = ts.join("daily-ev", "bob", "participant").await;
    match expect(&host, "participant_joined").await {
        Event::ParticipantJoined { participant } => {
            assert_eq!(participant.identity, "bob");
            assert_eq!(participant.name, "bob");
            assert_eq!(participant.sid, bob.sid());
        }
        other => panic!("unexpected {other:?}"),
    }
    counts_become(&host, 2, 0).await;

    // Updated: bob renames himself; the backend sets his metadata.
    bob.request(json!({"type": "update_self", "name": "Bob B."}))
        .await
        .unwrap();
    match expect(&host, "participant_updated").await {
        Event::ParticipantUpdated {
            participant,
            changed,
            by,
            ..
        } => {
            assert_eq!(participant.name, "Bob B.");
            assert_eq!(changed, ["name"]);
            assert_eq!(by, None);
        }
        other => panic!("unexpected {other:?}"),
    }
    expect(&bob, "participant_updated").await;
    api.update_participant("daily-ev", "bob", json!({"metadata": "{\"hand\":true}"}))
        .await
        .unwrap();
    for c in [&host, &bob] {
        match expect(c, "participant_updated").await {
            Event::ParticipantUpdated {
                participant,
                changed,
                by,
                ..
            } => {
                assert_eq!(participant.metadata, "{\"hand\":true}");
                assert_eq!(changed, ["metadata"]);
                assert_eq!(by.as_deref(), Some("admin"));
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    // The camera state of the tracker's view follows track events.
    let cam = bob.publish("camera").await.unwrap();
    expect(&host, "track_published").await;
    assert_eq!(
        host.state()
            .get("bob")
            .unwrap()
            .track(Source::Camera)
            .unwrap()
            .sid,
        cam
    );

    // Left, with reasons: leaving on purpose, and a dropped connection.
    let carol = ts.join("daily-ev", "carol", "participant").await;
    expect(&host, "participant_joined").await;
    bob.send_raw(r#"{"type":"leave"}"#).await.unwrap();
    match expect(&host, "participant_left").await {
        Event::ParticipantLeft {
            identity,
            reason,
            by,
            sid,
        } => {
            assert_eq!(
                (identity.as_str(), reason, by),
                ("bob", LeaveReason::Left, None)
            );
            assert_eq!(sid, bob.sid());
        }
        other => panic!("unexpected {other:?}"),
    }
    counts_become(&host, 2, 0).await;
    carol.close().await;
    assert!(matches!(
        expect(&host, "participant_left").await,
        Event::ParticipantLeft { identity, reason: LeaveReason::Disconnected, .. } if identity == "carol"
    ));
    counts_become(&host, 1, 0).await;
    assert_eq!(api_identities(&api, "daily-ev").await, ["host"]);
    ts.stop().await;
}

/// About a second of loud speech: one RFC 6464 level every 50 ms.
async fn talk(c: &RtcClient) {
    for _ in 0..20 {
        c.request(json!({"type": "audio_level", "level": 10}))
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Active speaker detection and participant analytics: levels from a live microphone make an
/// active speaker and accumulate speaking time; levels from a muted microphone count for
/// nothing. When the active speaker leaves there is no active speaker.
#[tokio::test]
async fn active_speaker_and_speaking_time_from_audio_levels() {
    let ts = TestServer::start().await;
    let api = ts.admin();
    let host = ts.join("daily-spk", "host", "host").await;
    let alice = ts.join("daily-spk", "alice", "participant").await;
    let bob = ts.join("daily-spk", "bob", "participant").await;
    alice.publish("microphone").await.unwrap();
    bob.request(json!({"type": "publish_track", "source": "microphone", "muted": true}))
        .await
        .unwrap();
    // A level outside RFC 6464's range is refused.
    let r = alice
        .request(json!({"type": "audio_level", "level": 200}))
        .await;
    assert_eq!(ws_code(r), "invalid_argument");

    // Both talk loudly for about a second, one level every 50 ms.
    tokio::join!(talk(&alice), talk(&bob));

    // The host sees alice become the active speaker (list first, then Daily's single speaker).
    let ev = expect_kinds(&host, &["active_speakers", "active_speaker_changed"]).await;
    match &ev[0] {
        Event::ActiveSpeakers { speakers } => {
            let ids: Vec<_> = speakers.iter().map(|s| s.identity.as_str()).collect();
            assert_eq!(ids, ["alice"]);
            assert!(speakers[0].level > 0.0 && speakers[0].level <= 1.0);
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(matches!(&ev[1], Event::ActiveSpeakerChanged { identity: Some(i) } if i == "alice"));
    assert_eq!(host.state().active_speaker.as_deref(), Some("alice"));
    // Silence ends the list; bob is never in it.
    let mut saw_bob = false;
    host.wait_for(WAIT, |e| match e {
        Event::ActiveSpeakers { speakers } => {
            saw_bob |= speakers.iter().any(|s| s.identity == "bob");
            speakers.is_empty()
        }
        _ => false,
    })
    .await
    .expect("the speaker list empties after silence");
    assert!(!saw_bob, "a muted microphone's levels made bob a speaker");
    // Daily keeps the last active speaker through silence.
    assert_eq!(host.state().active_speaker.as_deref(), Some("alice"));

    // Analytics: speaking time on the participant, in whole detection windows.
    let a = api_participant(&api, "daily-spk", "alice").await;
    let spoke = a["speaking_time_ms"].as_u64().unwrap();
    assert!(spoke > 0 && spoke % 400 == 0, "speaking_time_ms = {spoke}");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    let present_for = now - a["joined_at"].as_u64().unwrap();
    assert!(
        spoke <= present_for + 400,
        "spoke {spoke} ms in {present_for} ms"
    );
    let b = api_participant(&api, "daily-spk", "bob").await;
    assert_eq!(b["speaking_time_ms"], 0);

    // The active speaker leaves: "No active speaker".
    alice.close().await;
    let e = expect(&host, "active_speaker_changed").await;
    assert_eq!(e, Event::ActiveSpeakerChanged { identity: None });
    assert_eq!(host.state().active_speaker, None);
    ts.stop().await;
}

/// `update_remote_participants`: one participant's setAudio, then the seed's "multiple
/// participant updates" (participant-1 off, participant-2 on), each entry checked whole.
#[tokio::test]
async fn update_remote_participants_single_and_multiple() {
    let ts = TestServer::start().await;
    let api = ts.admin();
    api.create_room("daily-upd", json!({"remote_unmute": "force"}))
        .await
        .unwrap();
    let host = ts.join("daily-upd", "host", "host").await;
    let p1 = ts.join("daily-upd", "p1", "participant").await;
    let p2 = ts.join("daily-upd", "p2", "participant").await;
    p1.publish("microphone").await.unwrap();
    p1.publish("camera").await.unwrap();
    for s in ["microphone", "camera"] {
        p2.request(json!({"type": "publish_track", "source": s, "muted": true}))
            .await
            .unwrap();
    }

    // Mute a specific participant's microphone.
    let r = host
        .request(json!({"type": "batch_update", "updates": {"p1": {"set_audio": false}}}))
        .await
        .unwrap();
    assert_eq!(r["results"], json!({"p1": {"ok": true}}));
    assert!(matches!(
        muted_of(&p1, "p1").await,
        Event::TrackMuted { source: Source::Microphone, muted: true, by: Some(by), .. } if by == "host"
    ));

    // Multiple participants at once.
    let r = host
        .request(json!({"type": "batch_update", "updates": {
            "p1": {"set_audio": false, "set_video": false},
            "p2": {"set_audio": true, "set_video": true},
        }}))
        .await
        .unwrap();
    assert_eq!(
        r["results"],
        json!({"p1": {"ok": true}, "p2": {"ok": true}})
    );
    // p1's microphone was already off: only the camera changes.
    assert!(matches!(
        muted_of(&p1, "p1").await,
        Event::TrackMuted {
            source: Source::Camera,
            muted: true,
            ..
        }
    ));
    let ev = [muted_of(&p2, "p2").await, muted_of(&p2, "p2").await];
    for (e, s) in ev.iter().zip([Source::Microphone, Source::Camera]) {
        assert!(
            matches!(e, Event::TrackMuted { source, muted: false, by: Some(by), .. } if *source == s && by == "host")
        );
    }
    let st = api.list_participants("daily-upd").await.unwrap();
    for p in st["participants"].as_array().unwrap() {
        match p["identity"].as_str().unwrap() {
            "p1" => {
                assert_eq!(track(p, "microphone")["muted"], true);
                assert_eq!(track(p, "camera")["muted_by"], "host");
            }
            "p2" => {
                assert_eq!(track(p, "microphone")["muted"], false);
                assert_eq!(track(p, "camera")["muted"], false);
            }
            _ => {}
        }
    }

    // An entry is checked whole: a bad role refuses p2's whole entry, p1's still applies.
    let r = api
        .batch_update(
            "daily-upd",
            json!({"p2": {"set_audio": false, "role": "emperor"}, "p1": {"set_video": true}}),
        )
        .await
        .unwrap();
    assert_eq!(r["results"]["p2"]["ok"], false);
    assert_eq!(r["results"]["p2"]["error"]["code"], "invalid_argument");
    assert_eq!(r["results"]["p1"], json!({"ok": true}));
    assert!(matches!(
        muted_of(&p1, "p1").await,
        Event::TrackMuted {
            source: Source::Camera,
            muted: false,
            ..
        }
    ));
    no_mute_of(&p2, "p2").await;
    let p = api_participant(&api, "daily-upd", "p2").await;
    assert_eq!(track(&p, "microphone")["muted"], false);
    assert_eq!(p["role"], "participant");

    // A participant without the controls is refused.
    let r = p1
        .request(json!({"type": "batch_update", "updates": {"p2": {"set_audio": false}}}))
        .await;
    assert_eq!(ws_code(r), "permission_denied");
    no_mute_of(&p2, "p2").await;
    ts.stop().await;
}

/// `setAudio: true` under the default `ask` policy is a consent request; the result says which.
#[tokio::test]
async fn update_remote_participants_unmute_asks_by_default() {
    let ts = TestServer::start().await;
    let api = ts.admin();
    let p3 = ts.join("daily-ask", "p3", "participant").await;
    p3.request(json!({"type": "publish_track", "source": "microphone", "muted": true}))
        .await
        .unwrap();
    let r = api
        .batch_update("daily-ask", json!({"p3": {"set_audio": true}}))
        .await
        .unwrap();
    assert_eq!(r["results"]["p3"]["ok"], true);
    let id = r["results"]["p3"]["request_ids"][0]
        .as_str()
        .unwrap()
        .to_string();
    match expect(&p3, "media_requested").await {
        Event::MediaRequested {
            request_id,
            source,
            from,
            ..
        } => assert_eq!(
            (request_id, source, from.as_str()),
            (id, Source::Microphone, "admin")
        ),
        other => panic!("unexpected {other:?}"),
    }
    expect_none(&p3, "track_muted").await;
    ts.stop().await;
}

/// The seed's `MeetingModerator.mute_all()`: mute everyone except the local participant, first
/// as the seed builds it (one entry per remote participant), then with `*`.
#[tokio::test]
async fn moderator_mutes_all_except_local() {
    let ts = TestServer::start().await;
    let api = ts.admin();
    let host = ts.join("daily-mod", "host", "host").await;
    let a = ts.join("daily-mod", "a", "participant").await;
    let b = ts.join("daily-mod", "b", "participant").await;
    host.publish("microphone").await.unwrap();
    let a_mic = a.publish("microphone").await.unwrap();
    let b_mic = b.publish("microphone").await.unwrap();
    host.wait_for(WAIT, |_| {
        host.state()
            .participants
            .values()
            .all(|p| !p.tracks.is_empty())
    })
    .await
    .unwrap();

    // As in the seed: one {"setAudio": false} per participant that is not local.
    let state = host.state();
    let updates: serde_json::Map<String, Value> = state
        .participants
        .keys()
        .map(|id| (id.clone(), json!({"set_audio": false})))
        .collect();
    let r = host
        .request(json!({"type": "batch_update", "updates": updates}))
        .await
        .unwrap();
    assert_eq!(r["results"], json!({"a": {"ok": true}, "b": {"ok": true}}));
    for c in [&host, &a, &b] {
        let ev = expect_kinds(c, &["track_muted", "track_muted"]).await;
        let sids: Vec<_> = ev
            .iter()
            .map(|e| match e {
                Event::TrackMuted {
                    track_sid, by, all, ..
                } => {
                    assert_eq!((by.as_deref(), *all), (Some("host"), false));
                    track_sid.clone().unwrap()
                }
                other => panic!("unexpected {other:?}"),
            })
            .collect();
        assert_eq!(sids, [a_mic.clone(), b_mic.clone()]);
    }

    // Unmute themselves, then the same with `*`: one summary event for everyone.
    for (c, sid) in [(&a, &a_mic), (&b, &b_mic)] {
        c.request(json!({"type": "set_track_muted", "track_sid": sid, "muted": false}))
            .await
            .unwrap();
    }
    for c in [&host, &a, &b] {
        let ev = expect_kinds(c, &["track_muted", "track_muted"]).await;
        assert!(ev.iter().all(|e| matches!(
            e,
            Event::TrackMuted {
                muted: false,
                by: None,
                ..
            }
        )));
    }
    let r = host
        .request(json!({"type": "batch_update", "updates": {"*": {"set_audio": false}}}))
        .await
        .unwrap();
    assert_eq!(r["results"], json!({"a": {"ok": true}, "b": {"ok": true}}));
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
                except: vec!["host".into()],
            }
        );
        expect_none(c, "track_muted").await;
        let st = c.state();
        assert!(!st.get("host").unwrap().tracks[0].muted);
        assert!(st.get("a").unwrap().tracks[0].muted);
        assert!(st.get("b").unwrap().tracks[0].muted);
    }
    let list = api.list_participants("daily-mod").await.unwrap();
    for p in list["participants"].as_array().unwrap() {
        let mic = track(p, "microphone");
        if p["identity"] == "host" {
            assert_eq!(mic["muted"], false);
        } else {
            assert_eq!(
                (mic["muted"].clone(), mic["muted_by"].clone()),
                (json!(true), json!("host"))
            );
        }
    }
    ts.stop().await;
}

/// A server-API batch mixing named entries, an unknown identity, an eject and `*`.
#[tokio::test]
async fn batch_with_wildcard_gives_per_identity_results() {
    let ts = TestServer::start().await;
    let api = ts.admin();
    let room = "daily-batch";
    let host = ts.join(room, "host", "host").await;
    let alice = ts.join(room, "alice", "participant").await;
    let bob = ts.join(room, "bob", "participant").await;
    let carol = ts.join(room, "carol", "participant").await;
    let _observer = ts.join(room, "observer", "observer").await;
    for c in [&host, &alice, &bob, &carol] {
        c.publish("microphone").await.unwrap();
        c.publish("camera").await.unwrap();
    }
    let r = api
        .batch_update(
            room,
            json!({
                "alice": {"set_video": false},
                "ghost": {"set_audio": false},
                "carol": {"eject": true},
                "*": {"set_audio": false},
            }),
        )
        .await
        .unwrap();
    let results = r["results"].as_object().unwrap();
    let mut keys: Vec<_> = results.keys().cloned().collect();
    keys.sort();
    // The server API sees the hidden observer, so `*` covers it too.
    assert_eq!(keys, ["alice", "bob", "carol", "ghost", "host", "observer"]);
    for k in ["alice", "bob", "carol", "host", "observer"] {
        assert_eq!(results[k], json!({"ok": true}), "{k}");
    }
    assert_eq!(results["ghost"]["ok"], false);
    assert_eq!(results["ghost"]["error"]["code"], "not_found");

    expect_room_left(&carol, "kicked", Some("admin")).await;
    for c in [&host, &alice, &bob] {
        let ev = expect_kinds(c, &["track_muted", "participant_left", "track_muted"]).await;
        assert!(
            matches!(&ev[0], Event::TrackMuted { identity: Some(i), source: Source::Camera, muted: true, .. } if i == "alice")
        );
        assert!(
            matches!(&ev[1], Event::ParticipantLeft { identity, reason: LeaveReason::Kicked, by: Some(by), .. } if identity == "carol" && by == "admin")
        );
        match &ev[2] {
            Event::TrackMuted {
                all,
                except,
                by,
                source,
                ..
            } => {
                assert!(*all);
                assert_eq!(*source, Source::Microphone);
                assert_eq!(except, &["alice".to_string()]);
                assert_eq!(by.as_deref(), Some("admin"));
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    let list = api.list_participants(room).await.unwrap();
    assert_eq!(
        api_identities(&api, room).await,
        ["alice", "bob", "host", "observer"]
    );
    for p in list["participants"].as_array().unwrap() {
        if p["identity"] == "observer" {
            continue;
        }
        let (mic, cam) = (track(p, "microphone"), track(p, "camera"));
        if p["identity"] == "alice" {
            assert_eq!(mic["muted"], false, "alice was listed: `*` skips her");
            assert_eq!(cam["muted_by"], "admin");
        } else {
            assert_eq!(mic["muted_by"], "admin");
            assert_eq!(cam["muted"], false);
        }
    }
    ts.stop().await;
}

/// `eject_remote_participants(ids)`: only owners may; each ejected participant is told, the
/// others see it leave.
#[tokio::test]
async fn eject_remote_participants() {
    let ts = TestServer::start().await;
    let api = ts.admin();
    let room = "daily-eject";
    let host = ts.join(room, "host", "host").await;
    let p1 = ts.join(room, "p1", "participant").await;
    let p2 = ts.join(room, "p2", "participant").await;
    let p3 = ts.join(room, "p3", "participant").await;

    // Not an owner: refused, whichever way it is asked.
    let r = p3
        .request(json!({"type": "kick", "identities": ["p1"]}))
        .await;
    assert_eq!(ws_code(r), "permission_denied");
    let r = p3
        .request(json!({"type": "batch_update", "updates": {"p1": {"eject": true}}}))
        .await;
    assert_eq!(ws_code(r), "permission_denied");
    expect_none(&p1, "room_left").await;

    let r = host
        .request(json!({"type": "kick", "identities": ["p1", "p2", "ghost"]}))
        .await
        .unwrap();
    assert_eq!(r["results"]["p1"], json!({"ok": true}));
    assert_eq!(r["results"]["p2"], json!({"ok": true}));
    assert_eq!(r["results"]["ghost"]["error"]["code"], "not_found");
    expect_room_left(&p1, "kicked", Some("host")).await;
    expect_room_left(&p2, "kicked", Some("host")).await;
    for c in [&host, &p3] {
        let ev = expect_kinds(c, &["participant_left", "participant_left"]).await;
        let left: Vec<_> = ev
            .iter()
            .map(|e| match e {
                Event::ParticipantLeft {
                    identity,
                    reason,
                    by,
                    ..
                } => {
                    assert_eq!(
                        (*reason, by.as_deref()),
                        (LeaveReason::Kicked, Some("host"))
                    );
                    identity.clone()
                }
                other => panic!("unexpected {other:?}"),
            })
            .collect();
        assert_eq!(left, ["p1", "p2"]);
        counts_become(c, 2, 0).await;
    }
    assert_eq!(api_identities(&api, room).await, ["host", "p3"]);

    // The backend ejects through the server API.
    let r = api.remove_many(room, &["p3"], None).await.unwrap();
    assert_eq!(r["results"]["p3"], json!({"ok": true}));
    expect_room_left(&p3, "kicked", Some("admin")).await;
    assert_eq!(api_identities(&api, room).await, ["host"]);
    ts.stop().await;
}

/// `update_permissions` with `canSend` (screen sharing off), and the seed's
/// `PermissionManager` restricting everyone to view-only and opening up again.
#[tokio::test]
async fn update_permissions_can_send() {
    let ts = TestServer::start().await;
    let api = ts.admin();
    let room = "daily-perm";
    let host = ts.join(room, "host", "host").await;
    let alice = ts.join(room, "alice", "participant").await;
    host.publish("microphone").await.unwrap();
    alice.publish("microphone").await.unwrap();
    alice.publish("camera").await.unwrap();
    let screen = alice.publish("screen_video").await.unwrap();

    // canSend: ["camera", "microphone"] — disable screen sharing.
    let r = api
        .update_participant(
            room,
            "alice",
            json!({"permissions": {"can_send": ["camera", "microphone"]}}),
        )
        .await
        .unwrap();
    assert_eq!(
        r["participant"]["permissions"]["can_send"],
        json!(["microphone", "camera"])
    );
    let ev = expect_kinds(
        &alice,
        &[
            "track_unpublished",
            "participant_updated",
            "permissions_changed",
        ],
    )
    .await;
    assert!(
        matches!(&ev[0], Event::TrackUnpublished { track_sid, source: Source::ScreenVideo, reason, .. }
        if *track_sid == screen && serde_json::to_value(reason).unwrap() == "permission")
    );
    assert!(
        matches!(&ev[1], Event::ParticipantUpdated { changed, by: Some(by), .. } if changed == &["permissions"] && by == "admin")
    );
    let ev = expect_kinds(&host, &["track_unpublished", "participant_updated"]).await;
    assert!(matches!(&ev[0], Event::TrackUnpublished { identity, .. } if identity == "alice"));
    expect_none(&host, "permissions_changed").await;
    assert_eq!(
        ws_code(alice.publish("screen_video").await.map(Value::from)),
        "permission_denied"
    );

    // PermissionManager.restrict_permissions(): canSend [] for everyone but the local host.
    let r = host
        .request(
            json!({"type": "batch_update", "updates": {"*": {"permissions": {"can_send": []}}}}),
        )
        .await
        .unwrap();
    assert_eq!(r["results"], json!({"alice": {"ok": true}}));
    let ev = expect_kinds(
        &alice,
        &[
            "track_unpublished",
            "track_unpublished",
            "permissions_changed",
        ],
    )
    .await;
    assert!(
        matches!(&ev[2], Event::PermissionsChanged { permissions, by: Some(by), .. }
        if permissions.can_send.is_empty() && by == "host")
    );
    let a = api_participant(&api, room, "alice").await;
    assert_eq!(a["tracks"], json!([]));
    assert_eq!(a["permissions"]["can_send"], json!([]));
    assert_eq!(
        api_participant(&api, room, "host").await["tracks"]
            .as_array()
            .unwrap()
            .len(),
        1,
        "the local host keeps its microphone"
    );
    assert_eq!(
        ws_code(alice.publish("microphone").await.map(Value::from)),
        "permission_denied"
    );

    // open_permissions(): everything again.
    host.request(
        json!({"type": "batch_update", "updates": {"*": {"permissions": {
        "can_send": ["camera", "microphone", "screen_video", "screen_audio"]}}}}),
    )
    .await
    .unwrap();
    expect(&alice, "permissions_changed").await;
    alice.publish("screen_video").await.unwrap();

    // canAdmin is for owners: a participant cannot change permissions.
    let r = alice
        .request(json!({"type": "update_participant", "identity": "host",
            "permissions": {"can_send": []}}))
        .await;
    assert_eq!(ws_code(r), "permission_denied");
    ts.stop().await;
}
