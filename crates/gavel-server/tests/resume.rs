//! Sessions that survive a network blip: a client whose TCP connection is cut (no close
//! frame) resumes within the grace period — nobody sees it leave or come back, it gets every
//! message it missed exactly once and in order, with its numbering unbroken; past the grace
//! period it leaves (`disconnected`) and a later connect is a fresh join; a kicked participant
//! cannot resume; a resume needs a valid token of that identity.

mod common;

use common::proxy::Proxy;
use common::*;
use gavel_client::core::{Event, LeaveReason};
use gavel_client::{Message, RtcClient};
use gavel_server::config::Limits;
use serde_json::json;
use std::time::Duration;

/// Whether any of `messages` is `participant_left` for `identity`.
fn saw_leave(messages: &[Message], identity: &str) -> bool {
    messages.iter().any(|m| {
        matches!(m, Message::Event { event: Event::ParticipantLeft { identity: i, .. }, .. } if i == identity)
    })
}

#[tokio::test]
async fn a_cut_connection_resumes_with_every_missed_message_once_and_nobody_sees_it_leave() {
    let s = TestServer::start().await;
    let server = s.server.as_ref().unwrap().addr;
    let proxy = Proxy::start(server).await;
    let host = s.join("r", "host", "host").await;
    let ann = RtcClient::connect(&proxy.ws, &s.token("r", "ann", "participant"))
        .await
        .unwrap();
    let ben = s.join("r", "ben", "participant").await;
    expect(&ann, "participant_joined").await;
    settle(&host).await;
    settle(&ann).await;
    let sid = ann.sid().to_string();

    // The network fails, and stays down while the room goes on.
    proxy.refuse(true);
    proxy.cut();
    ben.publish("microphone").await.unwrap();
    s.admin()
        .update_participant("r", "ben", json!({"metadata": "away-1"}))
        .await
        .unwrap();
    s.admin()
        .mute("r", "ben", "microphone", true)
        .await
        .unwrap();
    // Ann's own state changes too while she is away.
    s.admin()
        .update_participant("r", "ann", json!({"metadata": "away-2"}))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    // The network is back: the client resumes by itself.
    proxy.refuse(false);
    let mut missed = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let Some(m) = ann.next(left).await else {
            panic!("ann's own update never came: {missed:#?}");
        };
        let last = matches!(&m, Message::Event { event: Event::ParticipantUpdated { participant, .. }, .. } if participant.identity == "ann");
        missed.push(m);
        if last {
            break;
        }
    }
    missed.extend(settle(&ann).await);
    let count = |pred: &dyn Fn(&Event) -> bool| {
        missed
            .iter()
            .filter(|m| matches!(m, Message::Event { event, .. } if pred(event)))
            .count()
    };
    // Each missed event exactly once, in the room's order.
    assert_eq!(
        count(&|e| matches!(e, Event::TrackPublished { .. })),
        1,
        "{missed:#?}"
    );
    assert_eq!(
        count(&|e| matches!(e, Event::TrackMuted { .. })),
        1,
        "{missed:#?}"
    );
    assert_eq!(
        count(
            &|e| matches!(e, Event::ParticipantUpdated { participant, .. } if participant.identity == "ben")
        ),
        1,
        "{missed:#?}"
    );
    let kinds: Vec<&str> = missed
        .iter()
        .filter_map(|m| match m {
            Message::Event { event, .. } => Some(event.kind()),
            _ => None,
        })
        .filter(|k| ["track_published", "participant_updated", "track_muted"].contains(k))
        .collect();
    assert_eq!(
        kinds,
        [
            "track_published",
            "participant_updated",
            "track_muted",
            "participant_updated"
        ],
        "{missed:#?}"
    );
    assert!(
        !missed.iter().any(|m| matches!(
            m,
            Message::Event {
                event: Event::Joined { .. },
                ..
            }
        )),
        "no fresh snapshot: the missed messages were all kept"
    );

    let state = ann.state();
    let ben_there = &state.participants["ben"];
    assert_eq!(ben_there.metadata, "away-1");
    assert!(ben_there.tracks[0].muted, "{ben_there:?}");
    assert_eq!(state.me.as_ref().unwrap().metadata, "away-2");
    assert_eq!(ann.sid(), sid, "the same session");
    assert_eq!(ann.seq_break(), None, "numbering unbroken");

    // Nobody saw ann leave or join again.
    for (who, c) in [("host", &host), ("ben", &ben)] {
        let got = settle(c).await;
        assert!(!saw_leave(&got, "ann"), "{who} saw ann leave: {got:#?}");
        assert!(
            !got.iter().any(|m| matches!(m, Message::Event { event: Event::ParticipantJoined { participant }, .. } if participant.identity == "ann")),
            "{who} saw ann join again"
        );
    }
    // And she is still in the room, live.
    ann.request(json!({"type": "ping"})).await.unwrap();
    assert_eq!(metric(&s, "gavel_sessions_suspended_total").await, 1.0);
    assert_eq!(
        metric(&s, "gavel_sessions_resumed_total{outcome=\"resumed\"}").await,
        1.0
    );
    s.stop().await;
}

