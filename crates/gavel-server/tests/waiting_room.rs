//! The waiting room over real sockets: a joiner who must wait learns only its own status and
//! receives nothing of the room (no events, no data, no media) until a holder of `admit` lets
//! it in over the WebSocket or the server API; a denial tells it why and may ban it; waiting
//! times out; a locked room closes the queue; hosts see it live, counts report it, and the
//! audit log records who was admitted and denied.

mod common;

use common::*;
use gavel_client::core::{Event, LeaveReason};
use gavel_client::{AccessToken, RtcClient};
use serde_json::json;
use std::time::Duration;

async fn waiting_room(s: &TestServer, room: &str, extra: serde_json::Value) {
    let mut policy = json!({"enabled": true});
    policy
        .as_object_mut()
        .unwrap()
        .extend(extra.as_object().cloned().unwrap_or_default());
    s.admin()
        .create_room(room, json!({ "waiting_room": policy }))
        .await
        .unwrap();
}

/// Connects `identity`, who must wait.
async fn waits(s: &TestServer, room: &str, identity: &str) -> RtcClient {
    let c = RtcClient::connect(&s.ws, &s.token(room, identity, "participant"))
        .await
        .unwrap_or_else(|e| panic!("{identity} could not connect: {e}"));
    assert!(c.is_waiting(), "{identity} waits");
    c
}

#[tokio::test]
async fn a_waiter_sees_nothing_of_the_room_until_a_host_admits_it() {
    let s = TestServer::start().await;
    waiting_room(&s, "wr", json!({})).await;
    let hana = s.join("wr", "hana", "host").await;
    let carl_token = AccessToken::new(KEY, SECRET)
        .join("wr", "carl")
        .role("participant")
        .grant(|g| g.bypass_waiting_room = Some(true))
        .to_jwt();
    let carl = RtcClient::connect(&s.ws, &carl_token).await.unwrap();
    assert!(
        !carl.is_waiting(),
        "a bypassWaitingRoom token enters directly"
    );
    expect(&hana, "participant_joined").await;

    let ben = waits(&s, "wr", "ben").await;
    let st = ben.state();
    let me = st.waiting.clone().expect("its own status");
    assert_eq!((me.identity.as_str(), st.room.as_str()), ("ben", "wr"));
    assert!(st.me.is_none() && st.participants.is_empty());
    match expect(&hana, "waiter_added").await {
        Event::WaiterAdded { waiter } => assert_eq!(waiter.identity, "ben"),
        other => panic!("{other:?}"),
    }
    // Counts report the waiter apart; the server API lists nobody new.
    let room = s.admin().get_room("wr").await.unwrap();
    assert_eq!(room["room"]["counts"]["waiting"], 1, "{room}");
    assert_eq!(room["room"]["counts"]["present"], 2, "{room}");
    assert_eq!(
        api_identities(&s.admin(), "wr").await,
        vec!["carl".to_string(), "hana".to_string()]
    );
    let listed = s.admin().waiting("wr").await.unwrap();
    assert_eq!(listed["waiting"][0]["identity"], "ben", "{listed}");

    // The room goes on; nothing of it reaches the waiter.
    settle(&ben).await;
    hana.request(json!({"type": "send_data", "payload": "aGk="}))
        .await
        .unwrap();
    carl.request(json!({"type": "raise_hand"})).await.unwrap();
    let _dan = s.join("wr", "dan", "host").await;
    assert_nothing(&ben, "the room's events").await;
    // It may not act in the room, nor open a media session.
    for request in [
        json!({"type": "raise_hand"}),
        json!({"type": "admit", "all": true}),
        json!({"type": "media_offer", "sdp": "v=0", "tracks": []}),
    ] {
        assert_eq!(ws_code(ben.request(request).await), "failed_precondition");
    }
    // Without `admit`, nobody admits.
    let refused = carl
        .request(json!({"type": "admit", "identities": ["ben"]}))
        .await;
    assert_eq!(ws_code(refused), "permission_denied");
    assert!(ben.is_waiting());

    // A host admits it over the WebSocket: it joins like anyone.
    let r = hana
        .request(json!({"type": "admit", "identities": ["ben"]}))
        .await
        .unwrap();
    assert_eq!(r["results"]["ben"]["ok"], true, "{r}");
    expect(&ben, "joined").await;
    assert!(!ben.is_waiting());
    assert!(ben.state().participants.contains_key("carl"));
    match expect(&hana, "waiters_removed").await {
        Event::WaitersRemoved { identities, by, .. } => {
            assert_eq!(identities, vec!["ben".to_string()]);
            assert_eq!(by.as_deref(), Some("hana"));
        }
        other => panic!("{other:?}"),
    }
    // From now on it hears the room.
    carl.request(json!({"type": "raise_hand", "raised": false}))
        .await
        .unwrap();
    expect(&ben, "hand_changed").await;
    s.stop().await;
}

