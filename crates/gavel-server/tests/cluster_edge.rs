//! Participants on any node: a WebSocket that reaches a node which does not own its room stays
//! there (the edge) and is in the room its owner serves — its snapshot, its requests, every
//! event in the same order as everyone else — with one bus message per edge per event, however
//! many of the room's sessions that edge holds. When the owner dies, the edge admits its
//! sessions again without closing their sockets, and the owner's bans hold. A participant's
//! media session lives on the owner (signalling passes through the edge; packets go straight to
//! the owner's media port), where host controls act on it. Against private PostgreSQL and Redis
//! servers; the dying owner is a real process, killed with SIGKILL.

mod common;

use common::cluster::{node_id, Cluster};
use common::media::frames_heard;
use common::process::{free_port, gavel, Proc};
use common::{expect, expect_kinds, expect_room_left, metric, settle, TestServer, KEY, SECRET};
use gavel_client::core::{Event, Source};
use gavel_client::media::MediaPeer;
use gavel_client::{AccessToken, RtcClient};
use gavel_server::cluster::bus::{Bus, Envelope};
use gavel_server::cluster::redis_bus::RedisBus;
use serde_json::{json, Value};
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// The others in the room, as the client's state holds them.
fn identities(client: &RtcClient) -> Vec<String> {
    let mut v: Vec<String> = client.state().participants.keys().cloned().collect();
    v.sort();
    v
}