#[tokio::test]
async fn past_the_grace_period_it_leaves_and_a_later_connect_is_a_fresh_join() {
    let s = TestServer::with_limits(Limits {
        resume_grace_ms: 500,
        ..Limits::default()
    })
    .await;
    let proxy = Proxy::start(s.server.as_ref().unwrap().addr).await;
    let host = s.join("g", "host", "host").await;
    let token = s.token("g", "ann", "participant");
    let ann = RtcClient::connect(&proxy.ws, &token).await.unwrap();
    expect(&host, "participant_joined").await;
    let old_sid = ann.sid().to_string();
    proxy.refuse(true);
    proxy.cut();
    let left = host
        .wait_for(
            Duration::from_secs(10),
            |e| matches!(e, Event::ParticipantLeft { identity, .. } if identity == "ann"),
        )
        .await
        .unwrap();
    assert!(
        matches!(
            left,
            Event::ParticipantLeft {
                reason: LeaveReason::Disconnected,
                ..
            }
        ),
        "{left:?}"
    );
    // The raw resume is refused, with a clear error…
    let url = format!(
        "{}/v1/rtc?access_token={token}&resume={old_sid}&last_seq=3&last_ev=3",
        s.ws
    );
    let (mut ws, _) = tokio_tungstenite::connect_async(&url).await.unwrap();
    use futures_util::StreamExt;
    let first = ws.next().await.unwrap().unwrap().into_text().unwrap();
    let v: serde_json::Value = serde_json::from_str(&first).unwrap();
    assert_eq!(v["type"], "error", "{v}");
    assert_eq!(v["error"]["code"], "not_found", "{v}");
    // …and a plain connect is a fresh join.
    let again = RtcClient::connect(&s.ws, &token).await.unwrap();
    assert_ne!(again.sid(), old_sid);
    expect(&host, "participant_joined").await;
    s.stop().await;
}

#[tokio::test]
async fn a_participant_kicked_while_away_cannot_resume_and_resumes_need_its_own_token() {
    let s = TestServer::start().await;
    let host = s.join("k", "host", "host").await;
    let ann_token = s.token("k", "ann", "participant");
    let ann = s.join("k", "ann", "participant").await;
    let sid = ann.sid().to_string();
    expect(&host, "participant_joined").await;

    // Someone else's token cannot take ann's session over.
    let ben_token = s.token("k", "ben", "participant");
    let url = |token: &str| {
        format!(
            "{}/v1/rtc?access_token={token}&resume={sid}&last_seq=1&last_ev=1",
            s.ws
        )
    };
    use futures_util::StreamExt;
    let (mut ws, _) = tokio_tungstenite::connect_async(&url(&ben_token))
        .await
        .unwrap();
    let first = ws.next().await.unwrap().unwrap().into_text().unwrap();
    assert!(first.contains("\"not_found\""), "{first}");
    // Half a resume is bad input.
    let half = format!("{}/v1/rtc?access_token={ann_token}&resume={sid}", s.ws);
    let r = tokio_tungstenite::connect_async(&half).await;
    assert!(r.is_err(), "refused before the upgrade");

    s.admin().remove("k", "ann", None).await.unwrap();
    let (mut ws, _) = tokio_tungstenite::connect_async(&url(&ann_token))
        .await
        .unwrap();
    let first = ws.next().await.unwrap().unwrap().into_text().unwrap();
    assert!(first.contains("\"not_found\""), "{first}");
    drop(ann);
    s.stop().await;
}

