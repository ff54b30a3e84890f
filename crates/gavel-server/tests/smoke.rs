//! The basic loop over real sockets: join, see each other, publish, mute from the server API.

mod common;
use common::*;
use gavel_client::core::{Event, Source};

#[tokio::test]
async fn two_clients_see_each_other_and_a_server_mute() {
    let ts = TestServer::start().await;
    let host = ts.join("demo", "host", "host").await;
    let guest = ts.join("demo", "guest", "participant").await;
    let joined = expect(&host, "participant_joined").await;
    assert!(
        matches!(joined, Event::ParticipantJoined { participant } if participant.identity == "guest")
    );
    assert_eq!(
        guest.state().participants.keys().collect::<Vec<_>>(),
        ["host"]
    );

    let track = guest.publish("microphone").await.unwrap();
    expect(&host, "track_published").await;
    ts.admin()
        .mute("demo", "guest", "microphone", true)
        .await
        .unwrap();
    let muted = expect(&guest, "track_muted").await;
    match muted {
        Event::TrackMuted {
            track_sid,
            muted,
            by,
            ..
        } => {
            assert_eq!(track_sid.as_deref(), Some(track.as_str()));
            assert!(muted);
            assert_eq!(by.as_deref(), Some("admin"));
        }
        other => panic!("unexpected {other:?}"),
    }
    expect(&host, "track_muted").await;
    let t = host
        .state()
        .get("guest")
        .unwrap()
        .track(Source::Microphone)
        .cloned()
        .unwrap();
    assert!(t.muted && t.muted_by.as_deref() == Some("admin"));
    ts.stop().await;
}

#[tokio::test]
async fn leaving_is_answered_before_the_session_closes() {
    let ts = TestServer::start().await;
    let host = ts.join("bye", "host", "host").await;
    let guest = ts.join("bye", "guest", "participant").await;
    let r = guest
        .request(serde_json::json!({"type": "leave"}))
        .await
        .unwrap();
    assert_eq!(r["ok"], true);
    assert!(
        matches!(expect(&guest, "room_left").await, Event::RoomLeft { reason, .. } if reason == gavel_client::core::LeaveReason::Left)
    );
    assert!(guest.wait_closed(WAIT).await.is_some());
    expect(&host, "participant_left").await;
    // Ending the session from the host's own client is answered too.
    let r = host
        .request(serde_json::json!({"type": "end_session"}))
        .await
        .unwrap();
    assert_eq!(r["ok"], true);
    expect(&host, "room_left").await;
    ts.stop().await;
}

#[tokio::test]
async fn server_api_room_metadata_and_data_messages() {
    let ts = TestServer::start().await;
    let api = ts.admin();
    api.create_room("news", serde_json::json!({}))
        .await
        .unwrap();
    let ann = ts.join("news", "ann", "participant").await;
    let bob = ts.join("news", "bob", "participant").await;
    let _ = settle(&ann).await;

    api.update_room_metadata("news", "breaking").await.unwrap();
    for c in [&ann, &bob] {
        expect(c, "room_updated").await;
        assert_eq!(c.state().metadata, "breaking");
    }
    let room = api.get_room("news").await.unwrap();
    assert_eq!(room["room"]["settings"]["metadata"], "breaking");

    api.send_data("news", "aGk=", Some("t"), &["bob"])
        .await
        .unwrap();
    let e = expect(&bob, "data_received").await;
    assert!(
        matches!(e, gavel_client::core::Event::DataReceived { ref payload, .. } if payload == "aGk=")
    );
    assert_nothing(&ann, "data_received").await;

    let err = api.send_data("news", "%%", None, &[]).await.unwrap_err();
    assert_eq!(
        (err.status, err.error.code.as_str()),
        (400, "invalid_argument")
    );
    let err = api.update_room_metadata("ghost", "x").await.unwrap_err();
    assert_eq!(err.status, 404);
    assert_nothing(&bob, "anything").await;
    ts.stop().await;
}

#[tokio::test]
async fn large_room_counts_audience_without_announcing_it() {
    let ts = TestServer::start().await;
    ts.admin()
        .create_room("hall", serde_json::json!({"listed_limit": 2}))
        .await
        .unwrap();
    let host = ts.join("hall", "host", "host").await;
    let _v1 = ts.join("hall", "v1", "viewer").await;
    let v2 = ts.join("hall", "v2", "viewer").await;
    let _v3 = ts.join("hall", "v3", "viewer").await;
    // The coalesced count arrives once the room has settled.
    host.wait_for(WAIT, |e| {
        matches!(
            e,
            gavel_client::core::Event::CountsUpdated { present: 4, .. }
        )
    })
    .await
    .expect("coalesced counts_updated");
    let state = host.state();
    let listed: Vec<&str> = state.participants.keys().map(String::as_str).collect();
    assert_eq!(listed, ["v1"], "only the first two present are announced");
    assert_eq!(
        v2.state().participants.len(),
        2,
        "v2's snapshot: host and v1"
    );

    // The audience is reachable by paging.
    let page = host
        .request(serde_json::json!({"type": "list_participants", "after": "host"}))
        .await
        .unwrap();
    let names: Vec<&str> = page["participants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["identity"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["v1", "v2", "v3"]);
    assert_eq!(page["counts"]["present"], 4);
    ts.stop().await;
}

#[tokio::test]
async fn messages_larger_than_a_fragment_arrive_whole() {
    let ts = TestServer::start().await;
    let ann = ts.join("big", "ann", "participant").await;
    // 48 KiB of data, base64: the event is written as several WebSocket fragments.
    let payload = "QUJD".repeat(16 * 1024);
    assert!(payload.len() > 6 * gavel_server::websocket::FRAGMENT);
    ts.admin()
        .send_data("big", &payload, None, &[])
        .await
        .unwrap();
    match expect(&ann, "data_received").await {
        gavel_client::core::Event::DataReceived { payload: got, .. } => assert_eq!(got, payload),
        other => panic!("{other:?}"),
    }
    // The session goes on normally afterwards.
    let r = ann
        .request(serde_json::json!({"type": "ping"}))
        .await
        .unwrap();
    assert_eq!(r["pong"], true);
    ts.stop().await;
}
