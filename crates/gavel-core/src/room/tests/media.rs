//! Tracks: publishing within `can_send`, unpublishing, self mute, host mute, remote unmute.

use super::*;

// ----- tracks -----

#[test]
fn publish_is_limited_to_can_send() {
    let mut h = Harness::new();
    h.join("v", VIEWER);
    h.join("p", PARTICIPANT);
    h.take();
    let before = h.state();
    assert_eq!(
        err_code(h.act(
            "v",
            Command::PublishTrack {
                source: Source::Microphone,
                muted: false,
                name: None
            }
        )),
        ErrorCode::PermissionDenied
    );
    assert!(h.take().no_events());
    assert_eq!(h.state(), before);

    let cam = h.publish("p", Source::Camera, true);
    let got = h.take();
    for who in ["v", "p"] {
        assert_eq!(
            got.to(who),
            &[Event::TrackPublished {
                identity: "p".into(),
                track: cam.clone()
            }]
        );
    }
    assert!(cam.muted && cam.muted_by.is_none());
    // One track per source.
    assert_eq!(
        err_code(h.act(
            "p",
            Command::PublishTrack {
                source: Source::Camera,
                muted: false,
                name: None
            }
        )),
        ErrorCode::Conflict
    );
}

#[test]
fn rooms_without_video_remove_camera_from_permissions() {
    let mut h = Harness::settings(RoomSettings {
        video_max_resolution: VideoResolution::None,
        content_max_resolution: ContentResolution::None,
        ..Default::default()
    });
    h.join("p", PARTICIPANT);
    let perms = h.info("p").permissions;
    assert_eq!(perms.can_send, sources(&[Source::Microphone]));
    assert_eq!(perms.can_receive, sources(&[Source::Microphone]));
    for source in [Source::Camera, Source::ScreenVideo, Source::ScreenAudio] {
        assert_eq!(
            err_code(h.act(
                "p",
                Command::PublishTrack {
                    source,
                    muted: false,
                    name: None
                }
            )),
            ErrorCode::PermissionDenied
        );
    }
}

#[test]
fn unpublish_and_self_mute() {
    let mut h = Harness::new();
    h.join("a", PARTICIPANT);
    h.join("b", PARTICIPANT);
    let mic = h.publish("a", Source::Microphone, false);
    h.take();

    let r = h.act(
        "a",
        Command::SetTrackMuted {
            track_sid: mic.sid.clone(),
            muted: true,
        },
    );
    assert_eq!(r, Ok(Reply::Muted { changed: 1 }));
    let got = h.take();
    for who in ["a", "b"] {
        assert_eq!(got.to(who), &[track_muted("a", &mic, true, None)]);
    }
    // Idempotent.
    let r = h.act(
        "a",
        Command::SetTrackMuted {
            track_sid: mic.sid.clone(),
            muted: true,
        },
    );
    assert_eq!(r, Ok(Reply::Muted { changed: 0 }));
    assert!(h.take().no_events());

    h.act(
        "a",
        Command::UnpublishTrack {
            track_sid: mic.sid.clone(),
        },
    )
    .unwrap();
    let got = h.take();
    let expected = Event::TrackUnpublished {
        identity: "a".into(),
        track_sid: mic.sid.clone(),
        source: Source::Microphone,
        reason: UnpublishReason::Unpublished,
    };
    assert_eq!(got.to("a"), std::slice::from_ref(&expected));
    assert_eq!(got.to("b"), &[expected]);
    assert!(h.info("a").tracks.is_empty());
    // Someone else's or an unknown track is not found.
    assert_eq!(
        err_code(h.act("b", Command::UnpublishTrack { track_sid: mic.sid })),
        ErrorCode::NotFound
    );
    // Self actions need a participant.
    assert_eq!(
        err_code(h.server(Command::PublishTrack {
            source: Source::Microphone,
            muted: false,
            name: None
        })),
        ErrorCode::InvalidArgument
    );
}

// ----- mute and remote unmute -----

