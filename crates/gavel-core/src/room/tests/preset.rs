//! Presets (Chime attendee capabilities): on join, live, refused, in bulk, dropped.

use super::*;

fn set_preset(identity: &str, c: Option<Capabilities>) -> Command {
    Command::SetPreset {
        identity: identity.into(),
        capabilities: c,
    }
}

fn preset_changes(got: &Got) -> Vec<(String, Option<Capabilities>)> {
    got.effects
        .iter()
        .filter_map(|o| match o {
            Output::PresetChanged {
                identity,
                capabilities,
            } => Some((identity.clone(), *capabilities)),
            _ => None,
        })
        .collect()
}

#[test]
fn a_preset_applies_when_its_identity_joins() {
    use Capability::*;
    let mut h = Harness::new();
    h.join("h", HOST);
    h.take();
    let audio_only = caps(SendReceive, None, None);
    let r = h.server(set_preset("a", Some(audio_only))).unwrap();
    assert_eq!(
        r,
        Reply::Preset {
            identity: "a".into(),
            capabilities: audio_only
        }
    );
    let got = h.take();
    assert!(got.no_events(), "nobody is told about an absent identity");
    assert_eq!(preset_changes(&got), [("a".to_string(), Some(audio_only))]);
    assert_eq!(h.room.preset("a"), Some(audio_only));

    h.join("a", PARTICIPANT);
    let p = h.info("a").permissions;
    assert_eq!(p.can_send, sources(&[Source::Microphone]));
    assert_eq!(p.can_receive, sources(&[Source::Microphone]));
    assert!(p.can_publish_data, "only send/receive change");
    let refused = h.act(
        "a",
        Command::PublishTrack {
            source: Source::Camera,
            muted: false,
            name: Option::None,
        },
    );
    assert_eq!(err_code(refused), ErrorCode::PermissionDenied);
    // Identities without a preset join with what their token grants.
    h.join("b", PARTICIPANT);
    assert_eq!(h.info("b").permissions.can_send.len(), 4);
}

#[test]
fn setting_a_preset_of_a_present_participant_applies_it_live() {
    use Capability::*;
    let mut h = Harness::new();
    h.join("h", HOST);
    h.join("a", PARTICIPANT);
    let mic = h.publish("a", Source::Microphone, false);
    let cam = h.publish("a", Source::Camera, false);
    h.take();
    h.act("h", set_preset("a", Some(caps(Receive, SendReceive, None))))
        .unwrap();
    let got = h.take();
    for who in ["h", "a"] {
        assert_eq!(
            got.kinds(who)[..2],
            ["track_unpublished", "participant_updated"],
            "{who}"
        );
        assert!(matches!(
            &got.to(who)[0],
            Event::TrackUnpublished { track_sid, reason: UnpublishReason::Permission, .. }
                if *track_sid == mic.sid
        ));
    }
    assert_eq!(got.kinds("a").last(), Some(&"permissions_changed"));
    assert_eq!(h.track("a", Source::Camera), cam, "the camera stays");
    assert_eq!(h.info("a").permissions.can_send, sources(&[Source::Camera]));
    assert_eq!(
        got.host_actions(),
        [("set_preset", Ok(()))],
        "audited like every host control"
    );
    // The same preset again changes nothing and stores nothing.
    h.act("h", set_preset("a", Some(caps(Receive, SendReceive, None))))
        .unwrap();
    let got = h.take();
    assert!(got.no_events());
    assert!(preset_changes(&got).is_empty());
}

#[test]
fn presets_follow_seed_004_and_a_refusal_changes_nothing() {
    use Capability::*;
    let mut h = Harness::settings(RoomSettings {
        video_max_resolution: VideoResolution::None,
        ..Default::default()
    });
    h.join("h", HOST);
    h.join("g", PARTICIPANT);
    h.server(set_preset("g", Some(caps(SendReceive, None, Send))))
        .unwrap();
    h.take();
    let before = (h.state(), h.room.preset("g"));
    for bad in [
        caps(SendReceive, Receive, None),
        caps(SendReceive, Send, None),
        caps(SendReceive, SendReceive, None),
        caps(SendReceive, None, Receive),
        caps(SendReceive, None, SendReceive),
    ] {
        for cmd in [
            set_preset("g", Some(bad)),
            set_preset("new", Some(bad)),
            Command::SetPresetsExcept {
                except: vec![],
                capabilities: bad,
            },
        ] {
            assert_eq!(
                err_code(h.server(cmd)),
                ErrorCode::InvalidArgument,
                "{bad:?}"
            );
            let got = h.take();
            assert!(got.no_events() && preset_changes(&got).is_empty());
            assert_eq!((h.state(), h.room.preset("g")), before);
            assert_eq!(h.room.preset("new"), Option::None);
        }
    }
    // Without capabilities, the room's defaults: no video but content → Video Receive and
    // Content SendReceive (seed 004), even though a request could not ask for Video Receive.
    h.server(set_preset("d", Option::None)).unwrap();
    assert_eq!(
        h.room.preset("d"),
        Some(caps(SendReceive, Receive, SendReceive))
    );
    h.join("d", PARTICIPANT);
    let p = h.info("d").permissions;
    let screen_and_mic = sources(&[Source::Microphone, Source::ScreenVideo, Source::ScreenAudio]);
    assert_eq!(p.can_send, screen_and_mic, "the room forbids the camera");
    assert_eq!(p.can_receive, screen_and_mic);
    // Content MaxResolution None: any content capability but None is refused.
    let mut h = Harness::settings(RoomSettings {
        content_max_resolution: ContentResolution::None,
        ..Default::default()
    });
    for c in [SendReceive, Send, Receive] {
        let r = h.server(set_preset("x", Some(caps(None, SendReceive, c))));
        assert_eq!(err_code(r), ErrorCode::InvalidArgument);
    }
    h.server(set_preset("x", Some(caps(None, Receive, None))))
        .unwrap();
}

