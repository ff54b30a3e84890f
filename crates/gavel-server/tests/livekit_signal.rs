//! LiveKit's signalling protocol on `/rtc`, spoken by hand over a real socket (protobuf
//! `SignalRequest` / `SignalResponse`): the answers LiveKit's SDKs rely on that the SDK tests
//! (`livekit_client.rs`, `tests/browser/livekit.test.js`) cannot easily provoke.

mod common;

use common::*;
use futures_util::{SinkExt, StreamExt};
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

/// A resume attempt (`reconnect=1`) is told to reconnect afresh and joins nothing: sessions
/// do not outlive their socket yet.
#[tokio::test]
async fn a_resume_is_told_to_reconnect_from_scratch_and_joins_nothing() {
    let ts = TestServer::start().await;
    let token = ts.token("lk-resume", "lee", "participant");
    let mut ws = connect(&ts, &format!("access_token={token}&reconnect=1&sid=PA_x")).await;
    let Some(Response_::Leave(leave)) = next(&mut ws).await else {
        panic!("a Leave first")
    };
    assert_eq!(leave.action, lk::leave_request::Action::Reconnect as i32);
    assert!(next(&mut ws).await.is_none(), "then the close");
    let listed = ts.admin().list_participants("lk-resume").await;
    assert!(listed.map_or(true, |v| v["participants"]
        .as_array()
        .is_none_or(|a| a.is_empty())));
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
