//! Media sessions and the forwarding rules handed to the media engine.

use super::*;
use crate::media_rules::Layer;

impl Harness {
    /// `identity` opens a media session and publishes `sources` through it.
    fn media(&mut self, identity: &str, sources: &[Source]) -> Vec<TrackInfo> {
        let sid = self.sid(identity);
        let before = self.members();
        self.room.media_session_opened(&sid).unwrap();
        self.room.check_media_publish(&sid, sources).unwrap();
        let tracks = sources
            .iter()
            .map(|s| self.room.publish_media_track(&sid, *s, false).unwrap())
            .collect();
        self.record(before);
        tracks
    }
    fn allows(&self, track: &TrackInfo, receiver: &str) -> bool {
        self.room
            .media_rules()
            .allows(&track.sid, &self.sid(receiver))
    }
}

#[test]
fn published_unmuted_media_tracks_flow_to_everyone_else_with_a_media_session() {
    let mut h = Harness::new();
    h.join("ada", HOST);
    h.join("bob", PARTICIPANT);
    h.join("cy", PARTICIPANT);
    let mic = h.media("ada", &[Source::Microphone]).remove(0);
    h.media("bob", &[]);
    assert!(mic.media);
    assert!(h.allows(&mic, "bob"));
    assert!(!h.allows(&mic, "ada"), "never back to the sender");
    assert!(!h.allows(&mic, "cy"), "cy has no media session");
    // Everyone sees the track as carried by media.
    let got = h.take();
    assert!(got.to("cy").iter().any(
        |e| matches!(e, Event::TrackPublished { track, .. } if track.media && track.sid == mic.sid)
    ));
}

#[test]
fn host_mute_and_unmute_close_and_reopen_the_track() {
    let mut h = Harness::settings(RoomSettings {
        remote_unmute: RemoteUnmute::Force,
        ..Default::default()
    });
    h.join("ada", HOST);
    h.join("bob", PARTICIPANT);
    let mic = h.media("bob", &[Source::Microphone]).remove(0);
    h.media("ada", &[]);
    assert!(h.room.take_media_changed());
    assert!(h.allows(&mic, "ada"));
    let mute = |muted| Command::Mute {
        identity: "bob".into(),
        source: Source::Microphone,
        muted,
    };
    h.act("ada", mute(true)).unwrap();
    assert!(h.room.take_media_changed());
    assert!(!h.allows(&mic, "ada"));
    h.act("ada", mute(false)).unwrap();
    assert!(h.allows(&mic, "ada"));
}

#[test]
fn revoking_a_source_unpublishes_and_a_receiver_without_can_receive_gets_nothing() {
    let mut h = Harness::new();
    h.join("ada", HOST);
    h.join("bob", PARTICIPANT);
    let cam = h.media("bob", &[Source::Camera]).remove(0);
    h.media("ada", &[]);
    assert!(h.allows(&cam, "ada"));
    h.server(Command::UpdateParticipant {
        identity: "ada".into(),
        role: None,
        permissions: Some(PermissionsPatch {
            can_receive: Some([Source::Microphone].into()),
            ..Default::default()
        }),
        capabilities: None,
        name: None,
        metadata: None,
        attributes: None,
    })
    .unwrap();
    assert!(!h.allows(&cam, "ada"), "ada may no longer receive cameras");
    h.server(Command::UpdateParticipant {
        identity: "bob".into(),
        role: None,
        permissions: Some(PermissionsPatch {
            can_send: Some([Source::Microphone].into()),
            ..Default::default()
        }),
        capabilities: None,
        name: None,
        metadata: None,
        attributes: None,
    })
    .unwrap();
    assert!(h.info("bob").track(Source::Camera).is_none(), "unpublished");
    assert!(h.room.media_rules().tracks.is_empty());
}

#[test]
fn an_offer_for_a_source_it_may_not_send_is_refused_and_changes_nothing() {
    let mut h = Harness::new();
    h.join("vic", VIEWER);
    let sid = h.sid("vic");
    h.room.media_session_opened(&sid).unwrap();
    let before = h.state();
    let err = h
        .room
        .check_media_publish(&sid, &[Source::Microphone])
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::PermissionDenied);
    let err = h
        .room
        .check_media_publish(&sid, &[Source::Microphone, Source::Microphone])
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::InvalidArgument);
    assert_eq!(h.state(), before);
}

#[test]
fn with_a_media_session_tracks_and_levels_come_from_media_only() {
    let mut h = Harness::new();
    h.join("ada", HOST);
    h.join("bob", PARTICIPANT);
    h.media("bob", &[]);
    // A state-only microphone cannot be announced once media is open.
    let r = h.act(
        "bob",
        Command::PublishTrack {
            source: Source::Microphone,
            muted: false,
            name: None,
        },
    );
    assert_eq!(err_code(r), ErrorCode::FailedPrecondition);
    // Self-reported levels are ignored: bob never becomes a speaker by saying so.
    h.media("bob", &[Source::Microphone]);
    for _ in 0..20 {
        h.act("bob", Command::AudioLevel { level: 5 }).unwrap();
        h.advance(100);
    }
    assert!(h.room.active_speakers().is_empty());
    // Levels measured on the packets do count.
    let sid = h.sid("bob");
    for _ in 0..20 {
        h.room.media_level(h.now, &sid, 5);
        h.advance(100);
    }
    assert_eq!(h.room.active_speakers()[0].identity, "bob");
}