#[test]
fn host_mute_is_forced_sets_muted_by_and_is_idempotent() {
    let (mut h, mic) = meeting(RoomSettings::default());
    let r = h.act("h", mute("g", Source::Microphone));
    assert_eq!(r, Ok(Reply::Muted { changed: 1 }));
    let got = h.take();
    let expected = track_muted("g", &mic, true, Some("h"));
    for who in ["h", "g", "p"] {
        assert_eq!(got.to(who), std::slice::from_ref(&expected), "{who}");
    }
    // Events about a visible participant go to everyone, hidden ones included.
    assert_eq!(got.to("o"), &[expected]);
    assert_eq!(got.host_actions(), [("mute", Ok(()))]);
    let t = h.track("g", Source::Microphone);
    assert!(t.muted);
    assert_eq!(t.muted_by.as_deref(), Some("h"));

    // Second mute: nothing changes, nobody hears about it.
    let r = h.act("h", mute("g", Source::Microphone));
    assert_eq!(r, Ok(Reply::Muted { changed: 0 }));
    let got = h.take();
    assert!(got.no_events());
    assert_eq!(got.host_actions(), [("mute", Ok(()))]);

    // Not a lock: the guest unmutes itself, and `muted_by` is cleared.
    h.act(
        "g",
        Command::SetTrackMuted {
            track_sid: mic.sid.clone(),
            muted: false,
        },
    )
    .unwrap();
    let got = h.take();
    assert_eq!(got.to("h"), &[track_muted("g", &mic, false, None)]);
    assert_eq!(h.track("g", Source::Microphone).muted_by, None);

    // Muting a source without a track changes nothing; an absent target is not found.
    assert_eq!(
        h.act("h", mute("g", Source::Camera)),
        Ok(Reply::Muted { changed: 0 })
    );
    assert_eq!(
        err_code(h.act("h", mute("nobody", Source::Camera))),
        ErrorCode::NotFound
    );
    // The server mutes by name.
    h.take();
    h.server(mute("g", Source::Microphone)).unwrap();
    assert_eq!(
        h.take().to("p"),
        &[track_muted("g", &mic, true, Some("api"))]
    );
}

#[test]
fn remote_unmute_off_is_refused() {
    let (mut h, _) = meeting(settings_with(RemoteUnmute::Off));
    h.act("h", mute("g", Source::Microphone)).unwrap();
    h.take();
    let before = h.state();
    let e = h.act("h", unmute("g", Source::Microphone)).unwrap_err();
    assert_eq!(e.code, ErrorCode::FailedPrecondition);
    assert_eq!(e.message, "remote unmute not enabled");
    let got = h.take();
    assert!(got.no_events());
    assert_eq!(
        got.host_actions(),
        [("mute", Err(ErrorCode::FailedPrecondition))]
    );
    assert_eq!(h.state(), before);
    assert!(h.track("g", Source::Microphone).muted);
}

#[test]
fn remote_unmute_ask_sends_a_consent_request() {
    let (mut h, mic) = meeting(settings_with(RemoteUnmute::Ask));
    h.act("h", mute("g", Source::Microphone)).unwrap();
    h.take();
    let (id, dedup) = request_id(h.act("h", unmute("g", Source::Microphone)));
    assert!(!dedup);
    let got = h.take();
    assert_eq!(got.recipients(), BTreeSet::from(["g"]));
    assert_eq!(
        got.to("g"),
        &[Event::MediaRequested {
            request_id: id.clone(),
            source: Source::Microphone,
            from: "h".into(),
            expires_at: T0 + 30_000,
        }]
    );
    assert!(h.track("g", Source::Microphone).muted, "nothing forced");

    // Consent: the host-muted track comes back on; target and asker learn the outcome.
    h.act("g", respond(&id, true)).unwrap();
    let got = h.take();
    let on = track_muted("g", &mic, false, None);
    assert_eq!(
        got.to("g"),
        &[
            on.clone(),
            resolved(&id, "g", "h", RequestOutcome::Accepted)
        ]
    );
    assert_eq!(
        got.to("h"),
        &[
            on.clone(),
            resolved(&id, "g", "h", RequestOutcome::Accepted)
        ]
    );
    assert_eq!(got.to("p"), std::slice::from_ref(&on));
    assert_eq!(got.to("o"), &[on]);
    assert_eq!(got.resolved(), [(id.clone(), RequestOutcome::Accepted)]);
    let t = h.track("g", Source::Microphone);
    assert!(!t.muted && t.muted_by.is_none());
    assert_eq!(h.room.pending_requests().count(), 0);
    // Answered requests are gone.
    assert_eq!(
        err_code(h.act("g", respond(&id, true))),
        ErrorCode::NotFound
    );
}

