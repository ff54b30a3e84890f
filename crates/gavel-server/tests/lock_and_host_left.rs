//! Locking a room, and what happens when its last host leaves, over real sockets: the lock
//! refuses joins (`room_locked`) and moves in, lets a `bypassLock` token and people returning
//! from a child room through, is seen by everyone, audited, and kept across a restart; a room
//! whose last host leaves ends for everyone (`room_left {reason: host_left}`) or promotes the
//! longest-present participant after its grace period, unless a host comes back.

mod common;

use common::*;
use gavel_client::core::Event;
use gavel_client::{AccessToken, RtcClient};
use serde_json::json;
use std::time::Duration;

/// The room's audit entries once one has `action` (they are committed in batches).
async fn audited(s: &TestServer, room: &str, action: &str) -> Vec<serde_json::Value> {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let v = s.admin().audit(room, 20).await.unwrap();
        let entries = v["entries"].as_array().cloned().unwrap_or_default();
        if entries.iter().any(|e| e["action"] == action) || tokio::time::Instant::now() > deadline {
            return entries;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn locked(e: &Event) -> Option<bool> {
    match e {
        Event::RoomUpdated { room, .. } => Some(room.settings.locked),
        _ => None,
    }
}

#[tokio::test]
async fn a_locked_room_lets_nobody_new_in_but_its_bypass_and_its_breakouts() {
    let data = common::process::temp_dir("lock");
    let s = TestServer::with_data_dir(&data).await;
    let hana = s.join("lk", "hana", "host").await;
    let ben = s.join("lk", "ben", "participant").await;
    expect(&hana, "participant_joined").await;

    // Only a holder of the lock control locks.
    let refused = ben
        .request(json!({"type": "lock_room", "locked": true}))
        .await;
    assert_eq!(ws_code(refused), "permission_denied");
    hana.request(json!({"type": "lock_room", "locked": true}))
        .await
        .unwrap();
    let seen = ben.wait_for(WAIT, |e| locked(e) == Some(true)).await;
    assert!(seen.is_ok(), "ben sees the lock: {seen:?}");

    // A newcomer is refused with a clear code; a bypassLock token comes in.
    let zed = RtcClient::connect(&s.ws, &s.token("lk", "zed", "participant")).await;
    let e = zed.err().expect("zed is refused");
    assert_eq!(e.code.as_str(), "room_locked");
    assert!(e.message.contains("locked"), "{}", e.message);
    let bypass = AccessToken::new(KEY, SECRET)
        .join("lk", "svc")
        .grant(|g| g.bypass_lock = Some(true))
        .to_jwt();
    let svc = RtcClient::connect(&s.ws, &bypass).await.unwrap();
    assert!(svc.state().locked, "the lock is in the snapshot");

    // Moves in are refused, except out of the room's own child rooms.
    let admin = s.admin();
    admin.create_room("elsewhere", json!({})).await.unwrap();
    admin
        .create_room("lk-breakout", json!({"parent": "lk"}))
        .await
        .unwrap();
    let _cy = s.join("elsewhere", "cy", "participant").await;
    let _di = s.join("lk-breakout", "di", "participant").await;
    let (code, status) = api_code(admin.move_participant("elsewhere", "cy", "lk").await);
    assert_eq!((code, status), ("room_locked", 403));
    admin
        .move_participant("lk-breakout", "di", "lk")
        .await
        .expect("back from a breakout");

    // Audited, and kept across a restart while the meeting goes on.
    let audit = audited(&s, "lk", "lock_room").await;
    let lock = audit.iter().find(|e| e["action"] == "lock_room");
    assert_eq!(
        lock.expect("the lock is audited")["actor"],
        "hana",
        "{audit:?}"
    );
    drop((hana, ben, svc));
    s.stop().await;
    let s = TestServer::with_data_dir(&data).await;
    let zed = RtcClient::connect(&s.ws, &s.token("lk", "zed", "participant")).await;
    assert_eq!(zed.err().unwrap().code.as_str(), "room_locked");
    // Its host is never locked out, and unlocks it.
    let hana = s.join("lk", "hana", "host").await;
    assert!(hana.state().locked);
    s.admin().lock_room("lk", false).await.unwrap();
    s.join("lk", "zed", "participant").await;
    s.stop().await;
}

#[tokio::test]
async fn when_the_last_host_leaves_the_session_ends_for_everyone_unless_a_host_returns() {
    let s = TestServer::start().await;
    let settings = json!({"host_left": {"action": "end", "grace_seconds": 1}});
    s.admin().create_room("class", settings).await.unwrap();
    let hana = s.join("class", "hana", "host").await;
    let ben = s.join("class", "ben", "participant").await;

    // Hana's connection drops and she comes back in time: called off.
    hana.close().await;
    match expect(&ben, "host_left").await {
        Event::HostLeft { at, .. } => assert!(at > 0),
        other => panic!("{other:?}"),
    }
    let hana = s.join("class", "hana", "host").await;
    expect(&ben, "host_returned").await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(ben.wait_closed(Duration::from_millis(10)).await.is_none());

    // She leaves for good: after a second everyone is out, told why.
    hana.close().await;
    expect(&ben, "host_left").await;
    expect_room_left(&ben, "host_left", None).await;
    let audit = audited(&s, "class", "end_session").await;
    let end = audit.iter().find(|e| e["action"] == "end_session");
    assert_eq!(
        end.expect("the end is audited")["actor"],
        "host_left",
        "{audit:?}"
    );
    s.stop().await;
}

#[tokio::test]
async fn when_the_last_host_leaves_the_longest_present_participant_is_promoted() {
    let s = TestServer::start().await;
    // A rule naming a role that does not exist, or an unknown action, is refused and creates
    // nothing.
    for bad in [
        json!({"host_left": {"action": "promote", "promote_role": "nobody"}}),
        json!({"host_left": {"action": "vanish"}}),
    ] {
        let (code, status) = api_code(s.admin().create_room("bad", bad).await);
        assert_eq!((code, status), ("invalid_argument", 400));
    }
    let rooms = s.admin().list_rooms().await.unwrap();
    assert!(!rooms.to_string().contains("\"bad\""), "{rooms}");
    let settings = json!({"host_left": {"action": "promote", "grace_seconds": 1}});
    s.admin().create_room("town", settings).await.unwrap();
    let ann = s.join("town", "ann", "participant").await;
    let hana = s.join("town", "hana", "host").await;
    let ben = s.join("town", "ben", "participant").await;
    hana.close().await;
    let promoted = ann
        .wait_for(Duration::from_secs(5), |e| {
            matches!(e, Event::PermissionsChanged { .. })
        })
        .await
        .expect("ann is promoted");
    match promoted {
        Event::PermissionsChanged {
            role,
            permissions,
            reason,
            ..
        } => {
            assert_eq!(role, "host");
            assert!(permissions.has(gavel_client::core::HostControl::Kick));
            assert_eq!(reason.as_deref(), Some("host_left"));
        }
        other => panic!("{other:?}"),
    }
    let seen = ben
        .wait_for(WAIT, |e| {
            matches!(e, Event::ParticipantUpdated { participant, reason, .. }
                if participant.identity == "ann" && reason.as_deref() == Some("host_left"))
        })
        .await;
    assert!(
        seen.is_ok(),
        "ben sees ann become a host, and why: {seen:?}"
    );
    // Ann moderates now.
    ann.request(json!({"type": "mute", "identity": "ben", "source": "microphone"}))
        .await
        .map(drop)
        .or_else(|e| match e.code.as_str() {
            // Ben has no microphone to mute: the command was authorized.
            "not_found" | "failed_precondition" => Ok(()),
            _ => Err(e),
        })
        .unwrap();
    s.stop().await;
}
