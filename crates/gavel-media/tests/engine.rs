//! The engine with a real room and str0m peers on virtual time: media flows, host controls
//! stop it at once, and nothing is ever forwarded that the room did not allow.

mod common;

use common::Net;
use gavel_core::{Command, PermissionsPatch, Source};
use proptest::prelude::*;

fn mute(identity: &str, muted: bool) -> Command {
    Command::Mute {
        identity: identity.into(),
        source: Source::Microphone,
        muted,
    }
}

#[test]
fn audio_flows_between_peers_and_a_host_mute_stops_it_while_the_sender_keeps_sending() {
    let mut net = Net::new();
    net.join("ann", true, 2);
    net.join("ben", true, 2);
    net.connect();
    for _ in 0..10 {
        net.talk();
    }
    assert!(
        net.got("ben", "ann") >= 8,
        "ben got {}",
        net.got("ben", "ann")
    );
    assert!(net.got("ann", "ben") >= 8);
    assert_eq!(net.got("ann", "ann"), 0, "nothing echoes back");
    // The slot map names ann's track on one of ben's slots.
    let ann_track = net
        .room
        .participant("ann")
        .unwrap()
        .track(Source::Microphone)
        .unwrap()
        .sid
        .clone();
    let ben_sid = net.peers["ben"].sid.clone();
    assert!(net.slots[&ben_sid]
        .iter()
        .any(|s| s.track_sid.as_deref() == Some(&ann_track)));

    net.host(mute("ann", true)).unwrap();
    let before = net.got("ben", "ann");
    for _ in 0..10 {
        net.talk(); // ann's client ignores the mute and keeps sending
    }
    assert_eq!(
        net.got("ben", "ann"),
        before,
        "not one frame after the mute"
    );
    assert!(net.engine.stats().dropped(gavel_media::DropReason::Muted) >= 10);
    assert!(net.got("ann", "ben") > 8, "ben is still heard");
    assert!(net.violations.is_empty(), "{:?}", net.violations);
}

#[test]
fn levels_come_from_the_packets_and_make_the_speaker() {
    let mut net = Net::new();
    net.join("ann", true, 1);
    net.join("ben", false, 1);
    net.connect();
    for _ in 0..50 {
        net.talk();
    }
    assert!(net.levels.iter().any(|(_, l)| *l == 10));
    let speakers = net.room.active_speakers();
    assert_eq!(speakers.first().map(|s| s.identity.as_str()), Some("ann"));
}

#[test]
fn revoking_the_microphone_unpublishes_and_stops_the_media() {
    let mut net = Net::new();
    net.join("ann", true, 1);
    net.join("ben", false, 1);
    net.connect();
    net.talk();
    net.talk();
    assert!(net.got("ben", "ann") > 0);
    net.host(Command::UpdateParticipant {
        identity: "ann".into(),
        permissions: Some(PermissionsPatch {
            can_send: Some(Default::default()),
            ..Default::default()
        }),
        role: None,
        name: None,
        metadata: None,
        attributes: None,
        capabilities: None,
    })
    .unwrap();
    let before = net.got("ben", "ann");
    for _ in 0..5 {
        net.talk();
    }
    assert_eq!(net.got("ben", "ann"), before);
    assert!(net.room.participant("ann").unwrap().tracks.is_empty());
    assert!(net.violations.is_empty(), "{:?}", net.violations);
}

#[test]
fn a_kick_closes_the_media_session() {
    let mut net = Net::new();
    net.join("ann", true, 1);
    net.join("ben", false, 1);
    net.connect();
    net.talk();
    let ann = net.peers["ann"].sid.clone();
    net.host(Command::Kick {
        identity: Some("ann".into()),
        identities: None,
        ban_seconds: None,
        revoke_tokens: false,
        revoke_before: None,
        require_present: false,
    })
    .unwrap();
    // The shell closes the session of everyone who left.
    net.engine.close(net.now, &ann);
    let before = net.got("ben", "ann");
    for _ in 0..5 {
        net.talk();
    }
    assert_eq!(net.got("ben", "ann"), before);
    assert!(!net.engine.has_session(&ann));
}

