//! Updating participants: host updates (permissions, role, fields, capabilities), self updates.

use super::*;

#[test]
fn update_participant_revoking_can_send_unpublishes() {
    let (mut h, mic) = meeting(RoomSettings::default());
    h.publish("g", Source::Camera, false);
    h.take();
    let r = h.act(
        "h",
        update(
            "g",
            UpdateFields {
                permissions: Some(PermissionsPatch {
                    can_send: Some(sources(&[Source::Camera])),
                    ..Default::default()
                }),
                ..Default::default()
            },
        ),
    );
    let g = h.info("g");
    assert_eq!(
        r,
        Ok(Reply::Participant {
            participant: g.clone()
        })
    );
    assert_eq!(g.tracks.len(), 1);
    assert_eq!(g.tracks[0].source, Source::Camera);
    let got = h.take();
    let others = [
        Event::TrackUnpublished {
            identity: "g".into(),
            track_sid: mic.sid.clone(),
            source: Source::Microphone,
            reason: UnpublishReason::Permission,
        },
        Event::ParticipantUpdated {
            participant: g.clone(),
            changed: vec!["permissions".into()],
            by: Some("h".into()),
            reason: None,
        },
    ];
    for who in ["h", "p", "o"] {
        assert_eq!(got.to(who), &others, "{who}");
    }
    let mut mine = others.to_vec();
    mine.push(Event::PermissionsChanged {
        role: PARTICIPANT.into(),
        permissions: g.permissions.clone(),
        by: Some("h".into()),
        reason: None,
    });
    assert_eq!(got.to("g"), mine.as_slice());
    assert_eq!(got.host_actions(), [("update_participant", Ok(()))]);

    // Publishing the revoked source is now refused.
    assert_eq!(
        err_code(h.act(
            "g",
            Command::PublishTrack {
                source: Source::Microphone,
                muted: false,
                name: None
            }
        )),
        ErrorCode::PermissionDenied
    );
}

#[test]
fn update_participant_merges_attributes() {
    let mut h = Harness::new();
    h.join("h", HOST);
    let mut req = h.request("g", PARTICIPANT);
    req.attributes = [("a".to_string(), "1".to_string()), ("b".into(), "2".into())].into();
    h.try_join_req(req).unwrap();
    h.take();
    let attrs: BTreeMap<String, String> =
        [("b".to_string(), String::new()), ("c".into(), "3".into())].into();
    h.act(
        "h",
        update(
            "g",
            UpdateFields {
                attributes: Some(attrs.clone()),
                name: Some("Gee".into()),
                ..Default::default()
            },
        ),
    )
    .unwrap();
    let g = h.info("g");
    assert_eq!(
        g.attributes,
        [("a".to_string(), "1".to_string()), ("c".into(), "3".into())].into()
    );
    assert_eq!(g.name, "Gee");
    let got = h.take();
    let expected = Event::ParticipantUpdated {
        participant: g,
        changed: vec!["name".into(), "attributes".into()],
        by: Some("h".into()),
        reason: None,
    };
    assert_eq!(got.to("h"), std::slice::from_ref(&expected));
    assert_eq!(got.to("g"), &[expected], "no permissions_changed");

    // The same again changes nothing and says nothing.
    h.act(
        "h",
        update(
            "g",
            UpdateFields {
                attributes: Some(attrs),
                ..Default::default()
            },
        ),
    )
    .unwrap();
    assert!(h.take().no_events());

    // Invalid fields refuse the whole update.
    let before = h.state();
    for f in [
        UpdateFields {
            name: Some("x".repeat(200)),
            metadata: Some("m".into()),
            ..Default::default()
        },
        UpdateFields {
            attributes: Some([(String::new(), "v".to_string())].into()),
            ..Default::default()
        },
        UpdateFields {
            role: Some("emperor".into()),
            ..Default::default()
        },
        UpdateFields {
            attributes: Some(
                (0..100)
                    .map(|i| (format!("k{i}"), "v".to_string()))
                    .collect(),
            ),
            ..Default::default()
        },
    ] {
        assert_eq!(
            err_code(h.act("h", update("g", f))),
            ErrorCode::InvalidArgument
        );
        assert!(h.take().no_events());
        assert_eq!(h.state(), before);
    }
}

