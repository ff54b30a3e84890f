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