#[test]
fn a_bad_offer_is_refused_and_changes_nothing() {
    let mut net = Net::new();
    net.join("ann", false, 1);
    let sid = net.peers["ann"].sid.clone();
    let before = net.room.participant("ann").unwrap().clone();
    assert!(net.offer(&sid, "v=0\r\nnonsense", false).is_err());
    assert!(net.offer(&sid, "not sdp at all", false).is_err());
    assert_eq!(net.room.participant("ann").unwrap(), &before);
    assert!(
        net.engine.has_session(&sid),
        "the session it had is untouched"
    );
}

#[test]
fn junk_datagrams_are_dropped_as_unknown() {
    let mut net = Net::new();
    net.join("ann", true, 1);
    net.join("ben", false, 1);
    net.connect();
    let now = net.now;
    let server = common::SERVER.parse().unwrap();
    for i in 0..100u8 {
        let from = format!("10.9.9.9:{}", 1000 + i as u16).parse().unwrap();
        let junk = vec![i; 100 + i as usize];
        assert!(!net.engine.handle_receive(
            now,
            gavel_media::str0m::net::Protocol::Udp,
            from,
            server,
            &junk
        ));
    }
    assert!(net.engine.stats().dropped(gavel_media::DropReason::Unknown) >= 100);
    for _ in 0..5 {
        net.talk();
    }
    assert!(net.got("ben", "ann") >= 4, "the junk disturbed no session");
}

#[derive(Debug, Clone)]
enum Op {
    Talk,
    Mute(usize, bool),
    Revoke(usize),
    Restore(usize),
    Hide(usize, bool),
    Kick(usize),
    Subscribe(usize, usize, bool),
    DenyReceive(usize),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => Just(Op::Talk),
        2 => (0..4usize, any::<bool>()).prop_map(|(i, m)| Op::Mute(i, m)),
        1 => (0..4usize).prop_map(Op::Revoke),
        1 => (0..4usize).prop_map(Op::Restore),
        1 => (0..4usize, any::<bool>()).prop_map(|(i, h)| Op::Hide(i, h)),
        1 => (0..4usize).prop_map(Op::Kick),
        1 => (0..4usize, 0..4usize, any::<bool>()).prop_map(|(a, b, on)| Op::Subscribe(a, b, on)),
        1 => (0..4usize).prop_map(Op::DenyReceive),
    ]
}

fn patch(identity: &str, p: PermissionsPatch) -> Command {
    Command::UpdateParticipant {
        identity: identity.into(),
        permissions: Some(p),
        role: None,
        name: None,
        metadata: None,
        attributes: None,
        capabilities: None,
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, .. ProptestConfig::default() })]

    /// For any sequence of host controls and subscriptions, every frame a peer receives was
    /// allowed by the room at the moment it was forwarded. Three peers offer (publishing, with
    /// receive slots); the fourth, `lk`, is offered to, as LiveKit's subscriber connection.
    #[test]
    fn nothing_is_forwarded_that_the_room_did_not_allow(ops in proptest::collection::vec(op(), 1..40)) {
        let names = ["ann", "ben", "cat", "lk"];
        let mut net = Net::new();
        for n in &names[..3] {
            net.join(n, true, 2);
        }
        net.join_offered("lk");
        net.connect();
        let mut kicked = [false; 4];
        for op in ops {
            match op {
                Op::Talk => net.talk(),
                Op::Mute(i, m) => {
                    // Unmute by the host is a consent request by default: the participant
                    // unmutes itself instead.
                    if m { let _ = net.host(mute(names[i], true)); }
                    else if !kicked[i] {
                        if let Some(t) = net.room.participant(names[i]).and_then(|p| p.track(Source::Microphone).cloned()) {
                            let _ = net.act(names[i], Command::SetTrackMuted { track_sid: t.sid, muted: false });
                        }
                    }
                }
                Op::Revoke(i) => { let _ = net.host(patch(names[i], PermissionsPatch { can_send: Some(Default::default()), ..Default::default() })); }
                Op::Restore(i) => { let _ = net.host(patch(names[i], PermissionsPatch { can_send: Some(gavel_core::permissions::all_sources()), can_receive: Some(gavel_core::permissions::all_sources()), ..Default::default() })); }
                Op::Hide(i, h) => { let _ = net.host(patch(names[i], PermissionsPatch { hidden: Some(h), ..Default::default() })); }
                Op::DenyReceive(i) => { let _ = net.host(patch(names[i], PermissionsPatch { can_receive: Some(Default::default()), ..Default::default() })); }
                Op::Kick(i) => {
                    if !kicked[i] {
                        kicked[i] = true;
                        let sid = net.peers[names[i]].media_session.clone();
                        let _ = net.host(Command::Kick { identity: Some(names[i].into()), identities: None, ban_seconds: None, revoke_tokens: false, revoke_before: None, require_present: false });
                        net.engine.close(net.now, &sid);
                    }
                }
                Op::Subscribe(a, b, on) => {
                    if a != b && !kicked[a] {
                        net.subscribe(names[a], names[b], on);
                    }
                }
            }
        }
        prop_assert!(net.violations.is_empty(), "{:?}", net.violations);
    }
}

