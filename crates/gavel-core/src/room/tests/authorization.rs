//! Who may use which command: host controls, the server, departed sessions, token revocation.

use super::*;

/// Every host control, valid for a host: a fresh room for each, so each can be checked alone.
fn host_controls() -> Vec<Command> {
    vec![
        mute("t", Source::Microphone),
        request_media("t", Source::Camera),
        Command::MuteAll {
            source: Source::Microphone,
            except: vec![],
        },
        batch(vec![("t", audio_off())]),
        batch(vec![("*", audio_off())]),
        batch(vec![(
            "t",
            BatchEntry {
                metadata: Some("m".into()),
                ..Default::default()
            },
        )]),
        batch(vec![(
            "t",
            BatchEntry {
                eject: true,
                ..Default::default()
            },
        )]),
        Command::Kick {
            identity: Some("t".into()),
            identities: None,
            ban_seconds: Some(60),
            revoke_tokens: false,
            revoke_before: None,
            require_present: false,
        },
        Command::Kick {
            identity: None,
            identities: Some(vec!["t".into(), "absent".into()]),
            ban_seconds: Some(60),
            revoke_tokens: false,
            revoke_before: None,
            require_present: false,
        },
        Command::EndSession,
        Command::Pin {
            identity: "t".into(),
        },
        Command::Unpin { identity: None },
        update(
            "t",
            UpdateFields {
                name: Some("Tee".into()),
                ..Default::default()
            },
        ),
        update(
            "t",
            UpdateFields {
                permissions: Some(PermissionsPatch {
                    can_send: Some(Default::default()),
                    ..Default::default()
                }),
                ..Default::default()
            },
        ),
        Command::Move {
            identity: "t".into(),
            destination: "elsewhere".into(),
        },
        Command::LiftBan {
            identity: "banned".into(),
        },
    ]
}

#[test]
fn only_hosts_may_use_host_controls() {
    for command in host_controls() {
        assert!(command.is_host_control());
        for role in [HOST, PARTICIPANT, VIEWER, OBSERVER] {
            let mut h = Harness::new();
            h.join("actor", role);
            h.join("t", PARTICIPANT);
            h.join("w", PARTICIPANT);
            h.publish("t", Source::Microphone, false);
            h.publish("t", Source::Camera, true);
            h.publish("w", Source::Microphone, false);
            h.server(Command::Kick {
                identity: Some("banned".into()),
                identities: None,
                ban_seconds: Some(600),
                revoke_tokens: false,
                revoke_before: None,
                require_present: false,
            })
            .unwrap();
            h.server(Command::Pin {
                identity: "w".into(),
            })
            .unwrap();
            h.take();
            let before = h.state();
            let r = h.act("actor", command.clone());
            let got = h.take();
            let actions = got.host_actions();
            assert_eq!(actions.len(), 1, "one audit entry: {command:?} as {role}");
            assert_eq!(actions[0].0, command.action());
            if role == HOST {
                assert!(r.is_ok(), "{command:?} as host: {r:?}");
                if let Ok(Reply::Results { results }) = &r {
                    assert!(results.values().all(|r| r.ok), "{command:?}: {results:?}");
                }
                assert_eq!(actions[0].1, Ok(()));
                let changed = !got.no_events() || h.state() != before;
                assert!(changed, "{command:?} as host did nothing");
            } else {
                assert_eq!(
                    r.as_ref().map_err(|e| e.code),
                    Err(ErrorCode::PermissionDenied),
                    "{command:?} as {role}"
                );
                assert_eq!(actions[0].1, Err(ErrorCode::PermissionDenied));
                assert!(got.no_events(), "{command:?} as {role}: {got:?}");
                assert!(got.disconnects().is_empty() && got.resolved().is_empty());
                assert_eq!(h.state(), before, "{command:?} as {role}");
            }
        }
    }
}

#[test]
fn the_server_holds_every_host_control() {
    for command in host_controls() {
        let mut h = Harness::new();
        h.join("t", PARTICIPANT);
        h.join("w", PARTICIPANT);
        h.publish("t", Source::Microphone, false);
        h.publish("t", Source::Camera, true);
        h.server(Command::Kick {
            identity: Some("banned".into()),
            identities: None,
            ban_seconds: Some(600),
            revoke_tokens: false,
            revoke_before: None,
            require_present: false,
        })
        .unwrap();
        h.take();
        let r = h.server(command.clone());
        assert!(r.is_ok(), "{command:?}: {r:?}");
        let actions = h.take().host_actions();
        assert_eq!(actions, [(command.action(), Ok(()))]);
    }
}

#[test]
fn commands_from_a_departed_session_are_refused() {
    let mut h = Harness::new();
    h.join("h", HOST);
    let sid = h.join("g", PARTICIPANT);
    h.act("g", Command::Leave).unwrap();
    h.take();
    let before = h.state();
    for command in [Command::Ping, Command::EndSession, Command::Leave] {
        let r = h.run(&Actor::Participant { sid: sid.clone() }, command);
        assert_eq!(err_code(r), ErrorCode::FailedPrecondition);
    }
    let got = h.take();
    assert!(got.no_events());
    assert_eq!(h.state(), before);
    assert_eq!(h.act("h", Command::Ping), Ok(Reply::Pong { pong: true }));
}

