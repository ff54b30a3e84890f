//! Who is in the room: joins, hidden participants, replacement, kick and ban, end, move.

use super::*;
// `room::membership` (for `MAX_BAN_SECONDS`), not the test module of that name.
use crate::room::membership;

// ----- joining, presence, hidden participants -----

#[test]
fn join_sends_snapshot_to_joiner_and_participant_joined_to_others() {
    let mut h = Harness::new();
    h.join("a", HOST);
    h.take();
    let sid = h.join("b", PARTICIPANT);
    let got = h.take();
    let b = h.info("b");
    assert_eq!(b.sid, sid);
    assert_eq!(b.joined_at, T0);
    assert_eq!(
        got.to("b"),
        &[Event::Joined {
            room: h.room.info(),
            me: b.clone(),
            participants: vec![h.info("a")],
            counts: Counts {
                present: 2,
                hidden: 0,
                waiting: 0,
            },
            pinned: None,
            active_speakers: vec![],
            hands: Vec::new(),
            stage: Vec::new(),
            waiters: Vec::new(),
        }]
    );
    assert_eq!(
        got.to("a"),
        &[Event::ParticipantJoined { participant: b }, counts(2, 0)]
    );
    assert_eq!(h.room.identity_of(&sid), Some("b"));
}

/// A resynchronising client gets the snapshot it would get joining now, and nothing changes.
#[test]
fn a_snapshot_for_a_present_participant_is_its_joined_event_as_of_now() {
    let mut h = Harness::new();
    h.join("a", HOST);
    let b = h.join("b", PARTICIPANT);
    h.join("c", PARTICIPANT);
    h.take();
    let snapshot = h.room.snapshot(&b).expect("b is in the room");
    assert_eq!(
        snapshot,
        Event::Joined {
            room: h.room.info(),
            me: h.info("b"),
            participants: vec![h.info("a"), h.info("c")],
            counts: Counts {
                present: 3,
                hidden: 0,
                waiting: 0,
            },
            pinned: None,
            active_speakers: vec![],
            hands: Vec::new(),
            stage: Vec::new(),
            waiters: Vec::new(),
        }
    );
    assert!(h.take().no_events(), "a read emits nothing");
    assert_eq!(h.room.snapshot("PA_nobody"), None);
}

