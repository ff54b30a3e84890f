//! The media plane end to end over real sockets: str0m peers (gavel-client's `MediaPeer`)
//! publish and receive through the server's UDP port on loopback; host controls act on the
//! packets while the sending client keeps sending.

mod common;

use common::media::{heard, talk};
use common::{expect, metric, ws_code, TestServer, WAIT};
use gavel_client::core::{Event, Source};
use gavel_client::media::MediaPeer;
use gavel_client::RtcClient;
use serde_json::json;
use std::net::IpAddr;
use std::time::Duration;

const LOOPBACK: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);

/// A participant with a media session.
struct Member {
    ws: RtcClient,
    media: MediaPeer,
}

async fn member(s: &TestServer, identity: &str, publish: &[Source]) -> Member {
    let ws = s.join("m", identity, "participant").await;
    let media = MediaPeer::open(&ws, LOOPBACK, publish, 2, 0)
        .await
        .unwrap_or_else(|e| panic!("{identity} cannot open media: {e}"));
    assert!(media.connected(WAIT).await, "{identity} never connected");
    Member { ws, media }
}

#[tokio::test]
async fn audio_flows_and_a_host_mute_silences_a_client_that_keeps_sending() {
    let s = TestServer::start().await;
    let host = s.join("m", "host", "host").await;
    let ann = member(&s, "ann", &[Source::Microphone]).await;
    let ben = member(&s, "ben", &[]).await;
    // ben is told which slot carries ann's microphone.
    let ann_track = &ann.media.tracks[0];
    let slots = ben
        .ws
        .wait_for(WAIT, |e| {
            serde_json::to_value(e).unwrap()["slots"]
                .as_array()
                .is_some_and(|s| s.iter().any(|x| x["track_sid"] == ann_track.sid.as_str()))
        })
        .await
        .expect("a slot map with ann's track");
    let json = serde_json::to_value(&slots).unwrap();
    assert!(
        json["slots"]
            .as_array()
            .unwrap()
            .iter()
            .any(|x| x["identity"] == "ann" && x["source"] == "microphone" && x["kind"] == "audio"),
        "{json}"
    );
    // Everyone sees the track as carried by media.
    let info = s.admin().get_participant("m", "ann").await.unwrap();
    assert_eq!(info["participant"]["tracks"][0]["media"], true, "{info}");

    let (_, got) = tokio::join!(
        talk(&ann.media, "before", 25),
        heard(&ben.media, Duration::from_millis(900))
    );
    assert!(
        got.get("before").copied().unwrap_or(0) >= 15,
        "ben got {got:?}"
    );

    host.command(&gavel_client::core::Command::Mute {
        identity: "ann".into(),
        source: Source::Microphone,
        muted: true,
    })
    .await
    .unwrap();
    // ann's client ignores the mute and keeps sending: nothing reaches ben.
    let (_, got) = tokio::join!(
        talk(&ann.media, "muted", 25),
        heard(&ben.media, Duration::from_millis(900))
    );
    assert_eq!(got.get("muted"), None, "frames after the mute: {got:?}");

    // The participant unmutes itself (a host unmute asks by default): media flows again.
    ann.ws
        .request(json!({"type": "set_track_muted", "track_sid": ann_track.sid, "muted": false}))
        .await
        .unwrap();
    let (_, got) = tokio::join!(
        talk(&ann.media, "after", 25),
        heard(&ben.media, Duration::from_millis(900))
    );
    assert!(
        got.get("after").copied().unwrap_or(0) >= 15,
        "ben got {got:?}"
    );

    let muted_drops = metric(&s, "gavel_media_dropped_total{reason=\"muted\"}").await;
    assert!(muted_drops >= 20.0, "muted drops: {muted_drops}");
    // Every session reports its connection quality (every 2 s).
    let rtt_samples = metric(&s, "gavel_media_rtt_seconds_count").await;
    assert!(rtt_samples > 0.0, "rtt samples: {rtt_samples}");
    s.stop().await;
}

