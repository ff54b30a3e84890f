//! The bus between nodes on Redis (`cluster/redis_bus.rs`), against a private `redis-server`:
//! messages reach every subscribed node and not the others; while Redis is down a publish
//! fails at once instead of hanging; once it is back, subscriptions are in place again without
//! anything asked of the bus, and messages flow.

mod common;

use common::redis::Redis;
use gavel_server::cluster::bus::{Bus, Envelope, Received};
use gavel_server::cluster::redis_bus::RedisBus;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

const WAIT: Duration = Duration::from_secs(5);

async fn next(rx: &mut mpsc::Receiver<Received>) -> Received {
    tokio::time::timeout(WAIT, rx.recv())
        .await
        .expect("a message in time")
        .expect("the bus is open")
}

/// Publishes until one message arrives (subscriptions take effect asynchronously after a
/// reconnect); returns how many were sent.
async fn publish_until_received(
    bus: &RedisBus,
    rx: &mut mpsc::Receiver<Received>,
    channel: &str,
) -> usize {
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut sent = 0;
    loop {
        assert!(Instant::now() < deadline, "the bus recovered");
        let body = Envelope::new("a", "ping", sent.to_string().into_bytes()).encode();
        match bus.publish(channel, body).await {
            Ok(()) => sent += 1,
            Err(e) => eprintln!("publish: {e}"),
        }
        if let Ok(Some(m)) = tokio::time::timeout(Duration::from_millis(100), rx.recv()).await {
            assert_eq!(m.channel, channel);
            return sent;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_reach_subscribers_and_the_bus_recovers_after_redis_restarts() {
    let redis = Redis::start();
    let (a, mut a_rx) = RedisBus::connect(&redis.url()).await.unwrap();
    let (b, mut b_rx) = RedisBus::connect(&redis.url()).await.unwrap();
    a.subscribe("node:a").await.unwrap();
    b.subscribe("node:b").await.unwrap();
    b.subscribe("room:r").await.unwrap();

    let hello = Envelope::new("a", "event", b"{\"type\":\"pinned\"}".to_vec());
    a.publish("room:r", hello.encode()).await.unwrap();
    let got = next(&mut b_rx).await;
    assert_eq!(got.channel, "room:r");
    assert_eq!(Envelope::decode(&got.payload).unwrap(), hello);
    b.publish(
        "node:a",
        Envelope::new("b", "reply", vec![1, 2, 3]).encode(),
    )
    .await
    .unwrap();
    assert_eq!(
        Envelope::decode(&next(&mut a_rx).await.payload)
            .unwrap()
            .body,
        [1, 2, 3]
    );
    // a never subscribed to room:r: nothing of it reached a.
    assert!(a_rx.try_recv().is_err());

    // Redis dies: publishing fails at once, it does not hang.
    redis.stop();
    let started = Instant::now();
    let failed = a.publish("room:r", hello.encode()).await;
    assert!(failed.is_err(), "published to a dead Redis");
    assert!(
        started.elapsed() < WAIT,
        "a publish waited {:?}",
        started.elapsed()
    );

    // Redis is back (empty: pub/sub keeps nothing): the subscriptions come back by themselves.
    redis.run();
    publish_until_received(&a, &mut b_rx, "room:r").await;
    publish_until_received(&b, &mut a_rx, "node:a").await;
    b.unsubscribe("room:r").await.unwrap();
    a.publish("room:r", hello.encode()).await.unwrap();
    a.publish("node:b", hello.encode()).await.unwrap();
    let got = next(&mut b_rx).await;
    // Messages published before the unsubscribe may still be in flight; the last is node:b's.
    let mut last = got;
    while let Ok(Some(m)) = tokio::time::timeout(Duration::from_millis(200), b_rx.recv()).await {
        last = m;
    }
    assert_eq!(last.channel, "node:b");
}
