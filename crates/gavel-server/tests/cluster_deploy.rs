//! Three `gavel` processes started by the example deployment (`deploy/local-cluster`), with
//! short lease timings: first joins racing through every node open a room exactly once; an
//! owner paused past its lease (`kill -STOP`) and then resumed delivers nothing and commits
//! nothing; a node stopped with SIGTERM hands its rooms over.

mod common;

use common::deploy::LocalCluster;
use common::{expect, expect_room_left, settle};
use gavel_client::{AccessToken, ApiClient, RtcClient};
use serde_json::json;
use std::time::Duration;

fn token(room: &str, identity: &str, role: &str) -> String {
    AccessToken::new(common::KEY, common::SECRET)
        .join(room, identity)
        .name(identity)
        .role(role)
        .to_jwt()
}

fn admin(http: &str) -> ApiClient {
    ApiClient::new(
        http,
        &AccessToken::new(common::KEY, common::SECRET)
            .admin(None)
            .to_jwt(),
    )
}

async fn join(ws: &str, room: &str, identity: &str, role: &str) -> RtcClient {
    RtcClient::connect(ws, &token(room, identity, role))
        .await
        .unwrap_or_else(|e| panic!("{identity} could not join {room}: {e}"))
}

/// The others in the room, as the client's state holds them.
fn others(client: &RtcClient) -> Vec<String> {
    let mut v: Vec<String> = client.state().participants.keys().cloned().collect();
    v.sort();
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_joins_racing_through_three_nodes_open_each_room_once() {
    let cluster = tokio::task::spawn_blocking(|| LocalCluster::start(3, 3_000, 500))
        .await
        .unwrap();
    for round in 0..4 {
        let room = format!("race-{round}");
        let joins = cluster.nodes.iter().enumerate().map(|(i, n)| {
            let (ws, room) = (n.ws.clone(), room.clone());
            async move { join(&ws, &room, &format!("p{i}"), "participant").await }
        });
        let clients = futures_util::future::join_all(joins).await;
        // One room: everyone ends up seeing the two others, whichever node they came through.
        for c in &clients {
            let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
            while others(c).len() < 2 {
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "{} sees {:?} in {room}",
                    c.identity(),
                    others(c)
                );
                let _ = c.next(Duration::from_millis(100)).await;
            }
        }
        let listed = admin(&cluster.nodes[2].http)
            .list_participants(&room)
            .await
            .unwrap();
        assert_eq!(listed["participants"].as_array().unwrap().len(), 3);
    }
    let owners = cluster.query("SELECT room, node FROM room_owners WHERE room LIKE 'race-%'");
    assert_eq!(owners.len(), 4, "one owner row per room");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_owner_paused_past_its_lease_delivers_and_commits_nothing_when_it_resumes() {
    let cluster = tokio::task::spawn_blocking(|| LocalCluster::start(2, 1_500, 250))
        .await
        .unwrap();
    let (one, two) = (&cluster.nodes[0], &cluster.nodes[1]);
    // node 1 owns "r" (hana joined there first); troll and ben are there through node 2.
    let hana = join(&one.ws, "r", "hana", "host").await;
    let troll = join(&two.ws, "r", "troll", "participant").await;
    let ben = join(&two.ws, "r", "ben", "participant").await;
    expect(&hana, "participant_joined").await;
    settle(&ben).await;

    // node 1 is paused past its lease: node 2 takes the room over and admits its people again.
    one.signal("-STOP");
    expect(&ben, "joined").await;
    expect(&troll, "joined").await;
    // hana's kick reaches node 1's socket while it sleeps; it runs when node 1 resumes, with
    // its lease lapsed: it is refused, or the room is already closed — never carried out.
    hana.send_raw(
        &json!({"id": 1, "type": "kick", "identity": "troll", "ban_seconds": 600}).to_string(),
    )
    .await
    .unwrap();
    one.signal("-CONT");
    let closed = hana.wait_closed(Duration::from_secs(15)).await;
    assert!(closed.is_some(), "node 1 stopped serving the room it lost");
    tokio::time::sleep(Duration::from_millis(500)).await;
    // Nothing reached ben from node 1, troll is still in the room on node 2, and no ban was
    // committed.
    // (troll's joining again on node 2 may reach ben; troll's leaving must not.)
    let seen = settle(&ben).await;
    assert!(
        !seen.iter().any(|m| {
            let m = format!("{m:?}");
            m.contains("ParticipantLeft") && m.contains("troll")
        }),
        "ben saw troll leave: {seen:?}"
    );
    let listed = admin(&two.http).list_participants("r").await.unwrap();
    let names: Vec<&str> = listed["participants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["identity"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"troll"), "{names:?}");
    let bans = cluster.query("SELECT identity FROM bans");
    assert!(bans.is_empty(), "a fenced node committed a ban");
    drop((troll, ben));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_stopped_with_sigterm_hands_its_rooms_over() {
    let cluster = tokio::task::spawn_blocking(|| LocalCluster::start(3, 3_000, 500))
        .await
        .unwrap();
    let (one, two, three) = (&cluster.nodes[0], &cluster.nodes[1], &cluster.nodes[2]);
    let hana = join(&one.ws, "r", "hana", "host").await;
    let ben = join(&two.ws, "r", "ben", "participant").await;
    let cy = join(&three.ws, "r", "cy", "participant").await;
    expect(&hana, "participant_joined").await;
    settle(&ben).await;
    settle(&cy).await;

    one.signal("-TERM");
    expect_room_left(&hana, "server_shutdown", None).await;
    for c in [&ben, &cy] {
        expect(c, "joined").await;
    }
    // Once both are admitted again, each sees the other, and nobody saw anyone leave.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while others(&ben) != ["cy"] || others(&cy) != ["ben"] {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{:?} {:?}",
            others(&ben),
            others(&cy)
        );
        let _ = ben.next(Duration::from_millis(50)).await;
        let _ = cy.next(Duration::from_millis(50)).await;
    }
    let r = ben.request(json!({"type": "ping"})).await.unwrap();
    assert_eq!(r["pong"], true);
}