#[test]
fn set_presets_except_touches_every_preset_but_the_excluded() {
    use Capability::*;
    let mut h = Harness::new();
    h.join("h", HOST);
    for id in ["a", "b", "c"] {
        h.server(set_preset(id, Option::None)).unwrap();
    }
    h.join("a", PARTICIPANT);
    h.join("b", PARTICIPANT);
    h.join("native", PARTICIPANT);
    let cam = h.publish("a", Source::Camera, false);
    h.publish("b", Source::Camera, false);
    h.take();
    let audio_only = caps(SendReceive, Receive, None);
    let r = h
        .server(Command::SetPresetsExcept {
            except: vec!["b".into(), "unknown".into()],
            capabilities: audio_only,
        })
        .unwrap();
    assert_eq!(
        results(Ok(r)).keys().cloned().collect::<Vec<_>>(),
        ["a", "c"]
    );
    assert_eq!(h.room.preset("a"), Some(audio_only));
    assert_eq!(h.room.preset("c"), Some(audio_only));
    assert_eq!(
        h.room.preset("b"),
        Some(Capabilities::defaults(
            VideoResolution::HD,
            ContentResolution::FHD
        ))
    );
    assert_eq!(h.room.preset("native"), Option::None);
    let got = h.take();
    assert!(got.to("a").iter().any(|e| matches!(
        e,
        Event::TrackUnpublished { track_sid, .. } if *track_sid == cam.sid
    )));
    assert_eq!(got.kinds("a").last(), Some(&"permissions_changed"));
    assert!(!got.kinds("b").contains(&"permissions_changed"));
    assert!(!got.kinds("native").contains(&"permissions_changed"));
    assert_eq!(h.info("native").permissions.can_send.len(), 4);
    let mut changed = preset_changes(&got);
    changed.sort_by(|x, y| x.0.cmp(&y.0));
    assert_eq!(
        changed,
        [
            ("a".to_string(), Some(audio_only)),
            ("c".to_string(), Some(audio_only))
        ]
    );
}

#[test]
fn dropping_a_preset_and_who_may_set_one() {
    use Capability::*;
    let mut h = Harness::new();
    h.join("h", HOST);
    h.join("g", PARTICIPANT);
    h.take();
    // A participant without manage_participants is refused, and nothing changes.
    let r = h.act("g", set_preset("x", Some(caps(None, None, None))));
    assert_eq!(err_code(r), ErrorCode::PermissionDenied);
    let got = h.take();
    assert!(preset_changes(&got).is_empty());
    assert_eq!(
        got.host_actions(),
        [("set_preset", Err(ErrorCode::PermissionDenied))]
    );
    assert_eq!(h.room.preset("x"), Option::None);

    h.act("h", set_preset("x", Some(caps(Receive, None, None))))
        .unwrap();
    // update_participant with capabilities keeps an existing preset in step.
    h.join("x", PARTICIPANT);
    h.act(
        "h",
        update(
            "x",
            UpdateFields {
                capabilities: Some(caps(SendReceive, None, None)),
                ..Default::default()
            },
        ),
    )
    .unwrap();
    assert_eq!(h.room.preset("x"), Some(caps(SendReceive, None, None)));
    h.take();
    h.server(Command::DropPreset {
        identity: "x".into(),
    })
    .unwrap();
    assert_eq!(preset_changes(&h.take()), [("x".to_string(), Option::None)]);
    assert_eq!(h.room.preset("x"), Option::None);
    h.disconnect("x");
    h.join("x", PARTICIPANT);
    assert_eq!(
        h.info("x").permissions.can_send.len(),
        4,
        "the token rules again"
    );
    let r = h.server(Command::DropPreset {
        identity: "x".into(),
    });
    assert_eq!(err_code(r), ErrorCode::NotFound);
    // Restored presets (from storage) apply like any other.
    h.room.restore_preset("y", caps(None, Receive, None));
    h.join("y", PARTICIPANT);
    assert!(h.info("y").permissions.can_send.is_empty());
}
