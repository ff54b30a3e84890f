//! Breakout rooms over real sockets: a host opens them (round-robin, or as listed, over the
//! WebSocket or the server API), everyone assigned is moved there, a host visits one and comes
//! back a host, a broadcast and the closing countdown reach every breakout room, and at the
//! end everyone is back in the main room — through its lock — and the breakout rooms are gone.
//! A time limit closes them by itself; ending the session ends it in the breakouts too.

mod common;

use common::*;
use gavel_client::core::{Event, LeaveReason};
use gavel_client::RtcClient;
use serde_json::json;
use std::time::Duration;

/// Waits until `client` is in `room` (its `joined` for it).
async fn lands_in(client: &RtcClient, room: &str) {
    let r = room.to_string();
    let got = client
        .wait_for(
            WAIT,
            move |e| matches!(e, Event::Joined { room: info, .. } if info.name == r),
        )
        .await;
    assert!(
        got.is_ok(),
        "{} never reached {room}: {got:?}",
        client.identity()
    );
}

async fn class(s: &TestServer, room: &str) -> (RtcClient, Vec<RtcClient>) {
    let hana = s.join(room, "hana", "host").await;
    let mut people = Vec::new();
    for who in ["a", "b", "c", "d"] {
        people.push(s.join(room, who, "participant").await);
    }
    (hana, people)
}

#[tokio::test]
async fn a_host_opens_breakouts_visits_broadcasts_and_closes_them_and_everyone_comes_back() {
    let s = TestServer::start().await;
    let (hana, people) = class(&s, "class").await;
    let [a, b, c, d] = &people[..] else {
        unreachable!()
    };

    // A participant may not; a host opens two rooms, round-robin by arrival.
    let refused = a
        .request(json!({"type": "open_breakouts", "count": 2}))
        .await;
    assert_eq!(ws_code(refused), "permission_denied");
    let r = hana
        .request(json!({"type": "open_breakouts", "count": 2}))
        .await
        .unwrap();
    assert_eq!(r["rooms"][0]["name"], "class-breakout-1", "{r}");
    assert_eq!(r["rooms"][0]["identities"], json!(["a", "c"]), "{r}");
    assert_eq!(r["rooms"][1]["identities"], json!(["b", "d"]), "{r}");
    for who in ["a", "b", "c", "d"] {
        assert_eq!(r["moved"][who]["ok"], true, "{r}");
    }
    lands_in(a, "class-breakout-1").await;
    lands_in(c, "class-breakout-1").await;
    lands_in(b, "class-breakout-2").await;
    lands_in(d, "class-breakout-2").await;
    assert!(a.state().participants.contains_key("c"));
    assert!(!a.state().participants.contains_key("b"));
    // The main room knows its breakouts (a stored setting, in every snapshot).
    let main = s.admin().get_room("class").await.unwrap();
    let rooms = &main["room"]["settings"]["breakouts"]["rooms"];
    assert_eq!(
        rooms,
        &json!(["class-breakout-1", "class-breakout-2"]),
        "{main}"
    );

    // A broadcast reaches every breakout room.
    hana.request(json!({"type": "broadcast_to_breakouts", "message": "two minutes"}))
        .await
        .unwrap();
    for p in [a, b, c, d] {
        match expect(p, "breakout_broadcast").await {
            Event::BreakoutBroadcast { message, by } => {
                assert_eq!(
                    (message.as_str(), by.as_deref()),
                    ("two minutes", Some("hana"))
                )
            }
            other => panic!("{other:?}"),
        }
    }

    // The host visits a breakout room, a host there too, and comes back still a host.
    hana.request(json!({"type": "move", "identity": "hana", "destination": "class-breakout-1"}))
        .await
        .unwrap();
    lands_in(&hana, "class-breakout-1").await;
    hana.request(json!({"type": "mute_all", "source": "microphone"}))
        .await
        .unwrap();
    hana.request(json!({"type": "move", "identity": "hana", "destination": "class"}))
        .await
        .unwrap();
    lands_in(&hana, "class").await;
    assert_eq!(hana.state().me.unwrap().role, "host");

    // Locked meanwhile: people coming back from its breakouts pass.
    s.admin().lock_room("class", true).await.unwrap();

    // Closing: a countdown everywhere, then everyone back, the rooms gone.
    hana.request(json!({"type": "close_breakouts", "countdown_seconds": 1}))
        .await
        .unwrap();
    for p in [a, b, c, d] {
        let e = expect(p, "breakouts_closing").await;
        assert!(
            matches!(e, Event::BreakoutsClosing { at, .. } if at > 0),
            "{e:?}"
        );
    }
    for p in [a, b, c, d] {
        lands_in(p, "class").await;
    }
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let gone = s.admin().get_room("class-breakout-1").await.is_err()
            && s.admin().get_room("class-breakout-2").await.is_err();
        let cleared = s.admin().get_room("class").await.unwrap()["room"]["settings"]
            .get("breakouts")
            .is_none();
        if gone && cleared {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "rooms left behind");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let ids = api_identities(&s.admin(), "class").await;
    assert_eq!(ids, vec!["a", "b", "c", "d", "hana"]);

    // Audited as host actions.
    let audit = s.admin().audit("class", 50).await.unwrap();
    let actions: Vec<&str> = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["action"].as_str())
        .collect();
    for action in [
        "open_breakouts",
        "broadcast_to_breakouts",
        "close_breakouts",
    ] {
        assert!(actions.contains(&action), "{action}: {actions:?}");
    }
    s.stop().await;
}