/// The types of the events in `messages` (responses left out).
fn kinds(messages: &[gavel_client::Message]) -> Vec<String> {
    messages
        .iter()
        .filter_map(|m| match m {
            gavel_client::Message::Event { event, .. } => Some(event.kind().to_string()),
            _ => None,
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_participant_on_any_node_is_in_the_room_its_owner_serves() {
    let cluster = Cluster::start("edges").await;
    let config = |name: &str| cluster.node(name, 3_000, 500);
    let a = TestServer::with_config(config("a")).await;
    let b = TestServer::with_config(config("b")).await;
    let b_id = node_id(&b.http).await;

    // Everything the bus brings b, counted by kind.
    let (spy, mut spied) = RedisBus::connect(&cluster.redis.url()).await.unwrap();
    spy.subscribe(&format!("gavel:node:{b_id}")).await.unwrap();

    // "r" is owned by a; ben and ann join it through b, which is their edge.
    let hana = a.join("r", "hana", "host").await;
    let ben = b.join("r", "ben", "participant").await;
    assert_eq!(identities(&ben), ["hana"], "ben's snapshot");
    expect(&hana, "participant_joined").await;
    let ann = b.join("r", "ann", "participant").await;
    expect(&ben, "participant_joined").await;
    settle(&hana).await;
    settle(&ben).await;
    settle(&ann).await;
    while spied.try_recv().is_ok() {}

    // One event for the whole room: one message to b, which holds two of its sessions.
    a.admin().update_room_metadata("r", "agenda").await.unwrap();
    for c in [&hana, &ben, &ann] {
        expect(c, "room_updated").await;
    }
    let mut to_edge = 0;
    while let Ok(Some(m)) = tokio::time::timeout(Duration::from_millis(500), spied.recv()).await {
        let e = Envelope::decode(&m.payload).unwrap();
        if e.kind == "to_edge" {
            to_edge += 1;
            let body: Value = serde_json::from_slice(&e.body).unwrap();
            assert_eq!(body["body"]["to"]["who"], "all", "{body}");
        }
    }
    assert_eq!(to_edge, 1, "one bus message to the edge for one event");
    let sent = metric(&a, "gavel_cluster_edge_messages_total{direction=\"sent\"}").await;
    let received = metric(
        &b,
        "gavel_cluster_edge_messages_total{direction=\"received\"}",
    )
    .await;
    assert!(sent >= 1.0 && received >= 1.0, "{sent} {received}");

    // Requests from the edge run in the room: a host on b mutes, kicks; everyone sees the same
    // events in the same order.
    let host_b = b.join("r", "hugo", "host").await;
    let r = host_b
        .request(json!({"type": "kick", "identity": "ann", "ban_seconds": 600}))
        .await
        .unwrap();
    assert_eq!(r["ok"], true, "{r}");
    expect_room_left(&ann, "kicked", Some("hugo")).await;
    a.admin()
        .update_room_metadata("r", "agenda 2")
        .await
        .unwrap();
    let seen: Vec<Vec<String>> = {
        let mut v = Vec::new();
        for c in [&hana, &ben] {
            expect_kinds(c, &["participant_left", "room_updated"]).await;
            v.push(kinds(&settle(c).await));
        }
        v
    };
    assert_eq!(seen[0], seen[1], "same events in the same order");
    // The ban holds for a join through any node.
    let again = RtcClient::connect(&b.ws, &b.token("r", "ann", "participant")).await;
    assert_eq!(again.err().expect("banned").code.as_str(), "banned");

    // Each connection numbers its own frames without a gap.
    for c in [&hana, &ben, &host_b] {
        assert_eq!(c.seq_break(), None, "{}", c.identity());
    }

    // A socket closing on the edge is a participant leaving.
    ben.close().await;
    match expect(&hana, "participant_left").await {
        Event::ParticipantLeft {
            identity, reason, ..
        } => {
            assert_eq!(identity, "ben");
            assert_eq!(serde_json::to_value(reason).unwrap(), "disconnected");
        }
        other => panic!("{other:?}"),
    }
    drop((hana, host_b));
    b.stop().await;
    a.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_the_owner_dies_its_edges_admit_their_participants_again() {
    let cluster = Cluster::start("failover").await;
    // The owner is a real process, so it can die at once.
    let port = free_port();
    let dir = common::process::temp_dir("failover");
    let config = dir.join("gavel.toml");
    std::fs::write(
        &config,
        format!(
            "[store]\npostgres = \"{}\"\n\n[cluster]\nenabled = true\nnode_id = \"a\"\nredis = \"{}\"\nlease_ttl_ms = 1500\nheartbeat_ms = 250\n",
            cluster.url,
            cluster.redis.url()
        ),
    )
    .unwrap();
    let mut a = Proc(
        gavel(&[
            "dev",
            "--bind",
            &format!("127.0.0.1:{port}"),
            "--config",
            config.to_str().unwrap(),
        ])
        .spawn()
        .expect("spawn gavel"),
    );
    let lines = a.stdout_lines();
    common::process::wait_for_line(&lines, "listening");
    let (a_http, a_ws) = (
        format!("http://127.0.0.1:{port}"),
        format!("ws://127.0.0.1:{port}"),
    );
    let b = TestServer::with_config(cluster.node("b", 1_500, 250)).await;

    let token = |identity: &str, role: &str| {
        AccessToken::new(KEY, SECRET)
            .join("r", identity)
            .name(identity)
            .role(role)
            .to_jwt()
    };
    // a owns "r": hana is there, ben reaches it through b; hana bans a troll.
    let hana = RtcClient::connect(&a_ws, &token("hana", "host"))
        .await
        .unwrap();
    let ben = b.join("r", "ben", "participant").await;
    let troll = b.join("r", "troll", "participant").await;
    let r = hana
        .request(json!({"type": "kick", "identity": "troll", "ban_seconds": 600}))
        .await
        .unwrap();
    assert_eq!(r["ok"], true, "{r}");
    expect_room_left(&troll, "kicked", Some("hana")).await;
    assert_eq!(node_id(&a_http).await.split('-').next(), Some("a"));
    // ben has a media session, on a (the owner).
    let loopback = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);
    let ben_media = MediaPeer::open(&ben, loopback, &[], 2, 0).await.unwrap();
    assert!(ben_media.connected(common::WAIT).await);
    settle(&ben).await;

    // a dies. Within its lease (1.5 s) and the edge's next look (0.25 s), b takes the room and
    // admits ben again: a fresh snapshot on the same socket, without hana.
    let died = Instant::now();
    a.0.kill().unwrap();
    a.0.wait().unwrap();
    // First he hears his media session is gone, then the new snapshot.
    let ended = ben
        .wait_type("media_session_ended", Duration::from_secs(15))
        .await;
    assert!(ended.is_ok(), "told his media session ended: {ended:?}");
    let joined = ben.wait_type("joined", Duration::from_secs(15)).await;
    assert!(joined.is_ok(), "ben was admitted again: {joined:?}");
    let took = died.elapsed();
    assert!(
        identities(&ben).is_empty(),
        "the new owner's snapshot: {:?}",
        identities(&ben)
    );
    // The socket never closed, and ben's requests now run in the room on b.
    let r = ben.request(json!({"type": "ping"})).await.unwrap();
    assert_eq!(r["pong"], true);
    let carol = b.join("r", "carol", "participant").await;
    expect(&ben, "participant_joined").await;
    // The ban a committed holds on b.
    let again = RtcClient::connect(&b.ws, &b.token("r", "troll", "participant")).await;
    assert_eq!(again.err().expect("still banned").code.as_str(), "banned");
    // ben's media session died with a; he opens it again, now with b, and hears carol.
    let ben_media = ben_media.reopen(&ben).await.unwrap();
    let carol_media = MediaPeer::open(&carol, loopback, &[Source::Microphone], 2, 0)
        .await
        .unwrap();
    assert!(ben_media.connected(common::WAIT).await);
    assert!(carol_media.connected(common::WAIT).await);
    let got = frames_heard(&carol_media, &ben_media, "after").await;
    assert!(got >= 15, "ben got {got} of 25");
    let readmitted = metric(&b, "gavel_cluster_readmitted_total{outcome=\"ok\"}").await;
    assert!(readmitted >= 1.0, "{readmitted}");
    eprintln!("re-admitted {took:?} after the owner died");
    drop((hana, carol));
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_that_stops_hands_its_rooms_over_to_the_edges_of_their_participants() {
    let cluster = Cluster::start("handover").await;
    let config = |name: &str| cluster.node(name, 3_000, 500);
    let a = TestServer::with_config(config("a")).await;
    let b = TestServer::with_config(config("b")).await;
    let c = TestServer::with_config(config("c")).await;
    let hana = a.join("r", "hana", "host").await;
    let ben = b.join("r", "ben", "participant").await;
    let carol = b.join("r", "carol", "participant").await;
    let dan = c.join("r", "dan", "participant").await;
    expect_kinds(&ben, &["participant_joined", "participant_joined"]).await;
    settle(&ben).await;
    settle(&dan).await;

    // a stops gracefully: its own socket closes; ben and carol on b, and dan on c, stay in the
    // room, now served by b or c — one takes it, the other's sessions join it there in one
    // batch — each with a fresh snapshot, and nobody saw them leave.
    a.stop().await;
    expect_room_left(&hana, "server_shutdown", None).await;
    for p in [&ben, &carol, &dan] {
        expect(p, "joined").await;
    }
    let ben_saw = settle(&ben).await;
    settle(&carol).await;
    settle(&dan).await;
    assert_eq!(identities(&ben), ["carol", "dan"]);
    assert_eq!(identities(&carol), ["ben", "dan"]);
    assert_eq!(identities(&dan), ["ben", "carol"]);
    assert!(
        !kinds(&ben_saw).contains(&"participant_left".to_string()),
        "{ben_saw:?}"
    );
    let readmitted = |ts| metric(ts, "gavel_cluster_readmitted_total{outcome=\"ok\"}");
    assert_eq!(readmitted(&b).await + readmitted(&c).await, 3.0);
    // They go on in the room: carol and dan leave, ben sees it.
    carol.close().await;
    expect(&ben, "participant_left").await;
    dan.close().await;
    expect(&ben, "participant_left").await;
    assert_eq!(ben.seq_break(), None);
    c.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn media_of_a_participant_on_an_edge_flows_through_the_owner_and_obeys_its_hosts() {
    let cluster = Cluster::start("edge_media").await;
    let config = |name: &str| cluster.node(name, 3_000, 500);
    let a = TestServer::with_config(config("a")).await;
    let b = TestServer::with_config(config("b")).await;
    let loopback = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);

    // The room is a's; ann publishes through b (her edge), hana listens on a.
    let host = a.join("m", "hana", "host").await;
    let hana = MediaPeer::open(&host, loopback, &[], 2, 0).await.unwrap();
    let ann_ws = b.join("m", "ann", "participant").await;
    let ann = MediaPeer::open(&ann_ws, loopback, &[Source::Microphone], 2, 0)
        .await
        .expect("ann's media session, negotiated through her edge");
    assert!(ann.connected(common::WAIT).await, "ann never connected");
    assert!(hana.connected(common::WAIT).await, "hana never connected");
    // The track is announced from the owner.
    let info = b.admin().get_participant("m", "ann").await.unwrap();
    assert_eq!(info["participant"]["tracks"][0]["media"], true, "{info}");

    let got = frames_heard(&ann, &hana, "before").await;
    assert!(got >= 15, "hana got {got} of 25");

    // A host's mute, sent through the server API on b, silences her at the owner.
    b.admin()
        .mute("m", "ann", "microphone", true)
        .await
        .unwrap();
    let got = frames_heard(&ann, &hana, "muted").await;
    assert_eq!(got, 0, "frames after the mute");

    // Moved into a room b serves, her media session cannot follow: she is told so before the
    // new snapshot, opens it again with b, and sue — in that room — hears her.
    let sue_ws = b.join("n", "sue", "host").await;
    let sue = MediaPeer::open(&sue_ws, loopback, &[], 2, 0).await.unwrap();
    assert!(sue.connected(common::WAIT).await, "sue never connected");
    a.admin().move_participant("m", "ann", "n").await.unwrap();
    expect_kinds(&ann_ws, &["moved", "media_session_ended", "joined"]).await;
    let ann = ann.reopen(&ann_ws).await.expect("her media session with b");
    assert!(
        ann.connected(common::WAIT).await,
        "ann never connected again"
    );
    let got = frames_heard(&ann, &sue, "moved").await;
    assert!(got >= 15, "sue got {got} of 25");
    drop((ann_ws, host, sue_ws));
    b.stop().await;
    a.stop().await;
}

/// LiveKit's client protocol through an edge: the join response comes from the owner's room,
/// and the room's events reach the LiveKit client as LiveKit's messages.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_livekit_client_on_an_edge_is_in_the_owners_room() {
    use livekit_protocol::signal_response::Message as Response_;

    let cluster = Cluster::start("edge_livekit").await;
    let config = |name: &str| cluster.node(name, 3_000, 500);
    let a = TestServer::with_config(config("a")).await;
    let b = TestServer::with_config(config("b")).await;
    let hana = a.join("r", "hana", "host").await;

    let token = b.token("r", "lee", "participant");
    let url = format!("{}/rtc?access_token={token}", b.ws);
    let mut lee = tokio_tungstenite::connect_async(url).await.unwrap().0;
    let Some(Response_::Join(join)) = next_signal(&mut lee).await else {
        panic!("a JoinResponse first")
    };
    let others: Vec<&str> = join
        .other_participants
        .iter()
        .map(|p| p.identity.as_str())
        .collect();
    assert_eq!(others, ["hana"], "the owner's room");
    expect(&hana, "participant_joined").await;
    // A participant joining on a reaches lee, through b, as a ParticipantUpdate.
    let _ann = a.join("r", "ann", "participant").await;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        assert!(Instant::now() < deadline, "no update about ann");
        if let Some(Response_::Update(update)) = next_signal(&mut lee).await {
            if update.participants.iter().any(|p| p.identity == "ann") {
                break;
            }
        }
    }
    // LiveKit's leave, through the edge (a socket that only breaks is kept for a resume).
    use futures_util::SinkExt;
    use prost::Message as _;
    let leave = livekit_protocol::SignalRequest {
        message: Some(livekit_protocol::signal_request::Message::Leave(
            Default::default(),
        )),
    };
    let bytes = leave.encode_to_vec();
    let frame = tokio_tungstenite::tungstenite::Message::Binary(bytes.into());
    lee.send(frame).await.unwrap();
    expect(&hana, "participant_left").await;
    drop(lee);
    b.stop().await;
    a.stop().await;
}

type Signal =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// The next LiveKit `SignalResponse` message.
async fn next_signal(ws: &mut Signal) -> Option<livekit_protocol::signal_response::Message> {
    use futures_util::StreamExt;
    use prost::Message as _;
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(5), ws.next())
            .await
            .expect("a message within 5 s")
            .expect("open")
            .unwrap();
        if let tokio_tungstenite::tungstenite::Message::Binary(b) = msg {
            return livekit_protocol::SignalResponse::decode(b.as_ref())
                .unwrap()
                .message;
        }
    }
}

