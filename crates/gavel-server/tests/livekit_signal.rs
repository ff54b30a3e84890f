//! LiveKit's signalling protocol on `/rtc`, spoken by hand over a real socket (protobuf
//! `SignalRequest` / `SignalResponse`): the answers LiveKit's SDKs rely on that the SDK tests
//! (`livekit_client.rs`, `tests/browser/livekit.test.js`) cannot easily provoke.

mod common;

use common::*;
use futures_util::{SinkExt, StreamExt};
use gavel_client::core::Event;
use livekit_protocol as lk;
use lk::signal_request::Message as Request_;
use lk::signal_response::Message as Response_;
use prost::Message as _;
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn connect(ts: &TestServer, query: &str) -> Socket {
    let url = format!("{}/rtc?{query}", ts.ws);
    tokio_tungstenite::connect_async(url).await.unwrap().0
}

/// The next `SignalResponse` (None once the server closed).
async fn next(ws: &mut Socket) -> Option<Response_> {
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(5), ws.next())
            .await
            .expect("a message within 5 s")?;
        match msg.ok()? {
            Message::Binary(b) => return lk::SignalResponse::decode(b.as_ref()).unwrap().message,
            Message::Close(_) => return None,
            _ => continue,
        }
    }
}

async fn request(ws: &mut Socket, message: Request_) {
    let bytes = lk::SignalRequest {
        message: Some(message),
    }
    .encode_to_vec();
    ws.send(Message::Binary(bytes.into())).await.unwrap();
}

/// The subscriber offer next on `ws` (updates and the rest are skipped), and its ICE ufrag.
async fn next_offer(ws: &mut Socket) -> String {
    loop {
        if let Response_::Offer(o) = next(ws).await.expect("an offer") {
            return o
                .sdp
                .lines()
                .find_map(|l| l.strip_prefix("a=ice-ufrag:"))
                .expect("an ice-ufrag")
                .to_string();
        }
    }
}

/// Whether `client` sees `identity` leave within a short while.
async fn sees_leave(client: &gavel_client::RtcClient, identity: &str) -> bool {
    let left = client.wait_for(
        Duration::from_millis(700),
        |e| matches!(e, Event::ParticipantLeft { identity: who, .. } if who == identity),
    );
    left.await.is_ok()
}

/// A LiveKit client whose socket breaks (no close frame, no `leave`) resumes with
/// `reconnect=1&sid=…`: a `ReconnectResponse` first, then what changed meanwhile as whole
/// participants with newer versions (one who joined; one who left, as disconnected), and an
/// ICE restart offer on its subscriber connection (new credentials; the offer it never
/// answered is withdrawn). Nobody saw it leave, and its session answers. Another identity's
/// token, or an unknown session, is told to join again and joins nothing.
#[tokio::test]
async fn a_broken_socket_resumes_with_what_changed_and_an_ice_restart() {
    let ts = TestServer::start().await;
    let wes = ts.join("lk-resume", "wes", "host").await;
    let cy = ts.join("lk-resume", "cy", "participant").await;
    let token = ts.token("lk-resume", "lee", "participant");
    let mut ws = connect(&ts, &format!("access_token={token}")).await;
    let Some(Response_::Join(join)) = next(&mut ws).await else {
        panic!("a JoinResponse first")
    };
    let me = join.participant.unwrap();
    let cy_before = join.other_participants.iter().find(|p| p.identity == "cy");
    let cy_before = cy_before.expect("cy listed").version;
    let first_ufrag = next_offer(&mut ws).await;
    expect_kinds(&wes, &["participant_joined", "participant_joined"]).await;

    // The socket breaks: gone with no close frame and no leave. Meanwhile cy leaves and ann
    // joins.
    drop(ws);
    cy.close().await;
    let _ann = ts.join("lk-resume", "ann", "participant").await;
    expect_kinds(&wes, &["participant_left", "participant_joined"]).await;

    for (query, who) in [
        (
            format!(
                "access_token={}&reconnect=1&sid={}",
                ts.token("lk-resume", "bob", "participant"),
                me.sid
            ),
            "another identity",
        ),
        (
            format!("access_token={token}&reconnect=1&sid=PA_unknown"),
            "an unknown session",
        ),
    ] {
        let mut other = connect(&ts, &query).await;
        let Some(Response_::Leave(leave)) = next(&mut other).await else {
            panic!("{who}: a Leave first")
        };
        assert_eq!(
            leave.action,
            lk::leave_request::Action::Reconnect as i32,
            "{who}"
        );
        assert!(next(&mut other).await.is_none(), "{who}: then the close");
    }

    let mut ws = connect(
        &ts,
        &format!("access_token={token}&reconnect=1&sid={}", me.sid),
    )
    .await;
    let Some(Response_::Reconnect(reconnected)) = next(&mut ws).await else {
        panic!("a ReconnectResponse first")
    };
    assert!(reconnected.server_info.is_some());
    let update = loop {
        if let Response_::Update(u) = next(&mut ws).await.expect("an update") {
            break u;
        }
    };
    let find = |identity: &str| {
        update
            .participants
            .iter()
            .find(|p| p.identity == identity)
            .unwrap_or_else(|| panic!("{identity} in {update:?}"))
            .clone()
    };
    let (ann, cy, lee) = (find("ann"), find("cy"), find("lee"));
    assert_eq!(ann.state, lk::participant_info::State::Active as i32);
    assert_eq!(cy.state, lk::participant_info::State::Disconnected as i32);
    assert!(
        cy.version > cy_before,
        "a newer version, or the SDK ignores it"
    );
    assert!(lee.version > me.version);
    assert_eq!(lee.sid, me.sid, "the same session");
    let ufrag = next_offer(&mut ws).await;
    assert_ne!(ufrag, first_ufrag, "the subscriber connection restarts ICE");
    assert!(!sees_leave(&wes, "lee").await, "nobody saw lee leave");
    request(
        &mut ws,
        Request_::PingReq(lk::Ping {
            timestamp: 7,
            rtt: 0,
        }),
    )
    .await;
    let pong = loop {
        if let Response_::PongResp(p) = next(&mut ws).await.expect("a pong") {
            break p;
        }
    };
    assert_eq!(pong.last_ping_timestamp, 7);
    let listed = ts.admin().list_participants("lk-resume").await.unwrap();
    let identities: Vec<&str> = listed["participants"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["identity"].as_str())
        .collect();
    assert!(!identities.contains(&"bob"), "{identities:?}");
    ws.close(None).await.unwrap();
    ts.stop().await;
}