#[tokio::test]
async fn revoking_the_microphone_unpublishes_and_a_kick_closes_the_media_session() {
    let s = TestServer::start().await;
    let _host = s.join("m", "host", "host").await;
    let ann = member(&s, "ann", &[Source::Microphone]).await;
    let ben = member(&s, "ben", &[Source::Microphone]).await;
    let (_, got) = tokio::join!(
        talk(&ann.media, "ann", 15),
        heard(&ben.media, Duration::from_millis(600))
    );
    assert!(got.get("ann").copied().unwrap_or(0) >= 8, "{got:?}");

    s.admin()
        .update_participant("m", "ann", json!({"permissions": {"can_send": []}}))
        .await
        .unwrap();
    let (_, got) = tokio::join!(
        talk(&ann.media, "ann", 15),
        heard(&ben.media, Duration::from_millis(600))
    );
    assert_eq!(got.get("ann"), None, "{got:?}");
    let info = s.admin().get_participant("m", "ann").await.unwrap();
    assert_eq!(info["participant"]["tracks"], json!([]), "{info}");

    // ben is kicked: his media stops reaching ann, and nothing reaches him.
    s.admin().remove("m", "ben", None).await.unwrap();
    let (_, got) = tokio::join!(
        talk(&ben.media, "ben", 15),
        heard(&ann.media, Duration::from_millis(600))
    );
    assert_eq!(got.get("ben"), None, "{got:?}");
    s.stop().await;
}

#[tokio::test]
async fn offers_for_forbidden_sources_or_malformed_sdp_are_refused_and_change_nothing() {
    let s = TestServer::start().await;
    let vic = s.join("m", "vic", "viewer").await;
    let r = MediaPeer::open(&vic, LOOPBACK, &[Source::Microphone], 1, 0).await;
    assert_eq!(r.err().map(|e| e.code.as_str()), Some("permission_denied"));
    let bad = vic
        .request(json!({"type": "media_offer", "sdp": "v=0\r\ngarbage", "tracks": []}))
        .await;
    assert_eq!(ws_code(bad), "invalid_argument");
    let not_sdp = vic
        .request(json!({"type": "media_offer", "sdp": "hello", "tracks": []}))
        .await;
    assert_eq!(ws_code(not_sdp), "invalid_argument");
    let early = vic
        .request(json!({"type": "media_candidate", "candidate": "candidate:1 1 udp 1 127.0.0.1 9 typ host"}))
        .await;
    assert_eq!(ws_code(early), "failed_precondition");
    let info = s.admin().get_participant("m", "vic").await.unwrap();
    assert_eq!(info["participant"]["tracks"], json!([]));
    // A viewer may still receive.
    let ok = MediaPeer::open(&vic, LOOPBACK, &[], 1, 0).await;
    assert!(ok.is_ok());
    // Once a session exists, a malformed candidate is invalid_argument.
    let junk = vic
        .request(json!({"type": "media_candidate", "candidate": "candidate:not a candidate"}))
        .await;
    assert_eq!(ws_code(junk), "invalid_argument");
    s.stop().await;
}

#[tokio::test]
async fn server_offers_need_a_subscriber_session_and_bad_answers_are_refused() {
    let s = TestServer::start().await;
    let vic = s.join("m", "vic", "participant").await;
    let early = vic
        .request(json!({"type": "media_answer", "sdp": "v=0\r\n"}))
        .await;
    assert_eq!(ws_code(early), "failed_precondition");
    let opened = vic.request(json!({"type": "media_subscribe"})).await;
    assert!(opened.is_ok(), "{opened:?}");
    let Event::MediaOffer { sdp } = expect(&vic, "media_offer").await else {
        unreachable!()
    };
    assert!(sdp.contains("m=application"), "the data channels: {sdp}");
    let again = vic.request(json!({"type": "media_subscribe"})).await;
    assert_eq!(ws_code(again), "failed_precondition");
    let bad = vic
        .request(json!({"type": "media_answer", "sdp": "nonsense"}))
        .await;
    assert_eq!(ws_code(bad), "invalid_argument");
    let junk = vic
        .request(json!({"type": "media_candidate", "candidate": "candidate:not a candidate", "subscriber": true}))
        .await;
    assert_eq!(ws_code(junk), "invalid_argument");
    s.stop().await;
}