#[test]
fn remote_unmute_force_unmutes() {
    let (mut h, mic) = meeting(settings_with(RemoteUnmute::Force));
    h.act("h", mute("g", Source::Microphone)).unwrap();
    h.take();
    let r = h.act("h", unmute("g", Source::Microphone));
    assert_eq!(r, Ok(Reply::Muted { changed: 1 }));
    let got = h.take();
    for who in ["h", "g", "p", "o"] {
        assert_eq!(got.to(who), &[track_muted("g", &mic, false, Some("h"))]);
    }
    let t = h.track("g", Source::Microphone);
    assert!(!t.muted && t.muted_by.is_none());
    assert_eq!(h.room.pending_requests().count(), 0);
}

// ----- mute-all -----

#[test]
fn mute_all_sends_one_summary_event_per_recipient_whatever_n() {
    for n in [1usize, 3, 12] {
        let mut h = Harness::new();
        h.join("h", HOST);
        h.join("o", OBSERVER);
        h.publish("h", Source::Microphone, false);
        let names: Vec<String> = (0..n).map(|i| format!("p{i}")).collect();
        for name in &names {
            h.join(name, PARTICIPANT);
            h.publish(name, Source::Microphone, false);
            h.publish(name, Source::Camera, false);
        }
        h.take();
        let r = h.act(
            "h",
            Command::MuteAll {
                source: Source::Microphone,
                except: vec!["p0".into(), "o".into()],
            },
        );
        // Every microphone but p0's: the host's own included (it did not except itself).
        assert_eq!(r, Ok(Reply::Muted { changed: n as u32 }));
        let got = h.take();
        let expected = mute_all_event(Source::Microphone, "h", &["p0"]);
        assert_eq!(got.events.len(), n + 2, "everyone hears once");
        for (who, events) in &got.events {
            assert_eq!(events, std::slice::from_ref(&expected), "{who} (n = {n})");
        }
        assert_eq!(got.host_actions(), [("mute_all", Ok(()))]);
        for p in h.room.participants() {
            for t in &p.tracks {
                let should_mute = t.source == Source::Microphone && p.identity != "p0";
                assert_eq!(t.muted, should_mute, "{} {:?}", p.identity, t.source);
                let by = should_mute.then_some("h");
                assert_eq!(t.muted_by.as_deref(), by);
            }
        }
        // Nothing left to mute: nothing sent.
        let r = h.act(
            "h",
            Command::MuteAll {
                source: Source::Microphone,
                except: vec!["p0".into()],
            },
        );
        assert_eq!(r, Ok(Reply::Muted { changed: 0 }));
        assert!(h.take().no_events());
    }
}

#[test]
fn mute_all_needs_the_sources_control() {
    let mut roles = Roles::default();
    let mut audio_mod = roles.get(PARTICIPANT).unwrap().clone();
    audio_mod.host = [HostControl::MuteAudio].into();
    roles.insert("audio_mod", audio_mod);
    let mut h = Harness::with(RoomSettings::default(), roles);
    h.join("m", "audio_mod");
    h.join("p", PARTICIPANT);
    h.publish("p", Source::Camera, false);
    h.publish("p", Source::Microphone, false);
    h.take();
    let before = h.state();
    assert_eq!(
        err_code(h.act(
            "m",
            Command::MuteAll {
                source: Source::Camera,
                except: vec![]
            }
        )),
        ErrorCode::PermissionDenied
    );
    assert!(h.take().no_events());
    assert_eq!(h.state(), before);
    assert_eq!(
        h.act(
            "m",
            Command::MuteAll {
                source: Source::Microphone,
                except: vec![]
            }
        ),
        Ok(Reply::Muted { changed: 1 })
    );
}