#[test]
fn update_participant_capabilities_follow_chime_rules() {
    use Capability::*;
    let caps = |audio, video, content| Capabilities {
        audio,
        video,
        content,
    };
    let mut h = Harness::settings(RoomSettings {
        video_max_resolution: VideoResolution::None,
        ..Default::default()
    });
    h.join("h", HOST);
    h.join("g", PARTICIPANT);
    h.take();
    let before = h.state();
    for bad in [
        caps(SendReceive, Receive, None),
        caps(SendReceive, Send, None),
        // Content may only receive when video receives.
        caps(SendReceive, None, Receive),
    ] {
        assert_eq!(
            err_code(h.act(
                "h",
                update(
                    "g",
                    UpdateFields {
                        capabilities: Some(bad),
                        ..Default::default()
                    }
                )
            )),
            ErrorCode::InvalidArgument,
            "{bad:?}"
        );
        assert!(h.take().no_events());
        assert_eq!(h.state(), before);
    }
    h.act(
        "h",
        update(
            "g",
            UpdateFields {
                capabilities: Some(caps(Receive, None, Send)),
                ..Default::default()
            },
        ),
    )
    .unwrap();
    let p = h.info("g").permissions;
    assert_eq!(
        p.can_send,
        sources(&[Source::ScreenVideo, Source::ScreenAudio])
    );
    assert_eq!(p.can_receive, sources(&[Source::Microphone]));
    assert_eq!(
        Capabilities::of(&p),
        caps(Receive, None, Send),
        "the view round-trips"
    );

    // In a room with video, content SendReceive needs video receive.
    let mut h = Harness::new();
    h.join("h", HOST);
    h.join("g", PARTICIPANT);
    assert_eq!(
        err_code(h.act(
            "h",
            update(
                "g",
                UpdateFields {
                    capabilities: Some(caps(None, Send, SendReceive)),
                    ..Default::default()
                }
            )
        )),
        ErrorCode::InvalidArgument
    );
    h.act(
        "h",
        update(
            "g",
            UpdateFields {
                capabilities: Some(caps(None, Receive, SendReceive)),
                ..Default::default()
            },
        ),
    )
    .unwrap();
    assert_eq!(
        h.info("g").permissions.can_send,
        sources(&[Source::ScreenVideo, Source::ScreenAudio])
    );
}

#[test]
fn nobody_grants_a_host_control_it_lacks() {
    let mut roles = Roles::default();
    let mut cohost = roles.get(PARTICIPANT).unwrap().clone();
    cohost.host = [HostControl::ManageParticipants, HostControl::Pin].into();
    roles.insert("cohost", cohost);
    let mut h = Harness::with(RoomSettings::default(), roles);
    h.join("c", "cohost");
    h.join("g", PARTICIPANT);
    h.join("k", HOST);
    h.take();
    let before = h.state();
    let host_patch = |controls: &[HostControl]| UpdateFields {
        permissions: Some(PermissionsPatch {
            host: Some(controls.iter().copied().collect()),
            ..Default::default()
        }),
        ..Default::default()
    };
    for f in [
        host_patch(&[HostControl::Kick]),
        UpdateFields {
            role: Some(HOST.into()),
            ..Default::default()
        },
    ] {
        assert_eq!(
            err_code(h.act("c", update("g", f))),
            ErrorCode::PermissionDenied
        );
        assert!(h.take().no_events());
        assert_eq!(h.state(), before);
    }
    // What it holds it can hand out.
    h.act("c", update("g", host_patch(&[HostControl::Pin])))
        .unwrap();
    assert_eq!(h.info("g").permissions.host, [HostControl::Pin].into());
    // A target keeps controls it already holds when something else changes.
    h.act(
        "c",
        update(
            "k",
            UpdateFields {
                name: Some("K".into()),
                permissions: Some(PermissionsPatch {
                    can_publish_data: Some(false),
                    ..Default::default()
                }),
                ..Default::default()
            },
        ),
    )
    .unwrap();
    assert_eq!(h.info("k").permissions.host.len(), HostControl::ALL.len());
    // The server holds everything.
    h.server(update("g", host_patch(&[HostControl::EndSession])))
        .unwrap();
    assert_eq!(
        h.info("g").permissions.host,
        [HostControl::EndSession].into()
    );
}

