//! Batch updates: per-identity results, the `*` wildcard, eject and ban, role changes, denials.

use super::*;
// `room::membership` (for `MAX_BAN_SECONDS`), not the test module of that name.
use crate::room::membership;

/// Host `h`, participants `a`, `b`, `c` with live microphones and cameras, observer `o`.
fn batch_room(settings: RoomSettings, roles: Roles) -> Harness {
    let mut h = Harness::with(settings, roles);
    h.join("h", HOST);
    h.publish("h", Source::Microphone, false);
    for who in ["a", "b", "c"] {
        h.join(who, PARTICIPANT);
        h.publish(who, Source::Microphone, false);
        h.publish(who, Source::Camera, false);
    }
    h.join("o", OBSERVER);
    h.take();
    h
}

#[test]
fn batch_update_reports_per_identity_results() {
    let mut h = batch_room(RoomSettings::default(), Roles::default());
    let a_mic = h.track("a", Source::Microphone);
    let b_cam = h.track("b", Source::Camera);
    let r = h.act(
        "h",
        batch(vec![
            ("a", audio_off()),
            (
                "b",
                BatchEntry {
                    set_video: Some(false),
                    ..Default::default()
                },
            ),
            ("c", BatchEntry::default()),
            ("ghost", audio_off()),
            ("o", audio_off()),
        ]),
    );
    let res = results(r);
    assert_eq!(result_code(&res, "a"), None);
    assert_eq!(result_code(&res, "b"), None);
    assert_eq!(result_code(&res, "c"), Some(ErrorCode::InvalidArgument));
    assert_eq!(result_code(&res, "ghost"), Some(ErrorCode::NotFound));
    // A client cannot see hidden participants.
    assert_eq!(result_code(&res, "o"), Some(ErrorCode::NotFound));
    assert_eq!(res.len(), 5);
    let got = h.take();
    let expected = [
        track_muted("a", &a_mic, true, Some("h")),
        track_muted("b", &b_cam, true, Some("h")),
    ];
    for who in ["h", "a", "b", "c", "o"] {
        assert_eq!(got.to(who), &expected, "{who}");
    }
    assert_eq!(got.host_actions(), [("batch_update", Ok(()))]);
    assert!(!h.track("c", Source::Microphone).muted);
}

#[test]
fn batch_update_wildcard_applies_to_everyone_not_listed() {
    let mut h = batch_room(RoomSettings::default(), Roles::default());
    let r = h.act(
        "h",
        batch(vec![
            (
                "*",
                BatchEntry {
                    metadata: Some("quiet".into()),
                    ..Default::default()
                },
            ),
            (
                "a",
                BatchEntry {
                    metadata: Some("loud".into()),
                    ..Default::default()
                },
            ),
        ]),
    );
    let res = results(r);
    // Not the sender, not the hidden observer.
    assert_eq!(
        res.keys().map(String::as_str).collect::<Vec<_>>(),
        ["a", "b", "c"]
    );
    assert!(res.values().all(|r| r.ok));
    assert_eq!(h.info("a").metadata, "loud");
    assert_eq!(h.info("b").metadata, "quiet");
    assert_eq!(h.info("c").metadata, "quiet");
    assert_eq!(h.info("h").metadata, "");
    assert_eq!(h.info("o").metadata, "");
    let got = h.take();
    assert_eq!(
        got.kinds("h"),
        [
            "participant_updated",
            "participant_updated",
            "participant_updated"
        ]
    );
    // The server's wildcard reaches hidden participants too, and the server is no participant.
    let res = results(h.server(batch(vec![(
        "*",
        BatchEntry {
            metadata: Some("all".into()),
            ..Default::default()
        },
    )])));
    assert_eq!(res.len(), 5);
    assert_eq!(h.info("o").metadata, "all");
    let got = h.take();
    assert_eq!(got.to("o").len(), 5, "4 visible updates and its own");
    assert_eq!(got.to("a").len(), 4, "the observer's update stays with it");
}