/// In cluster mode a client resumes through any node: here it joined through the room's owner
/// and resumes through the other node, which becomes its edge.
#[tokio::test]
async fn a_session_resumes_through_another_node_of_the_cluster() {
    use common::cluster::Cluster;
    let cluster = Cluster::start("resume").await;
    let a = TestServer::with_config(cluster.node("a", 3_000, 500)).await;
    let b = TestServer::with_config(cluster.node("b", 3_000, 500)).await;
    let proxy = Proxy::start(a.server.as_ref().unwrap().addr).await;
    let host = a.join("c", "host", "host").await;
    let ann = RtcClient::connect(&proxy.ws, &a.token("c", "ann", "participant"))
        .await
        .unwrap();
    expect(&host, "participant_joined").await;
    settle(&host).await;
    let sid = ann.sid().to_string();

    proxy.refuse(true);
    proxy.cut();
    a.admin()
        .update_participant("c", "ann", json!({"metadata": "while-away"}))
        .await
        .unwrap();
    proxy.retarget(b.server.as_ref().unwrap().addr);
    proxy.refuse(false);
    let updated = ann
        .wait_for(Duration::from_secs(15), |e| {
            matches!(e, Event::ParticipantUpdated { participant, .. } if participant.metadata == "while-away")
        })
        .await;
    assert!(updated.is_ok(), "{updated:?}");
    assert_eq!(ann.sid(), sid);
    assert_eq!(ann.seq_break(), None);
    // Live through its new edge: its requests reach the owner, its events come back.
    ann.request(json!({"type": "update_self", "metadata": "back"}))
        .await
        .unwrap();
    let got = settle(&host).await;
    assert!(!saw_leave(&got, "ann"), "{got:#?}");
    assert!(got.iter().any(|m| matches!(m, Message::Event { event: Event::ParticipantUpdated { participant, .. }, .. } if participant.metadata == "back")), "{got:#?}");
    a.stop().await;
    b.stop().await;
}

/// The media session survives the blip: once the signalling resumed, `MediaPeer` restarts ICE
/// (the server answers with new credentials) and frames still flow both ways.
#[tokio::test]
async fn after_a_resume_the_media_session_restarts_ice_and_keeps_flowing() {
    use common::media::frames_heard;
    use gavel_client::core::Source;
    use gavel_client::media::MediaPeer;
    let loopback = std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);
    let s = TestServer::start().await;
    let proxy = Proxy::start(s.server.as_ref().unwrap().addr).await;
    let ann_ws = RtcClient::connect(&proxy.ws, &s.token("mr", "ann", "participant"))
        .await
        .unwrap();
    let ben_ws = s.join("mr", "ben", "participant").await;
    let mut ann = MediaPeer::open(&ann_ws, loopback, &[Source::Microphone], 1, 0)
        .await
        .unwrap();
    let ben = MediaPeer::open(&ben_ws, loopback, &[Source::Microphone], 1, 0)
        .await
        .unwrap();
    assert!(ann.connected(WAIT).await && ben.connected(WAIT).await);
    let hears = |n: usize| n >= 10;
    assert!(
        hears(frames_heard(&ann, &ben, "a").await),
        "ann → ben before"
    );

    proxy.cut();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while ann_ws.resumes() == 0 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(ann_ws.resumes(), 1, "the signalling resumed");
    let before = ann.server_ufrag().to_string();
    ann.restart_ice(&ann_ws).await.unwrap();
    assert_ne!(ann.server_ufrag(), before, "new server credentials");
    // Frames flow both ways once the restarted ICE has checked its pair again.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        hears(frames_heard(&ann, &ben, "b").await),
        "ann → ben after"
    );
    assert!(
        hears(frames_heard(&ben, &ann, "c").await),
        "ben → ann after"
    );
    s.stop().await;
}