#[test]
fn a_state_only_track_is_never_forwarded_and_is_dropped_when_media_opens() {
    let mut h = Harness::new();
    h.join("ada", HOST);
    h.join("bob", PARTICIPANT);
    let fake = h.publish("bob", Source::Microphone, false);
    assert!(!fake.media);
    h.media("ada", &[]);
    assert!(!h.allows(&fake, "ada"));
    h.media("bob", &[]);
    assert!(h.info("bob").tracks.is_empty());
}

#[test]
fn cameras_beyond_last_n_need_a_subscription_and_unsubscribing_stops_audio() {
    let mut h = Harness::settings(RoomSettings {
        video_last_n: 1,
        ..Default::default()
    });
    h.join("ada", HOST);
    h.join("bob", PARTICIPANT);
    h.join("cy", PARTICIPANT);
    h.media("ada", &[]);
    let bob = h.media("bob", &[Source::Camera, Source::Microphone]);
    h.advance(1);
    let cy = h.media("cy", &[Source::Camera]);
    // bob joined first: his camera is the one in the last-N.
    assert!(h.allows(&bob[0], "ada"));
    assert!(!h.allows(&cy[0], "ada"));
    // Pinning cy puts cy first.
    h.act(
        "ada",
        Command::Pin {
            identity: "cy".into(),
        },
    )
    .unwrap();
    assert!(h.allows(&cy[0], "ada") && !h.allows(&bob[0], "ada"));
    assert_eq!(
        h.room.media_rules().layer(&cy[0].sid, &h.sid("ada")),
        Layer::High
    );
    // Explicit subscriptions win over the default, both ways.
    let sub = |identity: &str, sources: Vec<Source>, subscribed| Command::UpdateSubscription {
        identity: identity.into(),
        sources,
        subscribed,
    };
    h.act("ada", sub("bob", vec![Source::Camera], Some(true)))
        .unwrap();
    h.act("ada", sub("bob", vec![Source::Microphone], Some(false)))
        .unwrap();
    assert!(h.allows(&bob[0], "ada"));
    assert!(!h.allows(&bob[1], "ada"));
    h.act("ada", sub("bob", vec![Source::Microphone], None))
        .unwrap();
    assert!(h.allows(&bob[1], "ada"));
    let r = h.act("ada", sub("bob", vec![], Some(true)));
    assert_eq!(err_code(r), ErrorCode::InvalidArgument);
}

#[test]
fn hidden_publishers_reach_nobody_and_closing_media_unpublishes() {
    let mut h = Harness::new();
    h.join("ada", HOST);
    h.join("bob", PARTICIPANT);
    h.media("ada", &[]);
    let mic = h.media("bob", &[Source::Microphone]).remove(0);
    h.server(Command::UpdateParticipant {
        identity: "bob".into(),
        role: None,
        permissions: Some(PermissionsPatch {
            hidden: Some(true),
            ..Default::default()
        }),
        capabilities: None,
        name: None,
        metadata: None,
        attributes: None,
    })
    .unwrap();
    assert!(!h.allows(&mic, "ada"));
    h.room.media_session_closed(h.now, &h.sid("bob"));
    assert!(h.info("bob").tracks.is_empty());
}

#[test]
fn leaving_removes_the_receiver_and_its_tracks_from_the_rules() {
    let mut h = Harness::new();
    h.join("ada", HOST);
    h.join("bob", PARTICIPANT);
    h.media("ada", &[Source::Microphone]);
    h.media("bob", &[Source::Microphone]);
    h.room.take_media_changed();
    h.disconnect("bob");
    assert!(h.room.take_media_changed());
    let rules = h.room.media_rules();
    assert_eq!(rules.receivers.len(), 1);
    assert_eq!(rules.tracks.len(), 1);
}

#[test]
fn a_receiver_chooses_the_layer_it_gets_of_a_track() {
    let mut h = Harness::new();
    h.join("ada", HOST);
    h.join("bob", PARTICIPANT);
    h.media("ada", &[]);
    let cam = h.media("bob", &[Source::Camera]).remove(0);
    let ada = h.sid("ada");
    assert_eq!(h.room.media_rules().layer(&cam.sid, &ada), Layer::Low);
    let set = |layer| Command::UpdateTrackSettings {
        track_sid: cam.sid.clone(),
        layer,
    };
    h.act("ada", set(Some(Layer::High))).unwrap();
    assert!(h.room.take_media_changed());
    assert_eq!(h.room.media_rules().layer(&cam.sid, &ada), Layer::High);
    h.act("ada", set(None)).unwrap();
    assert_eq!(h.room.media_rules().layer(&cam.sid, &ada), Layer::Low);
    let r = h.act(
        "ada",
        Command::UpdateTrackSettings {
            track_sid: String::new(),
            layer: Some(Layer::High),
        },
    );
    assert_eq!(err_code(r), ErrorCode::InvalidArgument);
}