/// The outputs that feed durable state: ban changes (set and lifted), the end of each session,
/// and the parameters of every host action.
#[test]
fn durable_outputs_for_bans_sessions_and_audit() {
    let roles = Arc::new(Roles::default());
    let mut room = Room::new("d", RoomSettings::default(), roles.clone(), 1);
    let join = |identity: &str, role: &str| JoinRequest {
        identity: identity.into(),
        name: identity.into(),
        metadata: String::new(),
        attributes: Default::default(),
        role: role.into(),
        permissions: roles.get(role).unwrap().clone(),
        issued_at: None,
        bypass_lock: false,
        bypass_waiting_room: false,
    };
    room.join(1_000, join("host", HOST)).unwrap();
    room.join(1_000, join("bob", PARTICIPANT)).unwrap();
    while room.poll_output().is_some() {}
    let kick = Command::Kick {
        identity: Some("bob".into()),
        identities: None,
        ban_seconds: Some(60),
        revoke_tokens: false,
        revoke_before: None,
        require_present: false,
    };
    room.handle(5_000, &Actor::server("api"), kick.clone())
        .unwrap();
    let outs: Vec<Output> = std::iter::from_fn(|| room.poll_output()).collect();
    assert!(outs.contains(&Output::BanChanged {
        identity: "bob".into(),
        until: Some(65_000),
        by: "api".into()
    }));
    let ended = outs.iter().find_map(|o| match o {
        Output::SessionEnded {
            participant,
            reason,
            ..
        } => Some((participant.identity.clone(), participant.joined_at, *reason)),
        _ => None,
    });
    assert_eq!(ended, Some(("bob".into(), 1_000, LeaveReason::Kicked)));
    let audited = outs.iter().find_map(|o| match o {
        Output::HostAction { command, .. } => Some(command.as_ref().clone()),
        _ => None,
    });
    assert_eq!(audited, Some(kick));
    room.handle(
        6_000,
        &Actor::server("api"),
        Command::LiftBan {
            identity: "bob".into(),
        },
    )
    .unwrap();
    let outs: Vec<Output> = std::iter::from_fn(|| room.poll_output()).collect();
    assert!(outs.contains(&Output::BanChanged {
        identity: "bob".into(),
        until: None,
        by: "api".into()
    }));
    // A ban restored from storage keeps the identity out.
    room.restore_ban("bob", 100_000, "api");
    assert_eq!(
        room.join(7_000, join("bob", PARTICIPANT)).unwrap_err().code,
        ErrorCode::Banned
    );
}

#[test]
fn revoked_tokens_cannot_rejoin_but_new_ones_can() {
    let roles = Arc::new(Roles::default());
    let mut room = Room::new("r", RoomSettings::default(), roles.clone(), 3);
    let join = |issued_at: Option<Millis>| JoinRequest {
        identity: "bob".into(),
        name: String::new(),
        metadata: String::new(),
        attributes: Default::default(),
        role: PARTICIPANT.into(),
        permissions: roles.get(PARTICIPANT).unwrap().clone(),
        issued_at,
        bypass_lock: false,
        bypass_waiting_room: false,
    };
    room.join(1_000, join(Some(0))).unwrap();
    let revoke = Command::RevokeTokens {
        identity: "bob".into(),
        before: None,
    };
    // Only kick-holders may revoke; a refusal changes nothing.
    room.join(
        1_000,
        JoinRequest {
            identity: "pat".into(),
            ..join(Some(0))
        },
    )
    .unwrap();
    let pat = room.participants["pat"].sid().to_string();
    let denied = room.handle(2_000, &Actor::Participant { sid: pat }, revoke.clone());
    assert_eq!(err_code(denied), ErrorCode::PermissionDenied);
    room.handle(5_500, &Actor::server("api"), revoke).unwrap();
    let outs: Vec<Output> = std::iter::from_fn(|| room.poll_output()).collect();
    assert!(outs.contains(&Output::TokensRevoked {
        identity: "bob".into(),
        before: 5_500,
        by: "api".into()
    }));
    for old in [None, Some(0), Some(5_000)] {
        let e = room.join(6_000, join(old)).unwrap_err();
        assert_eq!(e.code, ErrorCode::Unauthenticated, "{old:?}");
    }
    // Issued in a later second: fine.
    room.join(6_000, join(Some(6_000))).unwrap();
}

#[test]
fn a_revocation_for_every_identity_voids_all_older_tokens() {
    let mut h = Harness::new();
    h.room.revoke_tokens(EVERY_IDENTITY, T0);
    let mut old = h.request("a", PARTICIPANT);
    old.issued_at = Some(T0 - 1000);
    assert_eq!(err_code_of(h.try_join_req(old)), ErrorCode::Unauthenticated);
    let mut unknown = h.request("b", PARTICIPANT);
    unknown.issued_at = None;
    assert_eq!(
        err_code_of(h.try_join_req(unknown)),
        ErrorCode::Unauthenticated
    );
    let mut fresh = h.request("c", PARTICIPANT);
    fresh.issued_at = Some(T0 + 1000);
    h.try_join_req(fresh).unwrap();
    // Nobody can revoke it through a command: `*` is not an identity.
    let r = h.server(Command::RevokeTokens {
        identity: EVERY_IDENTITY.into(),
        before: None,
    });
    assert_eq!(err_code(r), ErrorCode::InvalidArgument);
}

fn err_code_of<T: std::fmt::Debug>(r: Result<T>) -> ErrorCode {
    r.expect_err("expected an error").code
}