#[tokio::test]
async fn listed_rooms_with_a_time_limit_close_by_themselves_and_ending_the_session_ends_them() {
    let s = TestServer::start().await;
    let (hana, people) = class(&s, "seminar").await;
    let [a, b, c, _d] = &people[..] else {
        unreachable!()
    };
    let body = json!({
        "rooms": [{"name": "seminar-design", "identities": ["a", "b"]},
                  {"identities": ["c"]}],
        "duration_seconds": 1,
        "countdown_seconds": 1,
    });
    let r = s.admin().open_breakouts("seminar", body).await.unwrap();
    assert_eq!(r["rooms"][1]["name"], "seminar-breakout-2", "{r}");
    assert!(r["ends_at"].as_u64().is_some(), "{r}");
    lands_in(a, "seminar-design").await;
    lands_in(c, "seminar-breakout-2").await;
    // Bad input changes nothing.
    let (code, status) = api_code(
        s.admin()
            .open_breakouts("seminar", json!({"count": 2}))
            .await,
    );
    assert_eq!((code, status), ("failed_precondition", 412));
    // Only open_breakouts writes the record of open breakout rooms.
    let forged = json!({"breakouts": {"rooms": ["x"], "countdown_seconds": 1}});
    let (code, status) = api_code(s.admin().create_room("forged", forged).await);
    assert_eq!((code, status), ("invalid_argument", 400));
    expect(a, "breakouts_closing").await;
    lands_in(a, "seminar").await;
    lands_in(b, "seminar").await;
    lands_in(c, "seminar").await;
    match expect(&hana, "breakouts_closed").await {
        Event::BreakoutsClosed => {}
        other => panic!("{other:?}"),
    }

    // Opened again, then the session ends: it ends in the breakout rooms too.
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let r = s
            .admin()
            .open_breakouts("seminar", json!({"count": 1}))
            .await;
        if r.is_ok() {
            break;
        }
        // The previous ones are still being cleared.
        assert!(tokio::time::Instant::now() < deadline, "{r:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    lands_in(a, "seminar-breakout-1").await;
    hana.request(json!({"type": "end_session"})).await.unwrap();
    expect(a, "room_left").await;
    assert_eq!(a.state().left, Some(LeaveReason::Ended));
    s.stop().await;
}