/// Each node's TURN relay serves only its own media ports, so a participant gets the relay of
/// the node serving its room — where its media session is — wherever its socket is: with its
/// first `joined`, and again after a move takes its room to another node.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_participant_gets_the_turn_relay_of_the_node_serving_its_room() {
    use common::turn::{turn_addr, Client};
    use gavel_server::turn::{credentials, TurnConfig};

    let cluster = Cluster::start("edge_turn").await;
    let config = |name: &str, secret: &str, relay: (u16, u16)| {
        let mut c = cluster.node(name, 3_000, 500);
        c.turn = TurnConfig {
            enabled: true,
            udp_port: free_port(),
            tls_port: 0,
            relay_ports: relay,
            secret: Some(secret.into()),
            ..TurnConfig::default()
        };
        c
    };
    let (config_a, config_b) = (
        config("a", "secret-of-a", (42000, 42099)),
        config("b", "secret-of-b", (42100, 42199)),
    );
    let relay =
        |c: &gavel_server::config::Config| std::net::SocketAddr::new(c.bind.ip(), c.turn.udp_port);
    let (relay_a, relay_b) = (relay(&config_a), relay(&config_b));
    let a = TestServer::with_config(config_a).await;
    let b = TestServer::with_config(config_b).await;

    // "r" is a's, "s" is b's; ben's socket is on b.
    let hana = a.join("r", "hana", "host").await;
    let _sue = b.join("s", "sue", "host").await;
    let token = b.token("r", "ben", "participant");
    let url = format!("{}/v1/rtc?access_token={token}", b.ws);
    let mut ben = tokio_tungstenite::connect_async(url).await.unwrap().0;
    let first = next_frame(&mut ben, "joined").await;
    assert_eq!(first["self"]["identity"], "ben", "{first}");
    let server = next_frame(&mut ben, "ice_servers").await["ice_servers"][0].clone();
    assert_eq!(turn_addr(&server), relay_a, "a's relay: {server}");
    let (user, password) = (
        server["username"].as_str().unwrap(),
        server["credential"].as_str().unwrap(),
    );
    assert_eq!(password, credentials::password(b"secret-of-a", user));
    // The credential works on a's relay, which relays to a's media plane.
    let mut client = Client::new(turn_addr(&server), user, password).await;
    assert!(client.allocate().await, "allocation: {:?}", client.events);
    let media = a.server.as_ref().unwrap().media_addr().unwrap();
    client.send(media, b"not really media").await;
    let deadline = Instant::now() + Duration::from_secs(5);
    while metric(&a, "gavel_turn_relayed_bytes_total").await == 0.0 {
        assert!(Instant::now() < deadline, "nothing was relayed by a");
        client.drive(Duration::from_millis(100), |_| false).await;
    }

    // Moved into b's room, ben's socket and room are on the same node: b's relay.
    a.admin().move_participant("r", "ben", "s").await.unwrap();
    next_frame(&mut ben, "moved").await;
    let server = next_frame(&mut ben, "ice_servers").await["ice_servers"][0].clone();
    assert_eq!(turn_addr(&server), relay_b, "b's relay: {server}");
    let user = server["username"].as_str().unwrap();
    assert_eq!(
        server["credential"].as_str().unwrap(),
        credentials::password(b"secret-of-b", user)
    );

    // Moved back, a serves his room again, and gives him its relay.
    b.admin().move_participant("s", "ben", "r").await.unwrap();
    next_frame(&mut ben, "moved").await;
    let server = next_frame(&mut ben, "ice_servers").await["ice_servers"][0].clone();
    assert_eq!(turn_addr(&server), relay_a, "a's relay again: {server}");
    drop((ben, hana));
    b.stop().await;
    a.stop().await;
}