#[test]
fn a_reserved_track_is_published_by_the_offer_with_its_sid_name_and_mute_state() {
    let mut h = Harness::new();
    h.join("ada", HOST);
    h.join("vic", VIEWER);
    let sid = h.sid("ada");
    h.room.media_session_opened(&sid).unwrap();
    h.take();
    let reserve = |muted| Command::ReserveTrack {
        source: Source::Microphone,
        muted,
        name: Some("mic".into()),
    };
    let Ok(Reply::Track { track: first }) = h.act("ada", reserve(false)) else {
        panic!("reserved")
    };
    // Asking again keeps the sid and takes the new mute state; nobody hears of it yet.
    let Ok(Reply::Track { track }) = h.act("ada", reserve(true)) else {
        panic!("reserved again")
    };
    assert_eq!(track.sid, first.sid);
    assert!(h.take().to("vic").is_empty());
    assert!(h.info("ada").tracks.is_empty());
    // A viewer may not reserve what it may not send.
    let denied = Command::ReserveTrack {
        source: Source::Camera,
        muted: false,
        name: None,
    };
    assert_eq!(err_code(h.act("vic", denied)), ErrorCode::PermissionDenied);
    let before = h.members();
    let published = h
        .room
        .publish_media_track(&sid, Source::Microphone, false)
        .unwrap();
    h.record(before);
    assert_eq!(published.sid, first.sid);
    assert_eq!(published.name, "mic");
    assert!(published.muted && published.media);
    assert!(h
        .take()
        .to("vic")
        .iter()
        .any(|e| matches!(e, Event::TrackPublished { track, .. } if track.sid == first.sid)));
    // Published, the source cannot be reserved again; the next track gets a new sid.
    assert_eq!(err_code(h.act("ada", reserve(false))), ErrorCode::Conflict);
    let camera = h
        .room
        .publish_media_track(&sid, Source::Camera, false)
        .unwrap();
    assert_ne!(camera.sid, first.sid);
}

/// Readings change a participant's level; changes go out batched, at most once per interval,
/// to everyone; an unannounced participant hears of its own alone; a closed session is lost.
#[test]
fn connection_quality_is_announced_on_change_batched_and_lost_with_the_session() {
    use crate::event::{ConnectionQuality as Q, QualityUpdate};
    let mut h = Harness::settings(RoomSettings {
        listed_limit: 3,
        ..Default::default()
    });
    h.join("ada", HOST);
    h.join("bob", PARTICIPANT);
    h.join("vic", VIEWER);
    h.join("uma", VIEWER); // past the listed limit: unannounced
    h.media("ada", &[Source::Microphone]);
    h.media("bob", &[]);
    h.take();
    let reading = |h: &mut Harness, who: &str, rtt: u32, loss: f32| {
        let before = h.members();
        let sid = h.sid(who);
        let now = h.now;
        h.room.media_quality(now, &sid, Some(rtt), Some(loss));
        h.record(before);
    };
    let quality = |got: &Got, who: &str| -> Vec<Vec<(String, Q)>> {
        got.to(who)
            .iter()
            .filter_map(|e| match e {
                Event::ConnectionQuality { updates } => Some(
                    updates
                        .iter()
                        .map(|QualityUpdate { identity, quality }| (identity.clone(), *quality))
                        .collect(),
                ),
                _ => None,
            })
            .collect()
    };
    h.advance(crate::room::quality::QUALITY_INTERVAL);
    reading(&mut h, "ada", 40, 0.0);
    reading(&mut h, "bob", 500, 0.01);
    let got = h.take();
    // The first reading went out at once (the interval had passed); bob's waits for the next.
    assert_eq!(quality(&got, "vic"), [vec![("ada".into(), Q::Excellent)]]);
    // The same level again is no change; a new one after the interval goes out with bob's.
    reading(&mut h, "ada", 40, 0.0);
    assert!(quality(&h.take(), "vic").is_empty());
    h.advance(crate::room::quality::QUALITY_INTERVAL);
    reading(&mut h, "ada", 200, 0.05);
    let got = h.take();
    let expected = vec![("ada".to_string(), Q::Good), ("bob".to_string(), Q::Poor)];
    assert_eq!(quality(&got, "vic"), std::slice::from_ref(&expected));
    assert_eq!(quality(&got, "uma"), [expected]);
    // uma is unannounced: her own level reaches her alone, at once.
    h.media("uma", &[]);
    h.take();
    reading(&mut h, "uma", 10, 0.0);
    let got = h.take();
    assert_eq!(got.recipients(), ["uma"].into());
    assert_eq!(quality(&got, "uma"), [vec![("uma".into(), Q::Excellent)]]);
    // ada's session closes: lost, announced with the next batch.
    h.advance(crate::room::quality::QUALITY_INTERVAL);
    let before = h.members();
    let (now, sid) = (h.now, h.sid("ada"));
    h.room.media_session_closed(now, &sid);
    h.record(before);
    assert_eq!(quality(&h.take(), "bob"), [vec![("ada".into(), Q::Lost)]]);
}