#[test]
fn hidden_observer_is_invisible_but_counted() {
    let mut h = Harness::new();
    h.join("a", HOST);
    h.join("b", PARTICIPANT);
    h.take();

    h.join("o", OBSERVER);
    let got = h.take();
    assert_eq!(got.to("a"), &[counts(2, 1)]);
    assert_eq!(got.to("b"), &[counts(2, 1)]);
    match got.to("o") {
        [Event::Joined {
            participants,
            counts,
            me,
            ..
        }] => {
            let ids: Vec<_> = participants.iter().map(|p| p.identity.as_str()).collect();
            assert_eq!(ids, ["a", "b"]);
            assert_eq!(
                *counts,
                Counts {
                    present: 2,
                    hidden: 1,
                    waiting: 0,
                }
            );
            assert!(me.permissions.hidden);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        h.room.counts(),
        Counts {
            present: 2,
            hidden: 1,
            waiting: 0,
        }
    );

    // A later joiner's snapshot leaves the observer out.
    h.join("c", PARTICIPANT);
    let got = h.take();
    match got.to("c") {
        [Event::Joined {
            participants,
            counts,
            ..
        }] => {
            let ids: Vec<_> = participants.iter().map(|p| p.identity.as_str()).collect();
            assert_eq!(ids, ["a", "b"]);
            assert_eq!(
                *counts,
                Counts {
                    present: 3,
                    hidden: 1,
                    waiting: 0,
                }
            );
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        got.to("o"),
        got.to("a"),
        "the observer sees what everyone sees"
    );

    // Its own updates reach only itself.
    let r = h.act(
        "o",
        Command::UpdateSelf {
            name: Some("Watcher".into()),
            metadata: None,
            attributes: None,
        },
    );
    assert!(r.is_ok());
    let got = h.take();
    assert_eq!(got.recipients(), BTreeSet::from(["o"]));
    assert_eq!(got.kinds("o"), ["participant_updated"]);

    // Hosts cannot see it as a target.
    assert_eq!(
        err_code(h.act("a", mute("o", Source::Microphone))),
        ErrorCode::NotFound
    );

    // Its departure is only a count change for the others.
    h.act("o", Command::Leave).unwrap();
    let got = h.take();
    assert_eq!(
        got.to("o"),
        &[Event::RoomLeft {
            reason: LeaveReason::Left,
            by: None,
            message: None,
        }]
    );
    for who in ["a", "b", "c"] {
        assert_eq!(got.to(who), &[counts(3, 0)], "{who}");
    }
    assert_eq!(
        h.room.counts(),
        Counts {
            present: 3,
            hidden: 0,
            waiting: 0,
        }
    );
}

#[test]
fn hidden_publisher_tracks_are_only_seen_by_itself() {
    let mut h = Harness::new();
    h.join("a", HOST);
    let mut req = h.request("ghost", PARTICIPANT);
    req.permissions.hidden = true;
    h.try_join_req(req).unwrap();
    h.take();
    let mic = h.publish("ghost", Source::Microphone, false);
    let got = h.take();
    assert_eq!(
        got.to("ghost"),
        &[Event::TrackPublished {
            identity: "ghost".into(),
            track: mic.clone()
        }]
    );
    assert_eq!(got.recipients(), BTreeSet::from(["ghost"]));

    // Its audio levels never make it an active speaker.
    for i in 0..8 {
        h.now = T0 + i * 50;
        h.act("ghost", Command::AudioLevel { level: 10 }).unwrap();
    }
    assert_eq!(h.room.poll_timeout(), None);

    // Mute-all by the server mutes it, but the summary does not name it.
    h.server(Command::MuteAll {
        source: Source::Microphone,
        except: vec!["a".into()],
    })
    .unwrap();
    let got = h.take();
    assert_eq!(
        got.to("a"),
        &[mute_all_event(Source::Microphone, "api", &["a"])]
    );
    assert!(h.track("ghost", Source::Microphone).muted);
}

#[test]
fn duplicate_identity_replaces_the_old_session() {
    let mut h = Harness::new();
    h.join("a", HOST);
    let old = h.join("b", PARTICIPANT);
    h.publish("b", Source::Microphone, false);
    h.server(Command::Pin {
        identity: "b".into(),
    })
    .unwrap();
    h.take();

    let new = h.join("b", PARTICIPANT);
    assert_ne!(old, new);
    let got = h.take();
    assert_eq!(
        got.to("b~old"),
        &[Event::RoomLeft {
            reason: LeaveReason::Replaced,
            by: None,
            message: None,
        }]
    );
    assert_eq!(got.disconnects(), [(old.clone(), LeaveReason::Replaced)]);
    let b = h.info("b");
    assert!(b.tracks.is_empty(), "media belonged to the old connection");
    assert_eq!(
        got.to("a"),
        &[
            Event::Unpinned {
                identity: "b".into(),
                by: None
            },
            Event::ParticipantLeft {
                identity: "b".into(),
                sid: old.clone(),
                reason: LeaveReason::Replaced,
                by: None
            },
            counts(1, 0),
            Event::ParticipantJoined {
                participant: b.clone()
            },
            counts(2, 0),
        ]
    );
    assert_eq!(got.kinds("b"), ["joined"]);
    assert_eq!(h.room.pinned(), None);
    assert_eq!(h.room.identity_of(&old), None);
    // The old session's late commands act on nothing.
    assert_eq!(
        err_code(h.run(&Actor::Participant { sid: old }, Command::Leave)),
        ErrorCode::FailedPrecondition
    );
    assert!(h.take().no_events());
}

#[test]
fn duplicate_identity_reject_is_a_conflict() {
    let mut h = Harness::settings(RoomSettings {
        duplicate_identity: DuplicateIdentity::Reject,
        ..Default::default()
    });
    let sid = h.join("a", HOST);
    h.take();
    assert_eq!(
        h.try_join("a", PARTICIPANT).unwrap_err().code,
        ErrorCode::Conflict
    );
    let got = h.take();
    assert!(got.no_events() && got.effects.is_empty());
    assert_eq!(h.info("a").sid, sid);
}

#[test]
fn max_participants_makes_the_room_full() {
    let mut h = Harness::settings(RoomSettings {
        max_participants: 2,
        ..Default::default()
    });
    h.join("a", HOST);
    h.join("o", OBSERVER);
    h.take();
    assert_eq!(
        h.try_join("c", PARTICIPANT).unwrap_err().code,
        ErrorCode::RoomFull
    );
    assert!(h.take().no_events());
    // Replacing a present identity does not need a free place.
    h.join("a", HOST);
    h.act("o", Command::Leave).unwrap();
    h.join("c", PARTICIPANT);
    assert_eq!(h.room.participants().count(), 2);
}

#[test]
fn join_validates_its_request() {
    let mut h = Harness::new();
    for bad in ["", "*", "a\u{7}b"] {
        assert_eq!(
            h.try_join(bad, PARTICIPANT).unwrap_err().code,
            ErrorCode::InvalidArgument
        );
    }
    assert!(h.take().no_events());
    assert!(h.room.is_empty());
}

#[test]
fn disconnect_tells_the_others_only() {
    let mut h = Harness::new();
    h.join("a", HOST);
    h.join("b", PARTICIPANT);
    h.take();
    let before = left(&h, "b", LeaveReason::Disconnected, None);
    h.disconnect("b");
    let got = h.take();
    assert_eq!(got.to("b"), &[]);
    assert!(
        got.disconnects().is_empty(),
        "the connection is already gone"
    );
    assert_eq!(got.to("a"), &[before, counts(1, 0)]);
    // Unknown sessions are ignored.
    h.room
        .disconnected(0, "PA_nobody", LeaveReason::Disconnected);
    assert!(h.room.poll_output().is_none());
}

// ----- kick and ban -----

#[test]
fn kick_with_ban_keeps_the_identity_out_until_it_expires() {
    let mut h = Harness::new();
    h.join("h", HOST);
    let g_sid = h.join("g", PARTICIPANT);
    h.join("p", PARTICIPANT);
    h.join("o", OBSERVER);
    h.take();
    let g_left = left(&h, "g", LeaveReason::Kicked, Some("h"));
    let r = h.act(
        "h",
        Command::Kick {
            identity: Some("g".into()),
            identities: None,
            ban_seconds: Some(60),
            revoke_tokens: false,
            revoke_before: None,
            require_present: false,
        },
    );
    assert_eq!(
        r,
        Ok(Reply::Kicked {
            removed: true,
            banned_until: Some(h.now + 60_000),
            tokens_revoked_before: None
        })
    );
    let got = h.take();
    assert_eq!(
        got.to("g"),
        &[Event::RoomLeft {
            reason: LeaveReason::Kicked,
            by: Some("h".into()),
            message: None,
        }]
    );
    for who in ["h", "p", "o"] {
        assert_eq!(got.to(who), &[g_left.clone(), counts(2, 1)], "{who}");
    }
    assert_eq!(got.disconnects(), [(g_sid, LeaveReason::Kicked)]);
    assert_eq!(got.host_actions(), [("kick", Ok(()))]);
    assert_eq!(
        h.room.bans(h.now),
        [BanInfo {
            identity: "g".into(),
            until: T0 + 60_000,
            by: "h".into()
        }]
    );

    h.now = T0 + 59_999;
    let e = h.try_join("g", PARTICIPANT).unwrap_err();
    assert_eq!(e.code, ErrorCode::Banned);
    assert!(e.message.contains("1 more seconds"), "{}", e.message);
    assert!(h.take().no_events());
    h.now = T0 + 60_000;
    h.join("g", PARTICIPANT);
    assert!(h.room.bans(h.now).is_empty());
}

#[test]
fn kick_many_reports_per_identity() {
    let mut h = Harness::new();
    h.join("h", HOST);
    h.join("a", PARTICIPANT);
    h.join("b", PARTICIPANT);
    h.join("c", PARTICIPANT);
    h.take();
    let res = results(h.act(
        "h",
        Command::Kick {
            identity: None,
            identities: Some(vec!["a".into(), "b".into(), "ghost".into(), "h".into()]),
            ban_seconds: None,
            revoke_tokens: false,
            revoke_before: None,
            require_present: false,
        },
    ));
    assert_eq!(result_code(&res, "a"), None);
    assert_eq!(result_code(&res, "b"), None);
    assert_eq!(result_code(&res, "ghost"), Some(ErrorCode::NotFound));
    assert_eq!(result_code(&res, "h"), Some(ErrorCode::InvalidArgument));
    let got = h.take();
    assert_eq!(
        got.kinds("c"),
        [
            "participant_left",
            "counts_updated",
            "participant_left",
            "counts_updated"
        ]
    );
    assert_eq!(got.kinds("a"), ["room_left"]);
    // b is still there while a goes.
    assert_eq!(
        got.kinds("b"),
        ["participant_left", "counts_updated", "room_left"]
    );
    assert!(h.room.bans(h.now).is_empty(), "no ban asked for");

    // With a ban, an absent identity is banned too.
    let res = results(h.act(
        "h",
        Command::Kick {
            identity: None,
            identities: Some(vec!["c".into(), "ghost".into()]),
            ban_seconds: Some(10),
            revoke_tokens: false,
            revoke_before: None,
            require_present: false,
        },
    ));
    assert!(res.values().all(|r| r.ok));
    let banned: Vec<_> = h.room.bans(h.now).into_iter().map(|b| b.identity).collect();
    assert_eq!(banned, ["c", "ghost"]);
}

#[test]
fn kick_validation() {
    let mut h = Harness::new();
    h.join("h", HOST);
    h.join("a", PARTICIPANT);
    h.take();
    let before = h.state();
    let kick =
        |identity: Option<&str>, identities: Option<Vec<String>>, ban: Option<u64>| Command::Kick {
            identity: identity.map(str::to_string),
            identities,
            ban_seconds: ban,
            revoke_tokens: false,
            revoke_before: None,
            require_present: false,
        };
    for (cmd, code) in [
        (kick(Some("h"), None, None), ErrorCode::InvalidArgument),
        (kick(Some("ghost"), None, None), ErrorCode::NotFound),
        (kick(Some("a"), None, Some(0)), ErrorCode::InvalidArgument),
        (
            kick(Some("a"), None, Some(membership::MAX_BAN_SECONDS + 1)),
            ErrorCode::InvalidArgument,
        ),
        (kick(None, None, None), ErrorCode::InvalidArgument),
        (kick(None, Some(vec![]), None), ErrorCode::InvalidArgument),
        (
            kick(Some("a"), Some(vec!["a".into()]), None),
            ErrorCode::InvalidArgument,
        ),
        (kick(Some("*"), None, Some(5)), ErrorCode::InvalidArgument),
    ] {
        assert_eq!(err_code(h.act("h", cmd.clone())), code, "{cmd:?}");
        assert!(h.take().no_events());
        assert_eq!(h.state(), before);
    }
}

#[test]
fn kicking_an_absent_identity_with_a_ban_records_it_and_lift_ban_removes_it() {
    let mut h = Harness::new();
    h.join("h", HOST);
    h.take();
    let r = h.act(
        "h",
        Command::Kick {
            identity: Some("troll".into()),
            identities: None,
            ban_seconds: Some(3600),
            revoke_tokens: false,
            revoke_before: None,
            require_present: false,
        },
    );
    assert_eq!(
        r,
        Ok(Reply::Kicked {
            removed: false,
            banned_until: Some(h.now + 3_600_000),
            tokens_revoked_before: None
        })
    );
    assert!(h.take().no_events());
    assert!(h.room.has_active_bans(h.now));
    assert_eq!(
        h.try_join("troll", PARTICIPANT).unwrap_err().code,
        ErrorCode::Banned
    );

    let r = h.act(
        "h",
        Command::LiftBan {
            identity: "troll".into(),
        },
    );
    assert_eq!(r, Ok(Reply::done()));
    let got = h.take();
    assert!(got.no_events());
    assert_eq!(got.host_actions(), [("lift_ban", Ok(()))]);
    assert!(h.room.bans(h.now).is_empty());
    h.join("troll", PARTICIPANT);
    assert_eq!(
        err_code(h.act(
            "h",
            Command::LiftBan {
                identity: "troll".into()
            }
        )),
        ErrorCode::NotFound
    );
}

#[test]
fn bans_expire_on_timeout() {
    let mut h = Harness::new();
    h.server(Command::Kick {
        identity: Some("x".into()),
        identities: None,
        ban_seconds: Some(1),
        revoke_tokens: false,
        revoke_before: None,
        require_present: false,
    })
    .unwrap();
    assert!(h.room.has_active_bans(h.now));
    h.advance(1_000);
    assert!(!h.room.has_active_bans(h.now));
    assert_eq!(h.room.bans.len(), 0, "purged");
}

// ----- end session -----

#[test]
fn end_session_removes_everyone() {
    let (mut h, _) = meeting(RoomSettings::default());
    h.server(Command::Kick {
        identity: Some("troll".into()),
        identities: None,
        ban_seconds: Some(600),
        revoke_tokens: false,
        revoke_before: None,
        require_present: false,
    })
    .unwrap();
    h.server(Command::Pin {
        identity: "g".into(),
    })
    .unwrap();
    let (id, _) = request_id(h.act("h", request_media("p", Source::Camera)));
    h.take();
    let sids: BTreeSet<String> = ["h", "g", "p", "o"].iter().map(|i| h.sid(i)).collect();

    let r = h.act("h", Command::EndSession);
    assert_eq!(r, Ok(Reply::done()));
    let got = h.take();
    for who in ["h", "g", "p", "o"] {
        assert_eq!(
            got.to(who),
            &[Event::RoomLeft {
                reason: LeaveReason::Ended,
                by: Some("h".into()),
                message: None,
            }],
            "{who}"
        );
    }
    let closed: BTreeSet<String> = got.disconnects().into_iter().map(|(s, _)| s).collect();
    assert_eq!(closed, sids);
    assert!(got
        .disconnects()
        .iter()
        .all(|(_, r)| *r == LeaveReason::Ended));
    assert_eq!(got.resolved(), [(id, RequestOutcome::Cancelled)]);
    assert!(h.room.is_empty());
    assert_eq!(h.room.counts(), Counts::default());
    assert_eq!(h.room.pinned(), None);
    assert_eq!(h.room.pending_requests().count(), 0);
    assert_eq!(h.room.poll_timeout(), None);
    // The room (and its bans) stay.
    assert_eq!(
        h.try_join("troll", PARTICIPANT).unwrap_err().code,
        ErrorCode::Banned
    );
    let sid = h.join("h", HOST);
    assert_eq!(h.room.identity_of(&sid), Some("h"));
}

// ----- move -----

#[test]
fn move_detaches_and_admit_moved_attaches() {
    let (mut a, mic) = meeting(RoomSettings::default());
    a.act(
        "h",
        update(
            "g",
            UpdateFields {
                permissions: Some(PermissionsPatch {
                    can_publish_data: Some(false),
                    ..Default::default()
                }),
                ..Default::default()
            },
        ),
    )
    .unwrap();
    a.take();
    let g_before = a.info("g");
    let g_left = left(&a, "g", LeaveReason::Moved, Some("h"));
    let r = a.act(
        "h",
        Command::Move {
            identity: "g".into(),
            destination: "room-b".into(),
        },
    );
    assert_eq!(r, Ok(Reply::done()));
    let got = a.take();
    let moving = got
        .moved_out()
        .expect("an approved move hands its participant over");
    assert_eq!(moving.info, g_before);
    assert_eq!(moving.from_room, "room-a");
    assert_eq!(moving.by, "h");
    assert_eq!(got.to("g"), &[], "the session lives on in the destination");
    assert!(got.disconnects().is_empty());
    for who in ["h", "p", "o"] {
        assert_eq!(got.to(who), &[g_left.clone(), counts(2, 1)], "{who}");
    }
    assert!(a.room.participant("g").is_none());

    let mut b = Harness::named("room-b", RoomSettings::default(), Roles::default());
    b.join("x", PARTICIPANT);
    b.take();
    b.now += 5_000;
    let sid = b.admit_moved(moving).unwrap();
    assert_eq!(sid, g_before.sid);
    let g = b.info("g");
    assert_eq!(g.tracks, vec![mic]);
    assert_eq!(g.permissions, g_before.permissions);
    assert_eq!(g.role, g_before.role);
    assert_eq!(g.joined_at, T0 + 5_000);
    let got = b.take();
    assert_eq!(
        got.to("g"),
        &[
            Event::Moved {
                from: "room-a".into(),
                room: "room-b".into(),
                by: Some("h".into())
            },
            Event::Joined {
                room: b.room.info(),
                me: g.clone(),
                participants: vec![b.info("x")],
                counts: Counts {
                    present: 2,
                    hidden: 0,
                    waiting: 0,
                },
                pinned: None,
                active_speakers: vec![],
                hands: Vec::new(),
                stage: Vec::new(),
                waiters: Vec::new(),
            }
        ]
    );
    assert_eq!(
        got.to("x"),
        &[Event::ParticipantJoined { participant: g }, counts(2, 0)]
    );
}

#[test]
fn move_validation() {
    let (mut h, _) = meeting(RoomSettings::default());
    let before = h.state();
    let mv = |identity: &str, destination: &str| Command::Move {
        identity: identity.into(),
        destination: destination.into(),
    };
    for (cmd, code) in [
        (mv("g", "room-a"), ErrorCode::InvalidArgument),
        (mv("g", "bad/name"), ErrorCode::InvalidArgument),
        (mv("ghost", "room-b"), ErrorCode::NotFound),
        (mv("o", "room-b"), ErrorCode::NotFound),
    ] {
        assert_eq!(err_code(h.act("h", cmd.clone())), code, "{cmd:?}");
        assert!(h.take().no_events());
        assert_eq!(h.state(), before);
    }
    // The server may move hidden participants; nobody else hears of it.
    assert_eq!(h.server(mv("o", "room-b")), Ok(Reply::done()));
    let got = h.take();
    assert!(got.moved_out().is_some());
    for who in ["h", "g", "p"] {
        assert_eq!(got.to(who), &[counts(3, 0)]);
    }
}

#[test]
fn admit_moved_respects_bans_and_room_settings() {
    let (mut a, _) = meeting(RoomSettings::default());
    a.publish("g", Source::Camera, false);
    a.server(Command::Move {
        identity: "g".into(),
        destination: "room-b".into(),
    })
    .unwrap();
    let moving = a.take().moved_out().expect("the move was approved");
    let mut b = Harness::named(
        "room-b",
        RoomSettings {
            video_max_resolution: VideoResolution::None,
            ..Default::default()
        },
        Roles::default(),
    );
    b.server(Command::Kick {
        identity: Some("g".into()),
        identities: None,
        ban_seconds: Some(60),
        revoke_tokens: false,
        revoke_before: None,
        require_present: false,
    })
    .unwrap();
    assert_eq!(
        b.room.can_admit(b.now, "g").unwrap_err().code,
        ErrorCode::Banned
    );
    assert_eq!(
        b.admit_moved(moving.clone()).unwrap_err().code,
        ErrorCode::Banned
    );
    assert!(b.take().no_events());
    b.server(Command::LiftBan {
        identity: "g".into(),
    })
    .unwrap();
    b.admit_moved(moving).unwrap();
    let g = b.info("g");
    assert!(!g.permissions.can_send.contains(&Source::Camera));
    assert_eq!(
        g.tracks.iter().map(|t| t.source).collect::<Vec<_>>(),
        [Source::Microphone],
        "the camera track does not survive a room without video"
    );
}

#[test]
fn a_kick_with_ban_is_decided_then_applied_or_abandoned() {
    let (mut h, _) = meeting(RoomSettings::default());
    h.take();
    let before = h.state();
    let kick = Command::Kick {
        identity: Some("g".into()),
        identities: None,
        ban_seconds: Some(60),
        revoke_tokens: true,
        revoke_before: None,
        require_present: false,
    };
    let actor = Actor::server("api");
    // The store failed: nothing changed, nobody heard anything, only the audit entry is left.
    let Decision::Commit(pending) = h.room.decide(h.now, &actor, kick.clone()) else {
        panic!("a kick with a ban must be committed first");
    };
    assert_eq!(pending.writes.len(), 2, "{:?}", pending.writes);
    let members = h.members();
    h.room
        .abandon(pending, Error::new(ErrorCode::Unavailable, "disk full"));
    h.record(members);
    let got = h.take();
    assert!(got.no_events());
    assert!(matches!(
        got.effects.as_slice(),
        [Output::HostAction { outcome: Err(e), .. }] if e.code == ErrorCode::Unavailable
    ));
    assert_eq!(h.state(), before);
    assert!(!h.room.has_active_bans(h.now));

    // Committed: the same decision applies, with its events.
    let Decision::Commit(pending) = h.room.decide(h.now, &actor, kick) else {
        panic!("a kick with a ban must be committed first");
    };
    let members = h.members();
    assert!(matches!(
        h.room.apply(pending),
        Reply::Kicked { removed: true, .. }
    ));
    h.record(members);
    assert!(h.room.participant("g").is_none());
    assert!(h.room.has_active_bans(h.now));
    assert!(!h.take().no_events());
}