#[test]
fn batch_update_wildcard_mute_is_one_summary_event() {
    let mut h = batch_room(RoomSettings::default(), Roles::default());
    let r = h.act(
        "h",
        batch(vec![
            (
                "a",
                BatchEntry {
                    set_video: Some(false),
                    ..Default::default()
                },
            ),
            ("*", audio_off()),
        ]),
    );
    let res = results(r);
    assert_eq!(
        res.keys().map(String::as_str).collect::<Vec<_>>(),
        ["a", "b", "c"]
    );
    assert!(res.values().all(|r| r.ok));
    let got = h.take();
    let a_cam = h.track("a", Source::Camera);
    for who in ["h", "a", "b", "c", "o"] {
        assert_eq!(
            got.to(who),
            &[
                track_muted("a", &a_cam, true, Some("h")),
                mute_all_event(Source::Microphone, "h", &["a", "h"])
            ],
            "{who}"
        );
    }
    // Listed and sender untouched; everyone else muted.
    assert!(!h.track("a", Source::Microphone).muted);
    assert!(!h.track("h", Source::Microphone).muted);
    assert!(h.track("b", Source::Microphone).muted);
    assert!(h.track("c", Source::Microphone).muted);
}

#[test]
fn batch_update_eject_and_ban() {
    let mut h = batch_room(RoomSettings::default(), Roles::default());
    let a_left = left(&h, "a", LeaveReason::Kicked, Some("h"));
    let res = results(h.act(
        "h",
        batch(vec![
            (
                "a",
                BatchEntry {
                    eject: true,
                    ban_seconds: Some(60),
                    ..Default::default()
                },
            ),
            (
                "b",
                BatchEntry {
                    ban_seconds: Some(60),
                    ..Default::default()
                },
            ),
            (
                "h",
                BatchEntry {
                    eject: true,
                    ..Default::default()
                },
            ),
        ]),
    ));
    assert_eq!(result_code(&res, "a"), None);
    assert_eq!(result_code(&res, "b"), Some(ErrorCode::InvalidArgument));
    assert_eq!(result_code(&res, "h"), Some(ErrorCode::InvalidArgument));
    let got = h.take();
    assert_eq!(
        got.to("a"),
        &[Event::RoomLeft {
            reason: LeaveReason::Kicked,
            by: Some("h".into()),
            message: None,
        }]
    );
    assert_eq!(got.to("b"), &[a_left, counts(3, 1)]);
    assert!(h.room.participant("a").is_none());
    assert_eq!(h.room.bans(h.now)[0].identity, "a");
    assert_eq!(
        h.try_join("a", PARTICIPANT).unwrap_err().code,
        ErrorCode::Banned
    );

    // Ban lengths are checked as for kick (a huge one used to overflow).
    for bad in [0, membership::MAX_BAN_SECONDS + 1, u64::MAX] {
        let res = results(h.server(batch(vec![(
            "b",
            BatchEntry {
                eject: true,
                ban_seconds: Some(bad),
                ..Default::default()
            },
        )])));
        assert_eq!(result_code(&res, "b"), Some(ErrorCode::InvalidArgument));
    }
    assert!(h.take().no_events());
    assert!(h.room.participant("b").is_some());

    // An entry that hides its target and ejects it does both.
    let res = results(h.act(
        "h",
        batch(vec![(
            "b",
            BatchEntry {
                eject: true,
                ban_seconds: Some(5),
                permissions: Some(PermissionsPatch {
                    hidden: Some(true),
                    ..Default::default()
                }),
                ..Default::default()
            },
        )]),
    ));
    assert_eq!(result_code(&res, "b"), None);
    assert!(h.room.participant("b").is_none());
    assert!(h.room.bans(h.now).iter().any(|b| b.identity == "b"));
    let got = h.take();
    assert_eq!(
        got.kinds("c"),
        ["participant_left", "counts_updated", "counts_updated"],
        "b left (hidden), then the hidden count drops"
    );
}

#[test]
fn kick_lists_with_repeats_report_the_kick() {
    let mut h = Harness::new();
    h.join("h", HOST);
    h.join("a", PARTICIPANT);
    h.take();
    let res = results(h.act(
        "h",
        Command::Kick {
            identity: None,
            identities: Some(vec!["a".into(), "a".into()]),
            ban_seconds: None,
            revoke_tokens: false,
            revoke_before: None,
            require_present: false,
        },
    ));
    assert_eq!(result_code(&res, "a"), None);
    assert!(h.room.participant("a").is_none());
}