/// Past the grace period a broken LiveKit session leaves (`disconnected`), and its resume is
/// told to join again.
#[tokio::test]
async fn past_the_grace_period_a_broken_livekit_session_leaves() {
    let ts = TestServer::with_limits(gavel_server::config::Limits {
        resume_grace_ms: 300,
        ..Default::default()
    })
    .await;
    let wes = ts.join("lk-expire", "wes", "host").await;
    let token = ts.token("lk-expire", "lee", "participant");
    let mut ws = connect(&ts, &format!("access_token={token}")).await;
    let Some(Response_::Join(join)) = next(&mut ws).await else {
        panic!("a JoinResponse first")
    };
    drop(ws);
    let left = wes.wait_for(
        Duration::from_secs(10),
        |e| matches!(e, Event::ParticipantLeft { identity, .. } if identity == "lee"),
    );
    let left = left.await.expect("lee leaves after the grace period");
    assert!(
        matches!(
            left,
            Event::ParticipantLeft {
                reason: gavel_client::core::LeaveReason::Disconnected,
                ..
            }
        ),
        "{left:?}"
    );
    let sid = join.participant.unwrap().sid;
    let mut ws = connect(&ts, &format!("access_token={token}&reconnect=1&sid={sid}")).await;
    let Some(Response_::Leave(leave)) = next(&mut ws).await else {
        panic!("a Leave first")
    };
    assert_eq!(leave.action, lk::leave_request::Action::Reconnect as i32);
    ts.stop().await;
}

/// A viewer may publish nothing: its `AddTrackRequest` is answered with `RequestResponse`
/// NOT_ALLOWED carrying the request (LiveKit's SDKs wait for an answer), and nobody hears of a
/// track. A participant's is answered with the track's sid, and still nobody hears of it until
/// media is offered.
#[tokio::test]
async fn add_track_is_answered_with_the_reserved_track_or_a_refusal() {
    let ts = TestServer::start().await;
    let watcher = ts.join("lk-add", "wes", "host").await;
    let vic = ts.token("lk-add", "vic", "viewer");
    let mut ws = connect(&ts, &format!("access_token={vic}")).await;
    let Some(Response_::Join(join)) = next(&mut ws).await else {
        panic!("a JoinResponse first")
    };
    assert_eq!(join.participant.unwrap().identity, "vic");
    let add = |cid: &str, source: lk::TrackSource, kind: lk::TrackType| lk::AddTrackRequest {
        cid: cid.into(),
        name: "mic".into(),
        r#type: kind as i32,
        source: source as i32,
        ..Default::default()
    };
    let mic = add("cid-1", lk::TrackSource::Microphone, lk::TrackType::Audio);
    request(&mut ws, Request_::AddTrack(mic.clone())).await;
    let refusal = loop {
        match next(&mut ws).await.expect("an answer") {
            Response_::RequestResponse(r) => break r,
            _ => continue, // the subscriber offer, updates
        }
    };
    assert_eq!(
        refusal.reason,
        lk::request_response::Reason::NotAllowed as i32
    );
    assert_eq!(
        refusal.request,
        Some(lk::request_response::Request::AddTrack(mic))
    );
    ws.close(None).await.unwrap();

    let lee = ts.token("lk-add", "lee", "participant");
    let mut ws = connect(&ts, &format!("access_token={lee}")).await;
    let cam = add("cid-2", lk::TrackSource::Camera, lk::TrackType::Video);
    request(&mut ws, Request_::AddTrack(cam)).await;
    let published = loop {
        match next(&mut ws).await.expect("an answer") {
            Response_::TrackPublished(p) => break p,
            _ => continue,
        }
    };
    assert_eq!(published.cid, "cid-2");
    let track = published.track.unwrap();
    assert!(track.sid.starts_with("TR_"), "{}", track.sid);
    assert_eq!(track.source, lk::TrackSource::Camera as i32);
    // The host saw lee join, and no track: a reserved track is nobody's business before media.
    expect_kinds(&watcher, &["participant_joined", "participant_joined"]).await;
    expect_none(&watcher, "track_published").await;
    ws.close(None).await.unwrap();
    ts.stop().await;
}