#[test]
fn role_change_resets_permissions_then_patches() {
    let (mut h, _) = meeting(RoomSettings::default());
    h.act(
        "h",
        update(
            "p",
            UpdateFields {
                role: Some(VIEWER.into()),
                permissions: Some(PermissionsPatch {
                    can_send: Some(sources(&[Source::Microphone])),
                    ..Default::default()
                }),
                ..Default::default()
            },
        ),
    )
    .unwrap();
    let p = h.info("p");
    assert_eq!(p.role, VIEWER);
    assert_eq!(p.permissions.can_send, sources(&[Source::Microphone]));
    assert!(!p.permissions.can_publish_data);
    let got = h.take();
    match got.to("p") {
        [Event::ParticipantUpdated { changed, .. }, Event::PermissionsChanged { role, .. }] => {
            assert_eq!(changed, &["role", "permissions"]);
            assert_eq!(role, VIEWER);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn unhiding_a_participant_introduces_it() {
    let (mut h, _) = meeting(RoomSettings::default());
    h.server(update(
        "o",
        UpdateFields {
            role: Some(PARTICIPANT.into()),
            ..Default::default()
        },
    ))
    .unwrap();
    let o = h.info("o");
    let got = h.take();
    for who in ["h", "g", "p"] {
        assert_eq!(
            got.to(who),
            &[
                Event::ParticipantJoined {
                    participant: o.clone()
                },
                counts(4, 0)
            ],
            "{who}"
        );
    }
    assert_eq!(
        got.kinds("o"),
        [
            "participant_updated",
            "permissions_changed",
            "counts_updated"
        ]
    );
}

#[test]
fn hiding_a_participant_with_tracks_tells_only_it_about_them() {
    let (mut h, mic) = meeting(RoomSettings::default());
    // Hidden and stripped of the microphone at once.
    let g_left = Event::ParticipantLeft {
        identity: "g".into(),
        sid: h.sid("g"),
        reason: LeaveReason::Hidden,
        by: Some("api".into()),
    };
    h.server(update(
        "g",
        UpdateFields {
            permissions: Some(PermissionsPatch {
                hidden: Some(true),
                can_send: Some(sources(&[Source::Camera])),
                ..Default::default()
            }),
            ..Default::default()
        },
    ))
    .unwrap();
    let got = h.take();
    assert_eq!(got.to("p"), &[g_left, counts(2, 2)]);
    assert_eq!(
        got.to("g")[0],
        Event::TrackUnpublished {
            identity: "g".into(),
            track_sid: mic.sid,
            source: Source::Microphone,
            reason: UnpublishReason::Permission
        }
    );

    // And back, with the microphone: the others learn of it once, from participant_joined.
    h.publish("g", Source::Camera, false);
    h.take();
    h.server(update(
        "g",
        UpdateFields {
            permissions: Some(PermissionsPatch {
                hidden: Some(false),
                can_send: Some(sources(&[Source::Microphone])),
                ..Default::default()
            }),
            ..Default::default()
        },
    ))
    .unwrap();
    let g = h.info("g");
    assert!(g.tracks.is_empty());
    let got = h.take();
    assert_eq!(
        got.to("p"),
        &[Event::ParticipantJoined { participant: g }, counts(3, 1)],
        "no track event about a track the others never saw"
    );
    assert_eq!(
        got.kinds("g"),
        [
            "track_unpublished",
            "participant_updated",
            "permissions_changed",
            "counts_updated"
        ]
    );
}

#[test]
fn update_self_needs_its_permission() {
    let mut h = Harness::new();
    h.join("a", PARTICIPANT);
    let mut req = h.request("b", PARTICIPANT);
    req.permissions.can_update_own_metadata = false;
    h.try_join_req(req).unwrap();
    h.take();
    let before = h.state();
    let cmd = Command::UpdateSelf {
        name: Some("Bee".into()),
        metadata: None,
        attributes: None,
    };
    assert_eq!(
        err_code(h.act("b", cmd.clone())),
        ErrorCode::PermissionDenied
    );
    assert!(h.take().no_events());
    assert_eq!(h.state(), before);

    let r = h.act("a", cmd);
    let a = h.info("a");
    assert_eq!(
        r,
        Ok(Reply::Participant {
            participant: a.clone()
        })
    );
    let got = h.take();
    let expected = Event::ParticipantUpdated {
        participant: a,
        changed: vec!["name".into()],
        by: None,
        reason: None,
    };
    assert_eq!(got.to("a"), std::slice::from_ref(&expected));
    assert_eq!(got.to("b"), &[expected]);
}