#[test]
fn batch_update_role_change() {
    let mut h = batch_room(RoomSettings::default(), Roles::default());
    let mic = h.track("a", Source::Microphone);
    let cam = h.track("a", Source::Camera);
    let res = results(h.act(
        "h",
        batch(vec![(
            "a",
            BatchEntry {
                role: Some(VIEWER.into()),
                ..Default::default()
            },
        )]),
    ));
    assert_eq!(result_code(&res, "a"), None);
    let a = h.info("a");
    assert_eq!(a.role, VIEWER);
    assert!(a.tracks.is_empty() && a.permissions.can_send.is_empty());
    let got = h.take();
    let unpublished = |t: &TrackInfo| Event::TrackUnpublished {
        identity: "a".into(),
        track_sid: t.sid.clone(),
        source: t.source,
        reason: UnpublishReason::Permission,
    };
    let updated = Event::ParticipantUpdated {
        participant: a.clone(),
        changed: vec!["role".into(), "permissions".into()],
        by: Some("h".into()),
        reason: None,
    };
    let others = [unpublished(&mic), unpublished(&cam), updated];
    assert_eq!(got.to("b"), &others);
    let mut mine = others.to_vec();
    mine.push(Event::PermissionsChanged {
        role: VIEWER.into(),
        permissions: a.permissions,
        by: Some("h".into()),
        reason: None,
    });
    assert_eq!(got.to("a"), mine.as_slice());
}

#[test]
fn batch_update_denial_leaves_that_identity_unchanged() {
    let mut roles = Roles::default();
    let mut moderator = roles.get(PARTICIPANT).unwrap().clone();
    moderator.host = [HostControl::MuteAudio, HostControl::ManageParticipants].into();
    roles.insert("moderator", moderator);
    let mut h = batch_room(settings_with(RemoteUnmute::Ask), roles);
    h.join("m", "moderator");
    h.publish("m", Source::Microphone, true);
    h.take();
    let a_before = h.info("a");
    let c_before = h.info("c");
    let m_before = h.info("m");
    let res = results(h.act(
        "m",
        batch(vec![
            // Updates first, then a video mute the moderator may not do: nothing applies.
            (
                "a",
                BatchEntry {
                    metadata: Some("x".into()),
                    set_video: Some(false),
                    ..Default::default()
                },
            ),
            ("b", audio_off()),
            // A host control the moderator lacks cannot be granted.
            (
                "c",
                BatchEntry {
                    set_audio: Some(false),
                    role: Some(HOST.into()),
                    ..Default::default()
                },
            ),
            // Its own role change with a remote unmute of itself: refused whole.
            (
                "m",
                BatchEntry {
                    metadata: Some("me".into()),
                    set_audio: Some(true),
                    ..Default::default()
                },
            ),
        ]),
    ));
    assert_eq!(result_code(&res, "a"), Some(ErrorCode::PermissionDenied));
    assert_eq!(result_code(&res, "b"), None);
    assert_eq!(result_code(&res, "c"), Some(ErrorCode::PermissionDenied));
    assert_eq!(result_code(&res, "m"), Some(ErrorCode::InvalidArgument));
    assert_eq!(h.info("a"), a_before);
    assert_eq!(h.info("c"), c_before);
    assert_eq!(h.info("m"), m_before);
    assert!(h.track("b", Source::Microphone).muted);
    let got = h.take();
    assert_eq!(got.kinds("h"), ["track_muted"], "only b's mute happened");
    assert_eq!(h.room.pending_requests().count(), 0);
}

