//! Active speaker detection from audio levels.

use super::*;

fn speak(h: &mut Harness, who: &str, level: u8, windows: u64) {
    for _ in 0..windows {
        let start = h.now;
        for i in 0..8 {
            h.now = start + i * 50;
            h.act(who, Command::AudioLevel { level }).unwrap();
        }
        h.now = start;
        h.advance(400);
    }
}

#[test]
fn active_speaker_detection() {
    let mut h = Harness::new();
    h.join("a", PARTICIPANT);
    h.join("b", PARTICIPANT);
    h.join("o", OBSERVER);
    let a_mic = h.publish("a", Source::Microphone, false);
    h.publish("b", Source::Microphone, false);
    h.take();

    // One loud window makes `a` the active speaker.
    speak(&mut h, "a", 20, 1);
    let got = h.take();
    for who in ["a", "b", "o"] {
        match got.to(who) {
            [Event::ActiveSpeakers { speakers }, Event::ActiveSpeakerChanged { identity }] => {
                assert_eq!(speakers.len(), 1);
                assert_eq!(speakers[0].identity, "a");
                let expected = crate::speaker::linear(20) * 0.5;
                assert!((speakers[0].level - expected).abs() < 1e-6);
                assert_eq!(identity.as_deref(), Some("a"));
            }
            other => panic!("{who}: {other:?}"),
        }
    }
    assert_eq!(h.info("a").speaking_time_ms, 400);
    assert_eq!(h.room.active_speakers().len(), 1);

    // Still speaking: time accumulates, nothing is sent.
    speak(&mut h, "a", 20, 2);
    assert!(h.take().no_events());
    assert_eq!(h.info("a").speaking_time_ms, 1200);

    // Two quiet windows end it; `a` stays the (sticky) active speaker.
    speak(&mut h, "a", 120, 1);
    assert!(h.take().no_events(), "hangover");
    speak(&mut h, "a", 120, 1);
    let got = h.take();
    assert_eq!(got.to("b"), &[Event::ActiveSpeakers { speakers: vec![] }]);
    assert_eq!(h.info("a").speaking_time_ms, 1600);

    // A muted microphone's levels are ignored.
    h.act(
        "a",
        Command::SetTrackMuted {
            track_sid: a_mic.sid.clone(),
            muted: true,
        },
    )
    .unwrap();
    h.take();
    // (Counted, these would start it speaking again.)
    speak(&mut h, "a", 5, 2);
    assert!(h.take().no_events());
    assert_eq!(h.info("a").speaking_time_ms, 1600);
    // Levels are RFC 6464.
    assert_eq!(
        err_code(h.act("a", Command::AudioLevel { level: 128 })),
        ErrorCode::InvalidArgument
    );

    // Another speaker takes over.
    speak(&mut h, "b", 10, 1);
    let got = h.take();
    assert_eq!(
        got.kinds("a"),
        ["active_speakers", "active_speaker_changed"]
    );
    assert_eq!(
        got.to("a")[1],
        Event::ActiveSpeakerChanged {
            identity: Some("b".into())
        }
    );
    // A joiner gets the list in its snapshot.
    h.join("late", PARTICIPANT);
    match h.take().to("late") {
        [Event::Joined {
            active_speakers, ..
        }] => assert_eq!(active_speakers[0].identity, "b"),
        other => panic!("{other:?}"),
    }

    // The active speaker leaving clears it.
    h.act("b", Command::Leave).unwrap();
    let got = h.take();
    assert_eq!(
        got.kinds("a"),
        [
            "active_speakers",
            "active_speaker_changed",
            "participant_left",
            "counts_updated"
        ]
    );
    assert_eq!(
        got.to("a")[1],
        Event::ActiveSpeakerChanged { identity: None }
    );
}

#[test]
fn active_speaker_becoming_hidden_is_no_longer_the_active_speaker() {
    let mut h = Harness::new();
    h.join("a", PARTICIPANT);
    h.join("b", PARTICIPANT);
    h.publish("a", Source::Microphone, false);
    speak(&mut h, "a", 20, 1);
    h.take();
    h.server(update(
        "a",
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
    assert_eq!(
        got.kinds("b"),
        [
            "active_speakers",
            "active_speaker_changed",
            "participant_left",
            "counts_updated"
        ]
    );
    assert_eq!(
        got.to("b")[1],
        Event::ActiveSpeakerChanged { identity: None }
    );
    assert!(h.room.active_speakers().is_empty());
}
