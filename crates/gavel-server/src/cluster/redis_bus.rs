//! The bus on Redis pub/sub (`[cluster] redis`), with `redis`'s connection manager: one
//! multiplexed RESP3 connection per node that reconnects by itself and subscribes again to
//! every channel after a reconnect, so a Redis restart or failover needs nothing from Gavel.
//!
//! Received messages go to a bounded inbox ([`super::bus::INBOX`]); when the node falls that
//! far behind, newer messages are dropped and counted — the bus promises at most once, and the
//! receivers' sequence numbers find the gap. Commands fail at once while Redis is unreachable
//! (a short connection timeout, no retries), so callers answer `unavailable` instead of waiting.

use super::bus::{Bus, BusError, BusFuture, Received, INBOX};
use prometheus_client::metrics::counter::Counter;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

/// How long one connection attempt to Redis may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// How long one command (a publish) may take.
pub const RESPONSE_TIMEOUT: Duration = Duration::from_secs(2);

/// How often an idle connection is checked. The connection manager reconnects (and subscribes
/// again) when a command finds the connection broken, and a node that only listens sends no
/// commands: this ping is what brings its subscriptions back after Redis restarts.
pub const PING_INTERVAL: Duration = Duration::from_secs(1);

pub struct RedisBus {
    conn: ConnectionManager,
    /// Messages dropped because the inbox was full.
    pub dropped: Counter,
    /// Whether the last ping was answered.
    pub healthy: Arc<std::sync::atomic::AtomicBool>,
    pinger: tokio::task::JoinHandle<()>,
}

impl Drop for RedisBus {
    fn drop(&mut self) {
        self.pinger.abort();
    }
}

fn error(e: redis::RedisError) -> BusError {
    BusError(format!("the bus (Redis) is unavailable: {e}"))
}

impl RedisBus {
    /// Connects to `url` (`redis://host:port/`); fails if Redis cannot be reached now.
    pub async fn connect(url: &str) -> Result<(RedisBus, mpsc::Receiver<Received>), BusError> {
        Self::connect_counting(url, Counter::default()).await
    }

    /// [`RedisBus::connect`], counting dropped messages in `dropped` (a metric).
    pub async fn connect_counting(
        url: &str,
        dropped: Counter,
    ) -> Result<(RedisBus, mpsc::Receiver<Received>), BusError> {
        let info: redis::ConnectionInfo = url
            .parse()
            .map_err(|e| BusError(format!("invalid [cluster] redis: {e}")))?;
        // Push messages (pub/sub on the same multiplexed connection) need RESP3.
        let settings = info
            .redis_settings()
            .clone()
            .set_protocol(redis::ProtocolVersion::RESP3);
        let info = info.set_redis_settings(settings);
        let client = redis::Client::open(info).map_err(error)?;
        let (tx, rx) = mpsc::channel(INBOX);
        let counter = dropped.clone();
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(CONNECT_TIMEOUT))
            .set_response_timeout(Some(RESPONSE_TIMEOUT))
            .set_number_of_retries(0)
            .set_automatic_resubscription()
            .set_push_sender(move |push: redis::PushInfo| {
                if let Some(received) = message(push) {
                    if tx.try_send(received).is_err() {
                        counter.inc();
                    }
                }
                Ok::<(), redis::aio::SendError>(())
            });
        let conn = client
            .get_connection_manager_with_config(config)
            .await
            .map_err(error)?;
        let healthy = Arc::new(std::sync::atomic::AtomicBool::new(true));
        let pinger = tokio::spawn(ping(conn.clone(), healthy.clone()));
        Ok((
            RedisBus {
                conn,
                dropped,
                healthy,
                pinger,
            },
            rx,
        ))
    }
}

async fn ping(mut conn: ConnectionManager, healthy: Arc<std::sync::atomic::AtomicBool>) {
    loop {
        tokio::time::sleep(PING_INTERVAL).await;
        let answered = redis::cmd("PING")
            .query_async::<String>(&mut conn)
            .await
            .is_ok();
        healthy.store(answered, Ordering::Relaxed);
    }
}

/// A published message from a push; `None` for the rest (subscription confirmations,
/// disconnection notices).
fn message(push: redis::PushInfo) -> Option<Received> {
    if push.kind != redis::PushKind::Message {
        return None;
    }
    let mut data = push.data.into_iter();
    let channel: String = redis::from_redis_value(data.next()?).ok()?;
    let payload: Vec<u8> = redis::from_redis_value(data.next()?).ok()?;
    Some(Received { channel, payload })
}

impl Bus for RedisBus {
    fn publish<'a>(&'a self, channel: &'a str, payload: Vec<u8>) -> BusFuture<'a, ()> {
        let mut conn = self.conn.clone();
        Box::pin(async move {
            redis::cmd("PUBLISH")
                .arg(channel)
                .arg(payload)
                .query_async::<i64>(&mut conn)
                .await
                .map(drop)
                .map_err(error)
        })
    }

    fn subscribe<'a>(&'a self, channel: &'a str) -> BusFuture<'a, ()> {
        let mut conn = self.conn.clone();
        Box::pin(async move { conn.subscribe(channel).await.map_err(error) })
    }

    fn unsubscribe<'a>(&'a self, channel: &'a str) -> BusFuture<'a, ()> {
        let mut conn = self.conn.clone();
        Box::pin(async move { conn.unsubscribe(channel).await.map_err(error) })
    }
}
