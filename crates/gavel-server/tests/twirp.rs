//! LiveKit's RoomService over Twirp: encodings, errors, auth, and the room methods so far.

mod common;
use common::*;
use gavel_client::AccessToken;
use livekit_protocol as lk;
use prost::Message;
use serde_json::{json, Value};

const BASE: &str = "/twirp/livekit.RoomService";

async fn post_json(ts: &TestServer, token: &str, method: &str, body: Value) -> (u16, Value) {
    let r = reqwest::Client::new()
        .post(format!("{}{BASE}/{method}", ts.http))
        .bearer_auth(token)
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap())
}

fn admin_token() -> String {
    AccessToken::new(KEY, SECRET).admin(None).to_jwt()
}

#[tokio::test]
async fn list_rooms_in_json_and_protobuf() {
    let ts = TestServer::start().await;
    let _a = ts.join("tw-a", "alice", "participant").await;
    let _b = ts.join("tw-b", "bob", "participant").await;

    let (status, v) = post_json(&ts, &admin_token(), "ListRooms", json!({})).await;
    assert_eq!(status, 200, "{v}");
    let names: Vec<&str> = v["rooms"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["tw-a", "tw-b"]);
    assert_eq!(v["rooms"][0]["num_participants"], 1);
    // Every field is written, at its default value too, as LiveKit's server does.
    assert_eq!(v["rooms"][0]["creation_time"], "0", "int64 as a string");
    assert_eq!(v["rooms"][0]["turn_password"], "");
    assert_eq!(v["rooms"][0]["enabled_codecs"], json!([]));
    assert_eq!(v["rooms"][0]["active_recording"], false);
    assert_eq!(v["rooms"][0]["version"], json!(null), "an unset message");
    assert_eq!(v["rooms"][0].as_object().unwrap().len(), 14);

    let req = lk::ListRoomsRequest {
        names: vec!["tw-b".into()],
    };
    let r = reqwest::Client::new()
        .post(format!("{}{BASE}/ListRooms", ts.http))
        .bearer_auth(admin_token())
        .header("content-type", "application/protobuf")
        .body(req.encode_to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let resp = lk::ListRoomsResponse::decode(r.bytes().await.unwrap()).unwrap();
    assert_eq!(resp.rooms.len(), 1);
    assert_eq!(resp.rooms[0].name, "tw-b");
    ts.stop().await;
}

#[tokio::test]
async fn twirp_errors_and_auth() {
    let ts = TestServer::start().await;
    let (status, v) = post_json(&ts, "garbage", "ListRooms", json!({})).await;
    assert_eq!(status, 401);
    assert_eq!(v["code"], "unauthenticated");
    assert_eq!(v["meta"], json!({}));

    let joiner = ts.token("r", "alice", "participant");
    let (status, v) = post_json(&ts, &joiner, "ListRooms", json!({})).await;
    assert_eq!((status, v["code"].as_str()), (401, Some("unauthenticated")));
    assert_eq!(v["msg"], "permissions denied");
    let (status, v) = post_json(&ts, &joiner, "DeleteRoom", json!({"room": "r"})).await;
    assert_eq!(
        (status, v["msg"].as_str()),
        (401, Some("permissions denied"))
    );

    let (status, v) = post_json(&ts, &admin_token(), "ForwardParticipant", json!({})).await;
    assert_eq!(status, 501);
    assert_eq!(v["code"], "unimplemented");
    assert!(v["msg"].as_str().unwrap().contains("ForwardParticipant"));

    let (status, v) = post_json(&ts, &admin_token(), "DeleteRoom", json!({"room": "nope"})).await;
    assert_eq!((status, v["code"].as_str()), (404, Some("not_found")));

    // A field of the wrong type is malformed, and the message names it.
    let (status, v) = post_json(&ts, &admin_token(), "DeleteRoom", json!({"room": 1})).await;
    assert_eq!((status, v["code"].as_str()), (400, Some("malformed")));
    assert!(v["msg"].as_str().unwrap().starts_with("`room`: "), "{v}");
    ts.stop().await;
}

#[tokio::test]
async fn delete_room_removes_everyone() {
    let ts = TestServer::start().await;
    let alice = ts.join("tw-del", "alice", "participant").await;
    let (status, v) = post_json(&ts, &admin_token(), "DeleteRoom", json!({"room": "tw-del"})).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v, json!({}));
    expect_room_left(&alice, "room_deleted", None).await;
    ts.stop().await;
}