/// Reads a native client's frames until one of type `kind` (which is returned).
async fn next_frame(ws: &mut Signal, kind: &str) -> Value {
    use futures_util::StreamExt;
    let deadline = Instant::now() + common::WAIT;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let m = tokio::time::timeout(left, ws.next())
            .await
            .unwrap_or_else(|_| panic!("no {kind}"))
            .expect("the socket stays open")
            .unwrap();
        if let Ok(text) = m.to_text() {
            let v: Value = serde_json::from_str(text).unwrap();
            if v["type"] == kind {
                return v;
            }
        }
    }
}

/// A session that must wait in the waiting room of a room another node serves stays on its edge,
/// waiting: it gets its own status and nothing the room sends everyone (the edge keeps it out
/// of the room's deliveries) until a host on the owner admits it; then it is in the room like
/// anyone on that edge.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_waiter_on_an_edge_hears_nothing_of_the_room_until_admitted() {
    let cluster = Cluster::start("waitingedge").await;
    let config = |name: &str| cluster.node(name, 3_000, 500);
    let a = TestServer::with_config(config("a")).await;
    let b = TestServer::with_config(config("b")).await;
    a.admin()
        .create_room("wr", json!({"waiting_room": {"enabled": true}}))
        .await
        .unwrap();
    let hana = a.join("wr", "hana", "host").await;
    let ann = b.join("wr", "ann", "host").await;
    let wes = RtcClient::connect(&b.ws, &b.token("wr", "wes", "participant"))
        .await
        .unwrap();
    assert!(wes.is_waiting(), "wes waits, through b");
    expect(&hana, "waiter_added").await;
    expect(&ann, "waiter_added").await;
    settle(&wes).await;

    // The room goes on: one delivery to b for everyone there, which wes must not get.
    a.admin()
        .update_room_metadata("wr", "agenda")
        .await
        .unwrap();
    expect(&ann, "room_updated").await;
    hana.request(json!({"type": "raise_hand"})).await.unwrap();
    expect(&ann, "hand_changed").await;
    let got = settle(&wes).await;
    assert!(got.is_empty(), "a waiter heard the room: {:?}", kinds(&got));

    hana.request(json!({"type": "admit", "identities": ["wes"]}))
        .await
        .unwrap();
    expect(&wes, "joined").await;
    assert_eq!(identities(&wes), ["ann", "hana"]);
    a.admin().update_room_metadata("wr", "later").await.unwrap();
    expect(&wes, "room_updated").await;
    a.stop().await;
    b.stop().await;
}