#[test]
fn batch_update_remote_unmute_follows_the_policy() {
    let mut h = batch_room(settings_with(RemoteUnmute::Ask), Roles::default());
    h.act("h", mute("a", Source::Microphone)).unwrap();
    h.take();
    let res = results(h.act(
        "h",
        batch(vec![(
            "a",
            BatchEntry {
                set_audio: Some(true),
                ..Default::default()
            },
        )]),
    ));
    let id = res["a"]
        .request_ids
        .first()
        .cloned()
        .expect("a consent request");
    let got = h.take();
    assert_eq!(got.recipients(), BTreeSet::from(["a"]));
    assert_eq!(got.kinds("a"), ["media_requested"]);
    assert_eq!(h.room.pending_requests().next().unwrap().id, id);

    let mut h = batch_room(settings_with(RemoteUnmute::Off), Roles::default());
    h.act("h", mute("a", Source::Microphone)).unwrap();
    h.take();
    let res = results(h.act(
        "h",
        batch(vec![(
            "a",
            BatchEntry {
                set_audio: Some(true),
                metadata: Some("x".into()),
                ..Default::default()
            },
        )]),
    ));
    let e = res["a"].error.clone().unwrap();
    assert_eq!(e.code, ErrorCode::FailedPrecondition);
    assert_eq!(e.message, "remote unmute not enabled");
    assert!(h.take().no_events());
    assert_eq!(h.info("a").metadata, "");
}

#[test]
fn batch_update_that_hides_its_target_still_applies_whole() {
    for policy in [RemoteUnmute::Ask, RemoteUnmute::Force] {
        let mut h = batch_room(settings_with(policy), Roles::default());
        h.act("h", mute("a", Source::Microphone)).unwrap();
        h.take();
        let res = results(h.act(
            "h",
            batch(vec![(
                "a",
                BatchEntry {
                    set_audio: Some(true),
                    permissions: Some(PermissionsPatch {
                        hidden: Some(true),
                        ..Default::default()
                    }),
                    ..Default::default()
                },
            )]),
        ));
        assert_eq!(result_code(&res, "a"), None, "{policy:?}");
        assert!(h.info("a").permissions.hidden);
        let got = h.take();
        match policy {
            RemoteUnmute::Ask => {
                // Asked while visible, then gone for the host: the request ends with it.
                assert!(res["a"].request_ids.len() == 1);
                assert_eq!(h.room.pending_requests().count(), 0);
                assert_eq!(
                    got.kinds("h"),
                    ["request_resolved", "participant_left", "counts_updated"]
                );
                assert_eq!(
                    got.kinds("a"),
                    [
                        "media_requested",
                        "request_resolved",
                        "participant_updated",
                        "permissions_changed",
                        "counts_updated"
                    ]
                );
            }
            _ => {
                assert!(!h.track("a", Source::Microphone).muted);
                assert_eq!(
                    got.kinds("h"),
                    ["track_muted", "participant_left", "counts_updated"]
                );
            }
        }
    }
}

#[test]
fn becoming_hidden_cancels_requests_to_it() {
    let (mut h, _) = meeting(RoomSettings::default());
    let (id, _) = request_id(h.act("h", request_media("p", Source::Microphone)));
    h.take();
    h.server(update(
        "p",
        UpdateFields {
            permissions: Some(PermissionsPatch {
                hidden: Some(true),
                ..Default::default()
            }),
            ..Default::default()
        },
    ))
    .unwrap();
    let got = h.take();
    let p_left = Event::ParticipantLeft {
        identity: "p".into(),
        sid: h.sid("p"),
        reason: LeaveReason::Hidden,
        by: Some("api".into()),
    };
    assert_eq!(
        got.to("h"),
        &[
            resolved(&id, "p", "h", RequestOutcome::Cancelled),
            p_left,
            counts(2, 2)
        ]
    );
    assert_eq!(
        got.to("p")[0],
        resolved(&id, "p", "h", RequestOutcome::Cancelled)
    );
    assert_eq!(got.resolved(), [(id, RequestOutcome::Cancelled)]);
    assert_eq!(h.room.pending_requests().count(), 0);
}

#[test]
fn batch_update_from_a_participant_without_host_controls_is_denied() {
    let mut h = batch_room(RoomSettings::default(), Roles::default());
    let before = h.state();
    let r = h.act("a", batch(vec![("b", audio_off()), ("*", audio_off())]));
    assert_eq!(err_code(r), ErrorCode::PermissionDenied);
    let got = h.take();
    assert!(got.no_events());
    assert_eq!(
        got.host_actions(),
        [("batch_update", Err(ErrorCode::PermissionDenied))]
    );
    assert_eq!(h.state(), before);
    // An empty batch is invalid.
    assert_eq!(
        err_code(h.act("h", batch(vec![]))),
        ErrorCode::InvalidArgument
    );
}