#[tokio::test]
async fn list_and_get_participants() {
    let ts = TestServer::start().await;
    let alice = ts.join("tw-p", "alice", "participant").await;
    let _viewer = ts.join("tw-p", "vic", "viewer").await;
    alice.publish("microphone").await.unwrap();

    let (status, v) = post_json(
        &ts,
        &admin_token(),
        "ListParticipants",
        json!({"room": "tw-p"}),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["participants"].as_array().unwrap().len(), 2);

    let (status, v) = post_json(
        &ts,
        &admin_token(),
        "GetParticipant",
        json!({"room": "tw-p", "identity": "alice"}),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["identity"], "alice");
    assert_eq!(v["state"], "ACTIVE");
    assert_eq!(v["is_publisher"], true);
    assert_eq!(v["tracks"][0]["type"], "AUDIO");
    assert_eq!(v["tracks"][0]["source"], "MICROPHONE");
    assert_eq!(v["tracks"][0]["layers"], json!([]));
    assert_eq!(v["tracks"][0]["width"], 0);
    assert!(v["joined_at"].is_string());
    let joined_at_ms = v["joined_at_ms"].as_str().expect("int64 as a string");
    assert!(joined_at_ms.parse::<i64>().unwrap() > 0);
    assert_eq!(v["kind"], "STANDARD");
    assert_eq!(v["region"], "");
    assert_eq!(v["permission"]["can_publish"], true);

    // Protobuf, and a room-scoped admin token for another room is refused.
    let req = lk::RoomParticipantIdentity {
        room: "tw-p".into(),
        identity: "vic".into(),
        ..Default::default()
    };
    let r = reqwest::Client::new()
        .post(format!("{}{BASE}/GetParticipant", ts.http))
        .bearer_auth(admin_token())
        .header("content-type", "application/protobuf")
        .body(req.encode_to_vec())
        .send()
        .await
        .unwrap();
    let p = lk::ParticipantInfo::decode(r.bytes().await.unwrap()).unwrap();
    assert_eq!(p.identity, "vic");
    assert!(!p.permission.unwrap().can_publish);

    let other = AccessToken::new(KEY, SECRET)
        .admin(Some("elsewhere"))
        .to_jwt();
    let (status, v) = post_json(&ts, &other, "ListParticipants", json!({"room": "tw-p"})).await;
    assert_eq!(
        (status, v["msg"].as_str()),
        (401, Some("permissions denied"))
    );

    let (status, v) = post_json(
        &ts,
        &admin_token(),
        "GetParticipant",
        json!({"room": "tw-p", "identity": "ghost"}),
    )
    .await;
    assert_eq!((status, v["code"].as_str()), (404, Some("not_found")));
    ts.stop().await;
}