#[tokio::test]
async fn a_moved_participant_keeps_its_media_session_in_the_destination() {
    let s = TestServer::start().await;
    let admin = s.admin();
    admin.create_room("m", json!({})).await.unwrap();
    admin
        .create_room("m-breakout", json!({"parent": "m"}))
        .await
        .unwrap();
    let ann = member(&s, "ann", &[Source::Microphone]).await;
    let ben = member(&s, "ben", &[]).await;
    let cy_ws = s.join("m-breakout", "cy", "participant").await;
    let cy = Member {
        media: MediaPeer::open(&cy_ws, LOOPBACK, &[], 2, 0).await.unwrap(),
        ws: cy_ws,
    };
    assert!(cy.media.connected(WAIT).await);
    let (_, got) = tokio::join!(
        talk(&ann.media, "main", 15),
        heard(&ben.media, Duration::from_millis(600))
    );
    assert!(got.get("main").copied().unwrap_or(0) >= 8, "{got:?}");

    admin
        .move_participant("m", "ann", "m-breakout")
        .await
        .unwrap();
    ann.ws.wait_type("moved", WAIT).await.expect("moved");
    // No new offer: the same session now forwards in the breakout, and no longer in the main room.
    let (_, at_cy, at_ben) = tokio::join!(
        talk(&ann.media, "breakout", 25),
        heard(&cy.media, Duration::from_millis(900)),
        heard(&ben.media, Duration::from_millis(900))
    );
    assert!(
        at_cy.get("breakout").copied().unwrap_or(0) >= 10,
        "{at_cy:?}"
    );
    assert_eq!(at_ben.get("breakout"), None, "{at_ben:?}");
    let info = admin.get_participant("m-breakout", "ann").await.unwrap();
    assert_eq!(info["participant"]["tracks"][0]["media"], true, "{info}");
    s.stop().await;
}

#[tokio::test]
async fn junk_datagrams_on_the_media_port_disturb_no_session() {
    let s = TestServer::start().await;
    let port = s
        .server
        .as_ref()
        .unwrap()
        .registry
        .media
        .get()
        .expect("a media plane")
        .local;
    let ann = member(&s, "ann", &[Source::Microphone]).await;
    let ben = member(&s, "ben", &[]).await;
    // 20,000 junk datagrams (STUN-looking, RTP-looking, random) from an unknown address, while
    // ann talks: bounded in count, sent to loopback only.
    let flood = tokio::spawn(async move {
        let sock = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
        for i in 0..20_000u32 {
            let mut junk = vec![(i % 256) as u8; 40 + (i % 900) as usize];
            if i % 3 == 0 {
                junk[0] = 0;
                junk[4..8].copy_from_slice(&[0x21, 0x12, 0xa4, 0x42]);
            } else if i % 3 == 1 {
                junk[0] = 0x80;
            }
            let _ = sock.send_to(&junk, port).await;
            if i % 500 == 0 {
                tokio::task::yield_now().await;
            }
        }
    });
    let (_, got) = tokio::join!(
        talk(&ann.media, "through", 25),
        heard(&ben.media, Duration::from_millis(900))
    );
    flood.await.unwrap();
    assert!(
        got.get("through").copied().unwrap_or(0) >= 15,
        "ben got {got:?}"
    );
    let junk = metric(&s, "gavel_media_dropped_total{reason=\"unknown\"}").await;
    assert!(junk > 0.0, "junk is counted");
    s.stop().await;
}

