//! Any node serves the server API for any room: a call for a room another node owns is
//! forwarded to that node over the bus and runs there (authorization, events, audit and bans
//! as if it had arrived there); the room list is gathered from every node; an owner that does
//! not answer makes the call `unavailable` within the forwarding timeout, never a hang; and a
//! node whose lease lapses stops its rooms. Against private PostgreSQL and Redis servers.

mod common;

use common::cluster::{node_id, Cluster};
use common::{api_code, api_identities, expect, expect_room_left, metric, TestServer};
use gavel_client::{AccessToken, ApiClient, RtcClient};
use serde_json::json;
use std::time::{Duration, Instant};

fn sql(cluster: &Cluster, statement: &'static str) {
    let url = cluster.url.clone();
    std::thread::spawn(move || {
        let mut c = postgres::Client::connect(&url, postgres::NoTls).unwrap();
        c.batch_execute(statement).unwrap();
    })
    .join()
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn any_node_serves_the_server_api_for_a_room_another_node_owns() {
    let cluster = Cluster::start("forward").await;
    let config = |name: &str| cluster.node(name, 3_000, 500);
    let a = TestServer::with_config(config("a")).await;
    let b = TestServer::with_config(config("b")).await;
    let via_b = b.admin();

    // "r" is owned by a (its participants joined there).
    let hana = a.join("r", "hana", "host").await;
    let troll = a.join("r", "troll", "participant").await;
    let guest = a.join("r", "guest", "participant").await;
    expect(&hana, "participant_joined").await;

    // Reads on b are answered by a.
    assert_eq!(
        api_identities(&via_b, "r").await,
        ["guest", "hana", "troll"]
    );
    let room = via_b.get_room("r").await.unwrap();
    assert_eq!(room["room"]["counts"]["present"], 3, "{room}");

    // A kick with a ban through b runs on a: the participant is told who did it, and the ban
    // is in force on a.
    via_b.remove("r", "troll", Some(600)).await.unwrap();
    expect_room_left(&troll, "kicked", Some("admin")).await;
    let bans = a.admin().list_bans("r").await.unwrap();
    assert_eq!(bans["bans"][0]["identity"], "troll", "{bans}");
    let again = RtcClient::connect(&a.ws, &a.token("r", "troll", "participant")).await;
    assert_eq!(again.err().expect("banned").code.as_str(), "banned");
    // Refusals come back as they are: a host control the caller lacks, an unknown participant.
    let weak = ApiClient::new(
        &b.http,
        &AccessToken::new(common::KEY, common::SECRET)
            .admin(Some("elsewhere"))
            .to_jwt(),
    );
    assert_eq!(
        api_code(weak.remove("r", "guest", None).await),
        ("permission_denied", 403)
    );
    assert_eq!(
        api_code(via_b.remove("r", "nobody", None).await),
        ("not_found", 404)
    );

    // A room created through b lives on b; the list on either node shows both rooms.
    via_b.create_room("s", json!({})).await.unwrap();
    for node in [&a, &b] {
        let rooms = node.admin().list_rooms().await.unwrap();
        let names: Vec<&str> = rooms["rooms"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["r", "s"], "{rooms}");
    }

    // A child of "r" created through b opens beside its parent, on a; a move between them
    // through b runs there.
    via_b
        .create_room("r-side", json!({"parent": "r"}))
        .await
        .unwrap();
    via_b
        .move_participant("r", "guest", "r-side")
        .await
        .unwrap();
    expect(&guest, "moved").await;
    assert_eq!(api_identities(&via_b, "r-side").await, ["guest"]);
    // A move into a room on another node: hana's socket stays on a, which becomes her edge;
    // she is in "s" on b, hears its events and her requests run there.
    via_b.move_participant("r", "hana", "s").await.unwrap();
    expect(&hana, "moved").await;
    assert_eq!(api_identities(&a.admin(), "s").await, ["hana"]);
    assert!(api_identities(&a.admin(), "r").await.is_empty());
    let sam = b.join("s", "sam", "participant").await;
    expect(&hana, "participant_joined").await;
    let r = hana
        .request(json!({"type": "mute", "identity": "sam", "source": "microphone", "muted": true}))
        .await;
    assert!(r.is_ok(), "{r:?}");
    // And back, through a: she comes home to a room of the node her socket is on.
    a.admin().move_participant("s", "hana", "r").await.unwrap();
    expect(&hana, "moved").await;
    assert_eq!(api_identities(&via_b, "r").await, ["hana"]);
    let pong = hana.request(json!({"type": "ping"})).await.unwrap();
    assert_eq!(pong["pong"], true);
    assert_eq!(hana.seq_break(), None);
    drop(sam);

    // An owner that never answers: the call is unavailable within the timeout.
    sql(
        &cluster,
        "INSERT INTO cluster_nodes (id, lease_until) VALUES ('silent', now() + interval '1 hour');
         INSERT INTO room_owners (room, node, epoch) VALUES ('ghost', 'silent', 1);",
    );
    let started = Instant::now();
    let err = via_b.get_room("ghost").await.unwrap_err();
    assert_eq!((err.code().as_str(), err.status), ("unavailable", 503));
    assert!(
        err.error.message.contains("did not answer"),
        "{}",
        err.error.message
    );
    assert!(started.elapsed() < Duration::from_secs(30));
    // The room list needs every live node: it says so rather than leave rooms out.
    let err = via_b.list_rooms().await.unwrap_err();
    assert_eq!(err.code().as_str(), "unavailable", "{}", err.error.message);
    sql(&cluster, "DELETE FROM cluster_nodes WHERE id = 'silent';");

    let answered = metric(
        &b,
        "gavel_cluster_forwarded_calls_total{outcome=\"answered\"}",
    )
    .await;
    assert!(answered >= 5.0, "forwarded and answered: {answered}");
    let unanswered = metric(
        &b,
        "gavel_cluster_forwarded_calls_total{outcome=\"unanswered\"}",
    )
    .await;
    assert!(unanswered >= 1.0, "unanswered: {unanswered}");

    drop((hana, guest));
    a.stop().await;
    b.stop().await;
}

/// Calls `f` until it succeeds (generously bounded): everything recovers by itself.
async fn until_ok<T, E: std::fmt::Debug, F: std::future::Future<Output = Result<T, E>>>(
    what: &str,
    mut f: impl FnMut() -> F,
) -> T {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match f().await {
            Ok(v) => return v,
            Err(e) => assert!(Instant::now() < deadline, "{what} never recovered: {e:?}"),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn while_the_bus_or_the_database_is_down_calls_fail_fast_and_then_recover() {
    let cluster = Cluster::start("outages").await;
    // A lease long enough to outlive the outages: the nodes keep their rooms.
    let config = |name: &str| cluster.node(name, 20_000, 500);
    let a = TestServer::with_config(config("a")).await;
    let b = TestServer::with_config(config("b")).await;
    let via_b = b.admin();
    let hana = a.join("r", "hana", "host").await;
    let _troll = a.join("r", "troll", "participant").await;
    via_b.get_room("r").await.unwrap();

    // Redis down: a forwarded call cannot be published, and says so at once (not after the
    // forwarding timeout).
    cluster.redis.stop();
    let err = via_b.get_room("r").await.unwrap_err();
    assert_eq!(err.code().as_str(), "unavailable", "{}", err.error.message);
    assert!(
        err.error.message.contains("cannot be reached"),
        "{}",
        err.error.message
    );
    cluster.redis.run();
    until_ok("a forwarded call", || via_b.get_room("r")).await;

    // PostgreSQL down: a ban cannot be committed, and the kick is refused, changing nothing.
    {
        let pg = cluster.pg.clone();
        tokio::task::spawn_blocking(move || pg.stop())
            .await
            .unwrap();
    }
    let err = via_b.remove("r", "troll", Some(600)).await.unwrap_err();
    assert_eq!(err.code().as_str(), "unavailable", "{}", err.error.message);
    assert_eq!(
        common::api_identities(&a.admin(), "r").await,
        ["hana", "troll"]
    );
    {
        let pg = cluster.pg.clone();
        tokio::task::spawn_blocking(move || pg.run()).await.unwrap();
    }
    until_ok("a kick with a ban", || {
        via_b.remove("r", "troll", Some(600))
    })
    .await;
    assert_eq!(common::api_identities(&a.admin(), "r").await, ["hana"]);
    drop(hana);
    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_that_cannot_renew_its_lease_stops_its_rooms() {
    let cluster = Cluster::start("lapse").await;
    let a = TestServer::with_config(cluster.node("a", 1_500, 250)).await;
    let a_id = node_id(&a.http).await;
    let hana = a.join("r", "hana", "host").await;
    // Its registration is gone: renewals fail, and before its lease could be taken, its rooms
    // stop.
    let statement: &'static str =
        Box::leak(format!("DELETE FROM cluster_nodes WHERE id = '{a_id}';").into_boxed_str());
    sql(&cluster, statement);
    expect_room_left(&hana, "server_shutdown", None).await;
    // It opens no room while it holds no lease.
    let refused = RtcClient::connect(&a.ws, &a.token("r", "ben", "participant")).await;
    let refused = refused.err().expect("no lease, no rooms");
    assert_eq!(refused.code.as_str(), "unavailable", "{refused}");
    a.stop().await;
}
