//! LiveKit's own Rust server SDK (`livekit-api`'s `RoomClient` and `AccessToken`) against a live
//! Gavel server, with a native client watching the events.

mod common;
use common::*;
use livekit_api::access_token::{AccessToken, VideoGrants};
use livekit_api::services::room::{RoomClient, UpdateParticipantOptions};
use livekit_protocol as proto;

#[tokio::test]
async fn room_client_calls_reach_native_clients() {
    let ts = TestServer::start().await;
    let client = RoomClient::with_api_key(&ts.http, KEY, SECRET);

    // A token minted by LiveKit's builder joins the native WebSocket.
    let token = AccessToken::with_api_key(KEY, SECRET)
        .with_identity("alice")
        .with_name("Alice")
        .with_grants(VideoGrants {
            room_join: true,
            room: "lk".into(),
            ..Default::default()
        })
        .to_jwt()
        .unwrap();
    let alice = gavel_client::RtcClient::connect(&ts.ws, &token)
        .await
        .unwrap();
    let sid = alice.publish("microphone").await.unwrap();

    let rooms = client.list_rooms(vec![]).await.unwrap();
    assert_eq!(rooms.len(), 1);
    assert_eq!(rooms[0].name, "lk");
    let ps = client.list_participants("lk").await.unwrap();
    assert_eq!(ps.len(), 1);
    let p = client.get_participant("lk", "alice").await.unwrap();
    assert_eq!(p.name, "Alice");
    assert_eq!(p.tracks[0].sid, sid);

    // Audience: publishing revoked, the track unpublished.
    let p = client
        .update_participant(
            "lk",
            "alice",
            UpdateParticipantOptions {
                permission: Some(proto::ParticipantPermission {
                    can_subscribe: true,
                    can_publish: false,
                    can_publish_data: true,
                    ..Default::default()
                }),
                metadata: "{\"some\":\"values\"}".into(),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert!(!p.permission.unwrap().can_publish);
    assert!(p.tracks.is_empty());
    assert_eq!(p.metadata, "{\"some\":\"values\"}");
    expect(&alice, "track_unpublished").await;
    expect(&alice, "permissions_changed").await;

    // Speaker again; publish and have the track muted by sid.
    client
        .update_participant(
            "lk",
            "alice",
            UpdateParticipantOptions {
                permission: Some(proto::ParticipantPermission {
                    can_subscribe: true,
                    can_publish: true,
                    can_publish_data: true,
                    ..Default::default()
                }),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let sid = alice.publish("microphone").await.unwrap();
    let t = client
        .mute_published_track("lk", "alice", &sid, true)
        .await
        .unwrap();
    assert!(t.muted);
    expect(&alice, "track_muted").await;

    client
        .move_participant("lk", "alice", "lk-2")
        .await
        .unwrap();
    expect(&alice, "moved").await;
    assert_eq!(client.list_participants("lk-2").await.unwrap().len(), 1);

    client.remove_participant("lk-2", "alice").await.unwrap();
    expect(&alice, "room_left").await;
    assert!(client.list_participants("lk-2").await.unwrap().is_empty());
    ts.stop().await;
}
