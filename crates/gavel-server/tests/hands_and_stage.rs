//! Raised hands and the stage over real sockets: the queue in order for everyone, a host
//! lowering a hand, hands only hosts see, the per-participant rate limit; an invitation to the
//! stage accepted by a viewer who then publishes, and taken back.

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

#[tokio::test]
async fn a_viewer_invited_to_the_stage_publishes_until_taken_off_it() {
    let s = TestServer::start().await;
    let hana = s.join("st", "hana", "host").await;
    let vic = s.join("st", "vic", "viewer").await;
    assert!(
        vic.publish("microphone").await.is_err(),
        "a viewer may not send"
    );
    let invited = hana
        .request(json!({"type": "invite_to_stage", "identity": "vic"}))
        .await
        .unwrap();
    let request_id = invited["request_id"].as_str().unwrap().to_string();
    let Event::StageInvited { from, .. } = expect(&vic, "stage_invited").await else {
        unreachable!()
    };
    assert_eq!(from, "hana");
    vic.request(json!({"type": "respond_request", "request_id": request_id, "accept": true}))
        .await
        .unwrap();
    expect(&hana, "stage_invite_resolved").await;
    let on = hana
        .wait_for(WAIT, |e| {
            matches!(e, Event::StageChanged { identity, on_stage: true, .. } if identity == "vic")
        })
        .await;
    assert!(on.is_ok(), "{on:?}");
    vic.publish("microphone")
        .await
        .expect("on the stage, vic speaks");
    hana.request(json!({"type": "remove_from_stage", "identity": "vic"}))
        .await
        .unwrap();
    let gone = hana
        .wait_for(
            WAIT,
            |e| matches!(e, Event::TrackUnpublished { identity, .. } if identity == "vic"),
        )
        .await;
    assert!(
        gone.is_ok(),
        "off the stage, vic's microphone is unpublished: {gone:?}"
    );
    assert!(hana.state().stage.is_empty());
    s.stop().await;
}
