//! A node in cluster mode (`[cluster]`), against private PostgreSQL and Redis servers: nodes
//! register with leases they renew; `/readyz` is ready only while the node holds its lease and
//! the bus and store answer, and becomes ready again by itself when they come back; a node
//! that stops leaves the cluster; cluster mode refuses to start without its store and bus.

mod common;

use common::cluster::Cluster;
use common::postgres::Postgres;
use common::{expect, TestServer};
use serde_json::Value;
use std::time::{Duration, Instant};

async fn readiness(server: &TestServer) -> (u16, Value) {
    let r = reqwest::get(format!("{}/readyz", server.http))
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

/// Waits (generously) until `/readyz` answers `status`; returns its body.
async fn until_ready_is(server: &TestServer, status: u16) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (s, body) = readiness(server).await;
        if s == status {
            return body;
        }
        assert!(Instant::now() < deadline, "readyz stayed {s}: {body}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn node_rows(pg: &Postgres, db: &str) -> Vec<String> {
    let mut c = postgres::Client::connect(&pg.url(db), postgres::NoTls).unwrap();
    c.query("SELECT id FROM cluster_nodes ORDER BY id", &[])
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_hold_leases_and_are_ready_only_while_lease_store_and_bus_are() {
    let cluster = Cluster::start("cluster").await;
    let (pg, redis) = (cluster.pg.clone(), cluster.redis.clone());
    let config = |name: &str| cluster.node(name, 1_500, 250);
    let a = TestServer::with_config(config("a")).await;
    let b = TestServer::with_config(config("b")).await;
    let (status, body) = readiness(&a).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        (
            body["lease"].as_str(),
            body["bus"].as_str(),
            body["store"].as_str()
        ),
        (Some("held"), Some("ok"), Some("ok"))
    );
    let a_id = body["node"].as_str().unwrap().to_string();
    let b_id = readiness(&b).await.1["node"].as_str().unwrap().to_string();
    assert!(
        a_id.starts_with("a-") && b_id.starts_with("b-"),
        "{a_id} {b_id}"
    );
    let rows = {
        let pg = pg.clone();
        tokio::task::spawn_blocking(move || node_rows(&pg, "cluster"))
            .await
            .unwrap()
    };
    assert_eq!(rows.len(), 2, "{rows:?}");

    // The bus goes away and comes back.
    redis.stop();
    let body = until_ready_is(&a, 503).await;
    assert_eq!(body["bus"], "unreachable", "{body}");
    redis.run();
    until_ready_is(&a, 200).await;

    // The database goes away past the lease: the lease lapses by the node's own clock.
    {
        let pg = pg.clone();
        tokio::task::spawn_blocking(move || pg.stop())
            .await
            .unwrap();
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    let body = loop {
        let (_, body) = readiness(&a).await;
        if body["lease"] == "expired" {
            break body;
        }
        assert!(Instant::now() < deadline, "the lease never lapsed: {body}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(body["ready"], false, "{body}");
    {
        let pg = pg.clone();
        tokio::task::spawn_blocking(move || pg.run()).await.unwrap();
    }
    let body = until_ready_is(&a, 200).await;
    assert_eq!(body["lease"], "held", "renewals resumed: {body}");

    // A node that stops leaves: its row is gone at once.
    b.stop().await;
    let rows = {
        let pg = pg.clone();
        tokio::task::spawn_blocking(move || node_rows(&pg, "cluster"))
            .await
            .unwrap()
    };
    assert_eq!(rows, [a_id], "b left the cluster");
    a.stop().await;
}

#[tokio::test]
async fn cluster_mode_needs_postgres_and_a_bus() {
    let mut c = TestServer::config();
    c.cluster.enabled = true;
    let err = gavel_server::Server::start(c.clone()).await.err().unwrap();
    assert!(err.to_string().contains("[store] postgres"), "{err}");
    c.store.postgres = Some("host=127.0.0.1 dbname=x".into());
    let err = gavel_server::Server::start(c.clone()).await.err().unwrap();
    assert!(err.to_string().contains("[cluster] redis"), "{err}");
    c.cluster.redis = Some("redis://127.0.0.1:1/".into());
    c.cluster.lease_ttl_ms = 100;
    let err = gavel_server::Server::start(c).await.err().unwrap();
    assert!(err.to_string().contains("three heartbeats"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_room_opens_on_one_node_only_and_its_bans_hold_on_the_next_owner() {
    use gavel_client::RtcClient;
    let cluster = Cluster::start("owners").await;
    let config = |name: &str| cluster.node(name, 3_000, 500);
    let a = TestServer::with_config(config("a")).await;
    let b = TestServer::with_config(config("b")).await;
    let a_id = readiness(&a).await.1["node"].as_str().unwrap().to_string();

    // Opened on a: a owns it, and b opens no second copy: a participant reaching b is in a's
    // room (b is only its edge).
    let host = a.join("r", "hana", "host").await;
    let troll = a.join("r", "troll", "participant").await;
    let ben = b.join("r", "ben", "participant").await;
    expect(&host, "participant_joined").await;
    assert!(ben.state().participants.contains_key("hana"), "one room");
    let url = cluster.url.clone();
    let owner: String = tokio::task::spawn_blocking(move || {
        let mut c = postgres::Client::connect(&url, postgres::NoTls).unwrap();
        c.query_one("SELECT node FROM room_owners WHERE room = 'r'", &[])
            .unwrap()
            .get(0)
    })
    .await
    .unwrap();
    assert_eq!(owner, a_id, "a still serves it");
    // A ban on a is committed under a's ownership (a fenced commit).
    host.request(serde_json::json!({"type": "kick", "identity": "troll", "ban_seconds": 600}))
        .await
        .unwrap();
    drop((host, troll));

    // a stops (and leaves), handing the room over: b takes it at once, with the ban in force,
    // and ben — whose socket is on b — stays, with a fresh snapshot from b.
    a.stop().await;
    expect(&ben, "joined").await;
    let ben = RtcClient::connect(&b.ws, &b.token("r", "ben", "participant")).await;
    assert!(
        ben.is_ok(),
        "b serves the room once a left: {:?}",
        ben.err()
    );
    let again = RtcClient::connect(&b.ws, &b.token("r", "troll", "participant")).await;
    assert_eq!(again.err().expect("still banned").code.as_str(), "banned");
    b.stop().await;
}