#[tokio::test]
async fn remove_voids_the_current_token() {
    let ts = TestServer::start().await;
    let token = ts.token("tw-rm", "troll", "participant");
    let troll = gavel_client::RtcClient::connect(&ts.ws, &token)
        .await
        .unwrap();
    let host = ts.join("tw-rm", "host", "host").await;
    let (status, v) = post_json(
        &ts,
        &admin_token(),
        "RemoveParticipant",
        json!({"room": "tw-rm", "identity": "troll"}),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    expect_room_left(&troll, "kicked", Some("admin")).await;
    expect(&host, "participant_left").await;
    assert!(
        gavel_client::RtcClient::connect(&ts.ws, &token)
            .await
            .is_err(),
        "the removed identity's token no longer joins"
    );
    let (status, v) = post_json(
        &ts,
        &admin_token(),
        "RemoveParticipant",
        json!({"room": "tw-rm", "identity": "troll"}),
    )
    .await;
    assert_eq!((status, v["code"].as_str()), (404, Some("not_found")));
    ts.stop().await;
}

#[tokio::test]
async fn move_and_mute_published_track() {
    let ts = TestServer::start().await;
    let api = ts.admin();
    api.create_room("tw-off", json!({"remote_unmute": "off"}))
        .await
        .unwrap();
    let alice = ts.join("tw-off", "alice", "participant").await;
    let sid = alice.publish("microphone").await.unwrap();

    let (status, v) = post_json(
        &ts,
        &admin_token(),
        "MutePublishedTrack",
        json!({"room": "tw-off", "identity": "alice", "trackSid": sid, "muted": true}),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["track"]["muted"], true);
    assert_eq!(v["track"]["sid"], sid.as_str());
    assert_eq!(v["track"]["version"], json!(null), "an unset message");
    let e = expect(&alice, "track_muted").await;
    assert_eq!(serde_json::to_value(&e).unwrap()["muted"], true);

    let (status, v) = post_json(
        &ts,
        &admin_token(),
        "MutePublishedTrack",
        json!({"room": "tw-off", "identity": "alice", "track_sid": sid, "muted": false}),
    )
    .await;
    assert_eq!(
        (status, v["code"].as_str()),
        (412, Some("failed_precondition"))
    );
    assert_eq!(v["msg"], "remote unmute not enabled");

    let (status, v) = post_json(
        &ts,
        &admin_token(),
        "MutePublishedTrack",
        json!({"room": "tw-off", "identity": "alice", "track_sid": "TR_nope", "muted": true}),
    )
    .await;
    assert_eq!((status, v["code"].as_str()), (404, Some("not_found")));

    let (status, v) = post_json(
        &ts,
        &admin_token(),
        "MoveParticipant",
        json!({"room": "tw-off", "identity": "alice", "destination_room": "tw-dest"}),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    expect(&alice, "moved").await;
    let (_, v) = post_json(
        &ts,
        &admin_token(),
        "ListParticipants",
        json!({"room": "tw-dest"}),
    )
    .await;
    assert_eq!(v["participants"][0]["identity"], "alice");
    ts.stop().await;
}

#[tokio::test]
async fn update_participant_permissions_metadata_attributes() {
    let ts = TestServer::start().await;
    let alice = ts.join("tw-up", "alice", "participant").await;
    alice.publish("microphone").await.unwrap();
    let speaker = json!({"can_subscribe": true, "can_publish": true, "can_publish_data": true});
    let audience = json!({"canSubscribe": true, "canPublish": false, "canPublishData": true});

    let (status, v) = post_json(
        &ts,
        &admin_token(),
        "UpdateParticipant",
        json!({"room": "tw-up", "identity": "alice", "permission": audience}),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["permission"]["can_publish"], false);
    assert_eq!(v["tracks"], json!([]), "revoking publish unpublishes");
    expect(&alice, "track_unpublished").await;
    expect(&alice, "permissions_changed").await;

    let (status, v) = post_json(
        &ts,
        &admin_token(),
        "UpdateParticipant",
        json!({"room": "tw-up", "identity": "alice", "permission": speaker,
               "metadata": "{\"some\":\"values\"}", "name": "Alice",
               "attributes": {"team": "blue"}}),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["permission"]["can_publish"], true);
    assert_eq!(v["metadata"], "{\"some\":\"values\"}");
    assert_eq!(v["name"], "Alice");
    assert_eq!(v["attributes"], json!({"team": "blue"}));
    let e = expect(&alice, "participant_updated").await;
    let e = serde_json::to_value(&e).unwrap();
    assert_eq!(e["participant"]["metadata"], "{\"some\":\"values\"}");

    // Sources narrow publishing: microphone only.
    let (status, v) = post_json(
        &ts,
        &admin_token(),
        "UpdateParticipant",
        json!({"room": "tw-up", "identity": "alice",
               "permission": {"can_publish": true, "can_subscribe": true,
                              "can_publish_sources": ["MICROPHONE"]}}),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(
        v["permission"]["can_publish_sources"],
        json!(["MICROPHONE"])
    );
    assert!(alice.publish("camera").await.is_err());
    ts.stop().await;
}

#[tokio::test]
async fn create_room_is_durable_and_idempotent() {
    let ts = TestServer::start().await;
    for _ in 0..2 {
        let (status, v) = post_json(
            &ts,
            &admin_token(),
            "CreateRoom",
            json!({"name": "tw-new", "maxParticipants": 7}),
        )
        .await;
        assert_eq!(status, 200, "{v}");
        assert_eq!(v["name"], "tw-new");
    }
    let room = ts.admin().get_room("tw-new").await.unwrap();
    assert_eq!(room["room"]["settings"]["max_participants"], 7);
    let joiner = ts.token("tw-new", "alice", "participant");
    let (status, v) = post_json(&ts, &joiner, "CreateRoom", json!({"name": "x"})).await;
    assert_eq!(
        (status, v["msg"].as_str()),
        (401, Some("permissions denied"))
    );
    ts.stop().await;
}

#[tokio::test]
async fn update_room_metadata_reaches_clients_and_lists() {
    let ts = TestServer::start().await;
    let alice = ts.join("meta", "alice", "participant").await;
    let (status, v) = post_json(
        &ts,
        &admin_token(),
        "UpdateRoomMetadata",
        json!({"room": "meta", "metadata": "{\"agenda\":\"launch\"}"}),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["name"], "meta");
    assert_eq!(v["metadata"], "{\"agenda\":\"launch\"}");
    match expect(&alice, "room_updated").await {
        gavel_client::core::Event::RoomUpdated { room, by } => {
            assert_eq!(room.settings.metadata, "{\"agenda\":\"launch\"}");
            assert_eq!(by.as_deref(), Some("admin"));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(alice.state().metadata, "{\"agenda\":\"launch\"}");

    let (_, v) = post_json(&ts, &admin_token(), "ListRooms", json!({})).await;
    assert_eq!(v["rooms"][0]["metadata"], "{\"agenda\":\"launch\"}");

    // Needs roomAdmin for that room; too-long metadata is refused and changes nothing.
    let other_admin = AccessToken::new(KEY, SECRET)
        .admin(Some("elsewhere"))
        .to_jwt();
    let (status, v) = post_json(
        &ts,
        &other_admin,
        "UpdateRoomMetadata",
        json!({"room": "meta", "metadata": "x"}),
    )
    .await;
    assert_eq!(
        (status, v["msg"].as_str()),
        (401, Some("permissions denied"))
    );
    let (status, v) = post_json(
        &ts,
        &admin_token(),
        "UpdateRoomMetadata",
        json!({"room": "meta", "metadata": "x".repeat(20_000)}),
    )
    .await;
    assert_eq!(
        (status, v["code"].as_str()),
        (400, Some("invalid_argument"))
    );
    let (status, v) = post_json(
        &ts,
        &admin_token(),
        "UpdateRoomMetadata",
        json!({"room": "nowhere", "metadata": "x"}),
    )
    .await;
    assert_eq!((status, v["code"].as_str()), (404, Some("not_found")));
    assert_nothing(&alice, "room_updated").await;
    ts.stop().await;
}

#[tokio::test]
async fn send_data_to_everyone_and_to_destinations() {
    let ts = TestServer::start().await;
    let alice = ts.join("data", "alice", "participant").await;
    let bob = ts.join("data", "bob", "participant").await;
    let _ = alice.drain(QUIET).await;

    // JSON: bytes as base64, kind by name, everyone.
    let (status, v) = post_json(
        &ts,
        &admin_token(),
        "SendData",
        json!({"room": "data", "data": "aGVsbG8=", "kind": "RELIABLE", "topic": "chat"}),
    )
    .await;
    assert_eq!((status, &v), (200, &json!({})));
    for client in [&alice, &bob] {
        match expect(client, "data_received").await {
            gavel_client::core::Event::DataReceived {
                from,
                payload,
                topic,
                reliable,
            } => {
                assert_eq!(from, None);
                assert_eq!(payload, "aGVsbG8=");
                assert_eq!(topic.as_deref(), Some("chat"));
                assert!(reliable);
            }
            other => panic!("{other:?}"),
        }
    }

    // Protobuf, lossy, only to bob.
    let req = lk::SendDataRequest {
        room: "data".into(),
        data: b"\x00\x01binary".to_vec(),
        kind: lk::data_packet::Kind::Lossy as i32,
        destination_identities: vec!["bob".into()],
        ..Default::default()
    };
    let r = reqwest::Client::new()
        .post(format!("{}{BASE}/SendData", ts.http))
        .bearer_auth(admin_token())
        .header("content-type", "application/protobuf")
        .body(req.encode_to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    match expect(&bob, "data_received").await {
        gavel_client::core::Event::DataReceived {
            payload, reliable, ..
        } => {
            assert_eq!(payload, "AAFiaW5hcnk=");
            assert!(!reliable);
        }
        other => panic!("{other:?}"),
    }
    assert_nothing(&alice, "data_received").await;

    // A participant sends over the WebSocket; a viewer may not.
    let r = alice
        .request(json!({"type": "send_data", "payload": "aGk=", "destination_identities": ["bob"]}))
        .await
        .unwrap();
    assert_eq!(r["ok"], true, "{r}");
    match expect(&bob, "data_received").await {
        gavel_client::core::Event::DataReceived { from, .. } => {
            assert_eq!(from.as_deref(), Some("alice"))
        }
        other => panic!("{other:?}"),
    }
    let viewer = ts.join("data", "vic", "viewer").await;
    let e = viewer
        .request(json!({"type": "send_data", "payload": "aGk="}))
        .await
        .unwrap_err();
    assert_eq!(e.code, gavel_client::core::ErrorCode::PermissionDenied);
    let _ = settle(&bob).await;

    // Bad base64 is a malformed request.
    let (status, v) = post_json(
        &ts,
        &admin_token(),
        "SendData",
        json!({"room": "data", "data": "***"}),
    )
    .await;
    assert_eq!(
        (status, v["code"].as_str()),
        (400, Some("malformed")),
        "{v}"
    );
    assert_nothing(&bob, "data_received").await;
    ts.stop().await;
}