/// In cluster mode a LiveKit client resumes through any node: here its socket was on an edge
/// (the room is served by the other node) and it resumes through the room's owner, which gets
/// what the edge kept with the suspended session.
#[tokio::test]
async fn a_livekit_session_resumes_through_another_node_of_the_cluster() {
    use common::cluster::Cluster;
    let cluster = Cluster::start("lk_resume").await;
    let a = TestServer::with_config(cluster.node("a", 3_000, 500)).await;
    let b = TestServer::with_config(cluster.node("b", 3_000, 500)).await;
    let wes = a.join("lkc", "wes", "host").await;
    let token = a.token("lkc", "lee", "participant");
    let mut ws = connect(&b, &format!("access_token={token}")).await;
    let Some(Response_::Join(join)) = next(&mut ws).await else {
        panic!("a JoinResponse first")
    };
    let me = join.participant.unwrap();
    expect(&wes, "participant_joined").await;
    drop(ws);
    let _ann = a.join("lkc", "ann", "participant").await;

    let mut ws = connect(
        &a,
        &format!("access_token={token}&reconnect=1&sid={}", me.sid),
    )
    .await;
    let Some(Response_::Reconnect(_)) = next(&mut ws).await else {
        panic!("a ReconnectResponse first")
    };
    let update = loop {
        if let Response_::Update(u) = next(&mut ws).await.expect("an update") {
            break u;
        }
    };
    let lee = update.participants.iter().find(|p| p.identity == "lee");
    assert!(lee.expect("lee in the update").version > me.version);
    assert!(update.participants.iter().any(|p| p.identity == "ann"));
    assert!(!sees_leave(&wes, "lee").await, "nobody saw lee leave");
    ws.close(None).await.unwrap();
    a.stop().await;
    b.stop().await;
}

/// A LiveKit client that must wait in the waiting room gets nothing until a host admits it
/// (its `JoinResponse` is its admission; hosts see it as Gavel's `waiter_added`), then its
/// `JoinResponse` and the subscriber offer. A denied one gets `Leave` with USER_REJECTED.
#[tokio::test]
async fn a_livekit_client_in_the_waiting_room_joins_when_admitted_or_is_told_it_was_rejected() {
    let ts = TestServer::start().await;
    let policy = serde_json::json!({"waiting_room": {"enabled": true}});
    ts.admin().create_room("lk-wait", policy).await.unwrap();
    let wes = ts.join("lk-wait", "wes", "host").await;
    let token = ts.token("lk-wait", "lee", "participant");
    let mut ws = connect(&ts, &format!("access_token={token}")).await;
    expect(&wes, "waiter_added").await;
    let early = tokio::time::timeout(Duration::from_millis(300), ws.next()).await;
    assert!(early.is_err(), "nothing before admission: {early:?}");
    ts.admin().admit("lk-wait", &["lee"]).await.unwrap();
    let Some(Response_::Join(join)) = next(&mut ws).await else {
        panic!("a JoinResponse on admission")
    };
    assert_eq!(join.participant.unwrap().identity, "lee");
    assert!(join.other_participants.iter().any(|p| p.identity == "wes"));
    next_offer(&mut ws).await;

    let token = ts.token("lk-wait", "zoe", "participant");
    let mut ws = connect(&ts, &format!("access_token={token}")).await;
    expect(&wes, "waiter_added").await;
    ts.admin()
        .deny("lk-wait", &["zoe"], Some("no"), None)
        .await
        .unwrap();
    let Some(Response_::Leave(leave)) = next(&mut ws).await else {
        panic!("a Leave on denial")
    };
    assert_eq!(leave.reason, lk::DisconnectReason::UserRejected as i32);
    ts.stop().await;
}