/// The server is an ICE-lite agent: it starts no checks, so it sends nothing to an address
/// that has not authenticated itself with a check (a forged offer cannot aim it at a third
/// party), and a receive-only client connects through its own checks.
#[test]
fn the_ice_lite_server_sends_nothing_unasked_and_receive_only_clients_connect() {
    use gavel_media::str0m::media::{Direction, MediaKind};
    use gavel_media::str0m::{Candidate, Rtc};
    use gavel_media::{EngineConfig, EngineOutput, MediaEngine};
    use std::time::{Duration, Instant};
    let start = Instant::now();
    let server: std::net::SocketAddr = common::SERVER.parse().unwrap();
    let client: std::net::SocketAddr = "10.0.0.9:4000".parse().unwrap();
    let mut engine = MediaEngine::new(EngineConfig {
        candidates: vec![(gavel_media::str0m::net::Protocol::Udp, server)],
        ..Default::default()
    });
    let mut peer = Rtc::builder().build(start);
    peer.add_local_candidate(Candidate::host(client, "udp").unwrap());
    let mut api = peer.sdp_api();
    api.add_media(MediaKind::Audio, Direction::RecvOnly, None, None, None);
    let (offer, _pending) = api.apply().unwrap();
    let answer = engine
        .accept_offer(start, "PA_x", &offer.to_sdp_string())
        .unwrap();
    assert!(answer.contains("a=ice-lite"), "{answer}");
    let mut now = start;
    for _ in 0..100 {
        now += Duration::from_millis(20);
        engine.handle_timeout(now);
        while let Some(out) = engine.poll_output() {
            if let EngineOutput::Transmit(t) = out {
                panic!(
                    "sent {} bytes to {} unasked",
                    t.contents.len(),
                    t.destination
                );
            }
        }
    }

    let mut net = Net::new();
    net.join("ann", true, 1);
    net.join("ben", false, 1);
    net.connect();
    for _ in 0..10 {
        net.talk();
    }
    assert!(
        net.got("ben", "ann") >= 8,
        "ben got {}",
        net.got("ben", "ann")
    );
}

#[test]
fn a_client_that_restarts_ice_is_reached_at_its_sessions_new_ufrag() {
    let mut net = Net::new();
    net.join("ann", true, 0);
    net.join("bob", false, 1);
    net.connect();
    for _ in 0..10 {
        net.talk();
    }
    assert!(net.got("bob", "ann") >= 8);
    // Bob offers again with new ICE credentials (a browser does when its ICE servers
    // change): str0m answers with new ones of its own, and Bob's checks name them.
    let sid = net.peers["bob"].sid.clone();
    let old = net.engine.ufrag(&sid).unwrap().to_string();
    let (offer, pending) = {
        let peer = net.peers.get_mut("bob").unwrap();
        let mut api = peer.rtc.sdp_api();
        api.ice_restart(true);
        api.apply().unwrap()
    };
    let answer = net.offer(&sid, &offer.to_sdp_string(), false).unwrap();
    net.peers
        .get_mut("bob")
        .unwrap()
        .rtc
        .sdp_api()
        .accept_answer(
            pending,
            gavel_media::str0m::change::SdpAnswer::from_sdp_string(&answer).unwrap(),
        )
        .unwrap();
    let new = net.engine.ufrag(&sid).unwrap().to_string();
    assert_ne!(
        old, new,
        "the session answered the restart with new credentials"
    );
    assert!(answer.contains(&format!("a=ice-ufrag:{new}")));
    // Checks with the new ufrag keep reaching the session: Bob goes on hearing Ann.
    let before = net.got("bob", "ann");
    for _ in 0..100 {
        net.talk();
    }
    assert!(
        net.got("bob", "ann") >= before + 80,
        "bob got {} after the restart",
        net.got("bob", "ann") - before
    );
}
