//! Sessions the server offers to (LiveKit's subscriber connection), with a real room and str0m
//! peers on virtual time: one send-only m-line per track the room allows, named after the
//! track, negotiated by the engine one offer at a time; host controls stop the media at once;
//! data channels both ways.

mod common;

use common::Net;
use gavel_core::{Command, Source};
use gavel_media::{EngineConfig, MediaEngine, MediaEvent};
use std::time::Instant;

fn mute(identity: &str, muted: bool) -> Command {
    Command::Mute {
        identity: identity.into(),
        source: Source::Microphone,
        muted,
    }
}

/// An engine alone, with one UDP candidate.
fn engine() -> MediaEngine {
    MediaEngine::new(EngineConfig {
        candidates: vec![(
            gavel_media::str0m::net::Protocol::Udp,
            "10.0.0.1:5000".parse().unwrap(),
        )],
        ..Default::default()
    })
}

fn mic_sid(net: &Net, identity: &str) -> String {
    net.room
        .participant(identity)
        .unwrap()
        .track(Source::Microphone)
        .unwrap()
        .sid
        .clone()
}

#[test]
fn the_server_offers_a_line_per_allowed_track_a_mute_keeps_it_and_a_resubscription_gets_a_new_one()
{
    let mut net = Net::new();
    net.join("ann", true, 0);
    net.join_offered("lk");
    net.connect();
    // The first offer already carries ann's microphone, named as LiveKit's clients expect:
    // msid "<participant sid>|<track sid> <track sid>".
    let ann_sid = net.peers["ann"].sid.clone();
    let track = mic_sid(&net, "ann");
    assert!(
        net.offers[0].contains(&format!("a=msid:{ann_sid}|{track} {track}")),
        "{}",
        net.offers[0]
    );
    assert!(net.offers[0].contains("m=application"), "data channels");
    for _ in 0..10 {
        net.talk();
    }
    assert!(net.got("lk", "ann") >= 8, "lk got {}", net.got("lk", "ann"));
    let first_mid = net.peers["lk"].received[0].0;

    // A host mute: not one frame more, though ann's client keeps sending. The track keeps its
    // line (LiveKit's clients keep a muted track subscribed): no new offer.
    let offers = net.offers.len();
    net.host(mute("ann", true)).unwrap();
    let before = net.got("lk", "ann");
    for _ in 0..10 {
        net.talk();
    }
    assert_eq!(net.got("lk", "ann"), before, "not one frame after the mute");
    assert_eq!(net.offers.len(), offers, "no negotiation for a mute");

    // Ann unmutes herself: the track flows again on its line, still without an offer.
    let unmute = Command::SetTrackMuted {
        track_sid: track.clone(),
        muted: false,
    };
    net.act("ann", unmute).unwrap();
    for _ in 0..10 {
        net.talk();
    }
    assert!(net.got("lk", "ann") >= before + 8);
    assert_eq!(net.peers["lk"].received.last().unwrap().0, first_mid);
    assert_eq!(net.offers.len(), offers);

    // lk unsubscribes: the line goes inactive in a new offer, and nothing more arrives.
    let subscribe = |subscribed: Option<bool>| Command::UpdateSubscription {
        identity: "ann".into(),
        sources: vec![Source::Microphone],
        subscribed,
    };
    net.act("lk", subscribe(Some(false))).unwrap();
    let before = net.got("lk", "ann");
    for _ in 0..10 {
        net.talk();
    }
    assert_eq!(
        net.got("lk", "ann"),
        before,
        "not one frame after unsubscribing"
    );
    assert_eq!(net.offers.len(), offers + 1, "one offer for the change");
    assert!(net.offers.last().unwrap().contains("a=inactive"));

    // It subscribes again: the track comes back on a new line whose msid's track id differs
    // from the old line's (two lines with one msid are refused, and LiveKit's Rust SDK shows
    // nothing for a line that returns as it was), with the same stream id, which LiveKit's
    // SDKs read.
    net.act("lk", subscribe(Some(true))).unwrap();
    for _ in 0..10 {
        net.talk();
    }
    assert!(net.got("lk", "ann") >= before + 8);
    let last_mid = net.peers["lk"].received.last().unwrap().0;
    assert_ne!(first_mid, last_mid, "a new m-line");
    assert_eq!(net.offers.len(), offers + 2, "one offer to bring it back");
    let offer = net.offers.last().unwrap();
    let line = |id: &str| format!("a=msid:{ann_sid}|{track} {id}\r\n");
    assert!(offer.contains(&line(&format!("{track}-1"))), "{offer}");
    assert_eq!(
        offer.matches(&line(&track)).count(),
        1,
        "the old line keeps its msid"
    );
    assert!(net.violations.is_empty(), "{:?}", net.violations);
}