#[tokio::test]
async fn a_denial_says_why_and_can_ban_and_a_locked_room_closes_the_queue() {
    let s = TestServer::start().await;
    waiting_room(&s, "deny", json!({})).await;
    let hana = s.join("deny", "hana", "host").await;
    let dan = waits(&s, "deny", "dan").await;
    expect(&hana, "waiter_added").await;

    // Over the server API, with a message and a ban.
    let r = s
        .admin()
        .deny("deny", &["dan"], Some("not on the guest list"), Some(60))
        .await
        .unwrap();
    assert_eq!(r["results"]["dan"]["ok"], true, "{r}");
    expect(&dan, "room_left").await;
    let st = dan.state();
    assert_eq!(st.left, Some(LeaveReason::Denied));
    assert_eq!(st.left_message.as_deref(), Some("not on the guest list"));
    assert!(
        dan.wait_closed(WAIT).await.is_some(),
        "its connection closes"
    );
    // Banned: it never reaches the queue again.
    let again = RtcClient::connect(&s.ws, &s.token("deny", "dan", "participant")).await;
    assert_eq!(again.err().unwrap().code.as_str(), "banned");
    assert_eq!(
        s.admin().waiting("deny").await.unwrap()["waiting"],
        json!([])
    );

    // Bad input changes nothing.
    let eve = waits(&s, "deny", "eve").await;
    expect(&hana, "waiter_added").await;
    let long = "x".repeat(501);
    let (code, status) = api_code(s.admin().deny("deny", &["eve"], Some(&long), None).await);
    assert_eq!((code, status), ("invalid_argument", 400));
    let (code, _) = api_code(s.admin().admit("deny", &["nobody"]).await.and_then(|v| {
        match v["results"]["nobody"]["ok"].as_bool() {
            Some(false) => Err(gavel_client::ApiError {
                status: 404,
                error: serde_json::from_value(v["results"]["nobody"]["error"].clone()).unwrap(),
            }),
            _ => Ok(v),
        }
    }));
    assert_eq!(code, "not_found");
    assert!(eve.is_waiting());

    // Locked: nobody new reaches the queue; those waiting may still be let in.
    s.admin().lock_room("deny", true).await.unwrap();
    let zed = RtcClient::connect(&s.ws, &s.token("deny", "zed", "participant")).await;
    assert_eq!(zed.err().unwrap().code.as_str(), "room_locked");
    s.admin().admit("deny", &[]).await.unwrap();
    expect(&eve, "joined").await;

    // Both are audited, with who did them.
    let deadline = tokio::time::Instant::now() + WAIT;
    let entries = loop {
        let v = s.admin().audit("deny", 50).await.unwrap();
        let entries = v["entries"].as_array().cloned().unwrap_or_default();
        let has = |a: &str| entries.iter().any(|e| e["action"] == a);
        if (has("admit") && has("deny")) || tokio::time::Instant::now() > deadline {
            break entries;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let deny = entries
        .iter()
        .find(|e| e["action"] == "deny" && e["targets"] == json!(["dan"]))
        .expect("the denial is audited");
    assert_eq!(deny["actor"], "admin", "{deny}");
    assert_eq!(deny["params"]["ban_seconds"], 60, "{deny}");
    assert!(entries.iter().any(|e| e["action"] == "admit"));
    s.stop().await;
}

#[tokio::test]
async fn a_wait_times_out_and_turning_the_waiting_room_off_lets_everyone_in() {
    let s = TestServer::start().await;
    waiting_room(&s, "slow", json!({"timeout_seconds": 1})).await;
    let hana = s.join("slow", "hana", "host").await;
    let ben = waits(&s, "slow", "ben").await;
    expect(&ben, "room_left").await;
    assert_eq!(ben.state().left, Some(LeaveReason::WaitingTimeout));
    match expect(&hana, "waiters_removed").await {
        Event::WaitersRemoved { outcome, .. } => {
            assert_eq!(serde_json::to_value(outcome).unwrap(), "timed_out")
        }
        other => panic!("{other:?}"),
    }

    // Off: those waiting come in, and so does the next joiner.
    let cy = waits(&s, "slow", "cy").await;
    hana.request(json!({"type": "set_waiting_room", "enabled": false}))
        .await
        .unwrap();
    expect(&cy, "joined").await;
    let di = s.join("slow", "di", "participant").await;
    assert!(!di.is_waiting());
    let room = s.admin().get_room("slow").await.unwrap();
    assert_eq!(room["room"]["settings"]["waiting_room"]["enabled"], false);
    // And back on over the server API.
    s.admin().set_waiting_room("slow", true).await.unwrap();
    waits(&s, "slow", "eve").await;
    s.stop().await;
}
