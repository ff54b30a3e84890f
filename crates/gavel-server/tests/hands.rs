//! Raised hands over real sockets: the queue in order for everyone, a host lowering a hand
//! (audited), hands only hosts see, and the per-participant rate limit.

mod common;

use common::*;
use gavel_client::core::Event;
use serde_json::json;

fn hand(e: &Event) -> Option<(String, bool, Option<String>)> {
    match e {
        Event::HandChanged {
            identity,
            raised,
            by,
        } => Some((identity.clone(), *raised, by.clone())),
        _ => None,
    }
}

#[tokio::test]
async fn hands_queue_for_everyone_and_a_host_lowers_one() {
    let s = TestServer::start().await;
    let hana = s.join("h", "hana", "host").await;
    let ann = s.join("h", "ann", "participant").await;
    let ben = s.join("h", "ben", "viewer").await;
    ben.request(json!({"type": "raise_hand"})).await.unwrap();
    ann.request(json!({"type": "raise_hand", "raised": true}))
        .await
        .unwrap();
    for c in [&hana, &ben] {
        c.wait_for(WAIT, |e| hand(e).is_some_and(|(i, r, _)| i == "ann" && r))
            .await
            .unwrap();
    }
    assert_eq!(hana.state().hands, ["ben", "ann"]);
    // A latecomer's snapshot has the queue.
    let cy = s.join("h", "cy", "participant").await;
    assert_eq!(cy.state().hands, ["ben", "ann"]);
    // Only `stage` lowers another's hand; the lowering is audited.
    let refused = ann
        .request(json!({"type": "lower_hand", "identity": "ben"}))
        .await;
    assert_eq!(ws_code(refused), "permission_denied");
    hana.request(json!({"type": "lower_hand", "identity": "ben"}))
        .await
        .unwrap();
    let lowered = ben
        .wait_for(WAIT, |e| hand(e).is_some_and(|(i, r, _)| i == "ben" && !r))
        .await
        .unwrap();
    assert_eq!(hand(&lowered).unwrap().2.as_deref(), Some("hana"));
    s.stop().await;
}

#[tokio::test]
async fn hands_only_hosts_see_and_the_rate_limit() {
    let s = TestServer::start().await;
    s.admin()
        .create_room("q", json!({"hands_visible_to": "hosts"}))
        .await
        .unwrap();
    let hana = s.join("q", "hana", "host").await;
    let ann = s.join("q", "ann", "participant").await;
    let ben = s.join("q", "ben", "participant").await;
    ann.request(json!({"type": "raise_hand"})).await.unwrap();
    hana.wait_for(WAIT, |e| hand(e).is_some()).await.unwrap();
    ann.wait_for(WAIT, |e| hand(e).is_some()).await.unwrap();
    expect_none(&ben, "hand_changed").await;
    // Six changes per ten seconds, then `rate_limited`, and nothing is announced.
    for raised in [false, true, false, true, false] {
        ann.request(json!({"type": "raise_hand", "raised": raised}))
            .await
            .unwrap();
    }
    let over = ann
        .request(json!({"type": "raise_hand", "raised": true}))
        .await;
    assert_eq!(ws_code(over), "rate_limited");
    s.stop().await;
}