#[test]
fn a_track_published_later_is_offered_and_flows() {
    let mut net = Net::new();
    net.join_offered("lk");
    net.connect();
    assert_eq!(net.offers.len(), 1);
    assert!(!net.offers[0].contains("m=audio"), "nothing to receive yet");
    net.join("ann", true, 0);
    net.connect();
    for _ in 0..10 {
        net.talk();
    }
    assert_eq!(net.offers.len(), 2, "one more offer, for ann's microphone");
    assert!(net.got("lk", "ann") >= 8, "lk got {}", net.got("lk", "ann"));
    // ann, a native client without receive slots, gets nothing; lk publishes nothing.
    assert!(net.violations.is_empty(), "{:?}", net.violations);
}

#[test]
fn data_channels_carry_messages_both_ways() {
    let mut net = Net::new();
    net.join_offered("lk");
    net.connect();
    // The peer opened the server's channels once connected.
    for _ in 0..20 {
        net.talk();
    }
    let labels: Vec<String> = net.peers["lk"]
        .channels
        .iter()
        .map(|(_, l)| l.clone())
        .collect();
    assert!(labels.contains(&"_reliable".to_string()), "{labels:?}");
    assert!(labels.contains(&"_lossy".to_string()), "{labels:?}");

    assert!(net
        .peers
        .get_mut("lk")
        .unwrap()
        .send_data("_reliable", b"hello"));
    for _ in 0..5 {
        net.talk();
    }
    let session = net.peers["lk"].media_session.clone();
    assert!(
        net.data_in
            .iter()
            .any(|(s, l, d)| *s == session && l == "_reliable" && d == b"hello"),
        "{:?}",
        net.data_in
    );

    let now = net.now;
    assert!(net.engine.send_data(now, &session, "_reliable", b"welcome"));
    assert!(
        !net.engine.send_data(now, &session, "_nope", b"x"),
        "no such channel"
    );
    let big = vec![0u8; gavel_media::MAX_DATA_BYTES + 1];
    assert!(
        !net.engine.send_data(now, &session, "_reliable", &big),
        "too large"
    );
    net.pump();
    for _ in 0..5 {
        net.talk();
    }
    assert!(net.peers["lk"]
        .data_in
        .iter()
        .any(|(l, d)| l == "_reliable" && d == b"welcome"));
}

#[test]
fn answers_are_checked_and_offers_wait_for_them() {
    let now = Instant::now();
    let mut engine = engine();
    engine.open_offering(now, "PA_a/sub", "PA_a").unwrap();
    let mut offers = 0;
    while let Some(out) = engine.poll_output() {
        if let gavel_media::EngineOutput::Event(MediaEvent::Offer { session, sdp }) = out {
            assert_eq!(session, "PA_a/sub");
            assert!(sdp.starts_with("v=0"));
            offers += 1;
        }
    }
    assert_eq!(offers, 1);
    assert!(
        engine.open_offering(now, "PA_a/sub", "PA_a").is_err(),
        "exists"
    );
    let e = engine
        .accept_answer(now, "PA_a/sub", "nonsense")
        .unwrap_err();
    assert!(e.0.contains("malformed SDP answer"), "{e}");
    // The offer is still outstanding: a client offer on this session is refused.
    let e = engine.accept_offer(now, "PA_a/sub", "v=0\r\n").unwrap_err();
    assert!(!e.0.is_empty());
    let e = engine.accept_answer(now, "nobody", "v=0").unwrap_err();
    assert_eq!(e.0, "no media session");
}

/// An answer str0m refuses (here: one made for another session's offer) ends that offer, and
/// what it carried (the data channels) is offered again.
#[test]
fn a_refused_answer_is_reported_and_its_offer_made_again() {
    let now = Instant::now();
    let mut engine = engine();
    let offers = |engine: &mut MediaEngine| {
        let mut out = Vec::new();
        while let Some(o) = engine.poll_output() {
            if let gavel_media::EngineOutput::Event(MediaEvent::Offer { session, sdp }) = o {
                out.push((session, sdp));
            }
        }
        out
    };
    engine.open_offering(now, "PA_a/sub", "PA_a").unwrap();
    engine.open_offering(now, "PA_b/sub", "PA_b").unwrap();
    let made = offers(&mut engine);
    assert_eq!(made.len(), 2);
    let (_, b_offer) = made.iter().find(|(s, _)| s == "PA_b/sub").unwrap();
    let mut peer = gavel_media::str0m::Rtc::builder().build(now);
    let b_answer = peer
        .sdp_api()
        .accept_offer(gavel_media::str0m::change::SdpOffer::from_sdp_string(b_offer).unwrap())
        .unwrap();
    let e = engine
        .accept_answer(now, "PA_a/sub", &b_answer.to_sdp_string())
        .unwrap_err();
    assert!(e.0.starts_with("the answer was refused"), "{e}");
    let again = offers(&mut engine);
    assert_eq!(again.len(), 1, "a new offer for PA_a");
    assert_eq!(again[0].0, "PA_a/sub");
    assert!(
        again[0].1.contains("m=application"),
        "with the data channels"
    );
}