#[tokio::test]
async fn a_client_that_cannot_use_udp_sends_and_receives_over_ice_tcp() {
    let s = TestServer::start().await;
    let _host = s.join("m", "host", "host").await;
    let ann_ws = s.join("m", "ann", "participant").await;
    let ann = Member {
        media: MediaPeer::open_tcp(&ann_ws, LOOPBACK, &[Source::Microphone], 2, 0)
            .await
            .unwrap(),
        ws: ann_ws,
    };
    assert!(ann.media.connected(WAIT).await, "ICE-TCP never connected");
    let ben = member(&s, "ben", &[Source::Microphone]).await;
    let (_, got) = tokio::join!(
        talk(&ann.media, "tcp", 25),
        heard(&ben.media, Duration::from_millis(900))
    );
    assert!(
        got.get("tcp").copied().unwrap_or(0) >= 15,
        "ben got {got:?}"
    );
    let (_, got) = tokio::join!(
        talk(&ben.media, "udp", 25),
        heard(&ann.media, Duration::from_millis(900))
    );
    assert!(
        got.get("udp").copied().unwrap_or(0) >= 15,
        "ann got {got:?}"
    );
    // A host mute acts on TCP-borne media like any other.
    s.admin()
        .mute("m", "ann", "microphone", true)
        .await
        .unwrap();
    let (_, got) = tokio::join!(
        talk(&ann.media, "muted", 20),
        heard(&ben.media, Duration::from_millis(700))
    );
    assert_eq!(got.get("muted"), None, "{got:?}");
    s.stop().await;
}

#[tokio::test]
async fn media_flows_over_ipv6_when_the_server_binds_an_ipv6_address() {
    let Ok(probe) = std::net::UdpSocket::bind("[::1]:0") else {
        panic!("this machine has no IPv6 loopback; the test needs one");
    };
    drop(probe);
    let mut config = TestServer::config();
    config.bind = "[::1]:0".parse().unwrap();
    let s = TestServer::with_config(config).await;
    let v6: IpAddr = "::1".parse().unwrap();
    let ann_ws = s.join("m", "ann", "participant").await;
    let ann = Member {
        media: MediaPeer::open(&ann_ws, v6, &[Source::Microphone], 1, 0)
            .await
            .unwrap(),
        ws: ann_ws,
    };
    let ben_ws = s.join("m", "ben", "participant").await;
    let ben = Member {
        media: MediaPeer::open(&ben_ws, v6, &[], 1, 0).await.unwrap(),
        ws: ben_ws,
    };
    assert!(ann.media.connected(WAIT).await && ben.media.connected(WAIT).await);
    let (_, got) = tokio::join!(
        talk(&ann.media, "v6", 25),
        heard(&ben.media, Duration::from_millis(900))
    );
    assert!(got.get("v6").copied().unwrap_or(0) >= 15, "ben got {got:?}");
    s.stop().await;
}

/// Seed 004: an attendee's capability lowered to `Receive` stops its audio at the server; raised
/// back to `SendReceive`, "audio will flow from the attendee to the other meeting participants"
/// — on the same m-line, without a new offer from the client.
/// A client's offer that crosses a revoke still lists the revoked source's line: the rest of
/// the offer stands (the line stays suspended, and comes back once the source is allowed
/// again); only a new line for a forbidden source refuses an offer.
#[tokio::test]
async fn an_offer_that_crosses_a_revoke_keeps_its_other_tracks() {
    use gavel_client::core::{Command, OfferedTrack};
    use gavel_client::media::str0m::change::SdpAnswer;
    use gavel_client::media::str0m::media::{Direction, MediaKind};
    use gavel_client::media::str0m::{Candidate, Rtc};
    let s = TestServer::start().await;
    let _host = s.join("m", "host", "host").await;
    let ann = s.join("m", "ann", "participant").await;
    let mut peer = Rtc::builder().build(std::time::Instant::now());
    peer.add_local_candidate(Candidate::host("127.0.0.1:9".parse().unwrap(), "udp").unwrap());
    let offer = |peer: &mut Rtc, add: Option<MediaKind>| {
        let mut api = peer.sdp_api();
        let mid = add.map(|kind| api.add_media(kind, Direction::SendOnly, None, None, None));
        let (offer, pending) = api.apply().expect("something to offer");
        (offer.to_sdp_string(), pending, mid.map(|m| m.to_string()))
    };
    let answer = |peer: &mut Rtc, pending, reply: &serde_json::Value| {
        let sdp = SdpAnswer::from_sdp_string(reply["sdp"].as_str().unwrap()).unwrap();
        peer.sdp_api().accept_answer(pending, sdp).unwrap();
    };
    let sources = |tracks: &serde_json::Value| -> Vec<String> {
        let mut v: Vec<String> = tracks
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["source"].as_str().unwrap().to_string())
            .collect();
        v.sort();
        v
    };
    let tracks_of = || async {
        s.admin().get_participant("m", "ann").await.unwrap()["participant"]["tracks"].clone()
    };

    // The camera goes out first.
    let (sdp, pending, camera) = offer(&mut peer, Some(MediaKind::Video));
    let camera = camera.unwrap();
    let track = |mid: &str, source| OfferedTrack {
        mid: mid.to_string(),
        source,
    };
    let reply = ann
        .command(&Command::MediaOffer {
            sdp,
            tracks: vec![track(&camera, Source::Camera)],
        })
        .await
        .expect("the camera is accepted");
    answer(&mut peer, pending, &reply);

    // The camera is revoked while the client adds its microphone, and its offer still sends
    // on the camera's line.
    s.admin()
        .update_participant(
            "m",
            "ann",
            json!({"permissions": {"can_send": ["microphone"]}}),
        )
        .await
        .unwrap();
    assert_eq!(tracks_of().await, json!([]));
    let (sdp, pending, mic) = offer(&mut peer, Some(MediaKind::Audio));
    let mic = mic.unwrap();
    let reply = ann
        .command(&Command::MediaOffer {
            sdp,
            tracks: vec![
                track(&camera, Source::Camera),
                track(&mic, Source::Microphone),
            ],
        })
        .await
        .expect("the offer stands without the revoked camera");
    answer(&mut peer, pending, &reply);
    let published: Vec<&str> = reply["tracks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["track"]["source"].as_str().unwrap())
        .collect();
    assert_eq!(published, ["microphone"], "{reply}");
    assert_eq!(sources(&tracks_of().await), ["microphone"]);

    // A new line for a forbidden source is refused, and changes nothing.
    let (sdp, _, second) = offer(&mut peer, Some(MediaKind::Video));
    let refused = ann
        .command(&Command::MediaOffer {
            sdp,
            tracks: vec![
                track(&camera, Source::Camera),
                track(&mic, Source::Microphone),
                track(&second.unwrap(), Source::ScreenVideo),
            ],
        })
        .await;
    assert_eq!(
        refused.err().map(|e| e.code.as_str()),
        Some("permission_denied")
    );
    assert_eq!(sources(&tracks_of().await), ["microphone"]);

    // Allowed again: the camera comes back on its line.
    s.admin()
        .update_participant(
            "m",
            "ann",
            json!({"permissions": {"can_send": ["microphone", "camera"]}}),
        )
        .await
        .unwrap();
    assert_eq!(sources(&tracks_of().await), ["camera", "microphone"]);
    s.stop().await;
}

#[tokio::test]
async fn chime_capabilities_stop_and_restart_an_attendees_audio() {
    let s = TestServer::start().await;
    let api = s.admin();
    let caps = |audio: &str| json!({"capabilities": {"Audio": audio, "Video": "SendReceive", "Content": "SendReceive"}});
    let ann = member(&s, "ann", &[Source::Microphone]).await;
    let ben = member(&s, "ben", &[]).await;
    let (_, got) = tokio::join!(
        talk(&ann.media, "before", 15),
        heard(&ben.media, Duration::from_millis(600))
    );
    assert!(got.get("before").copied().unwrap_or(0) >= 8, "{got:?}");

    api.update_participant("m", "ann", caps("Receive"))
        .await
        .unwrap();
    let (_, got) = tokio::join!(
        talk(&ann.media, "receive", 20),
        heard(&ben.media, Duration::from_millis(700))
    );
    assert_eq!(got.get("receive"), None, "{got:?}");
    let p = api.get_participant("m", "ann").await.unwrap();
    assert_eq!(p["participant"]["tracks"], json!([]), "{p}");

    api.update_participant("m", "ann", caps("SendReceive"))
        .await
        .unwrap();
    let (_, got) = tokio::join!(
        talk(&ann.media, "again", 25),
        heard(&ben.media, Duration::from_millis(900))
    );
    assert!(got.get("again").copied().unwrap_or(0) >= 15, "{got:?}");
    let p = api.get_participant("m", "ann").await.unwrap();
    assert_eq!(p["participant"]["tracks"][0]["media"], true, "{p}");
    s.stop().await;
}
