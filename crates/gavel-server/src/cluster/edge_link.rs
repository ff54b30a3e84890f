//! The owner's side of an edge: one [`EdgeLink`] per (room, edge) that has sessions in the
//! room, numbering what the room sends that edge, and one ordered outbox per node that
//! publishes it.
//!
//! A room actor never waits on the bus: it queues encoded messages on the outbox (bounded);
//! one task publishes them in order, so a room's messages reach each edge in the order the room
//! produced them (Redis delivers one connection's publishes in order). A full outbox refuses
//! the message like a full connection queue, and the room drops that session as a slow
//! consumer.

use super::bus::{Bus, Envelope};
use super::edge_wire::{EdgeBody, EdgeMsg, KIND_TO_EDGE};
use super::forward::node_channel;
use crate::fanout::SendError;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use tokio::sync::mpsc;

/// Messages waiting to be published by this node (to every edge together).
const OUTBOX: usize = 65_536;

/// A room's messages to one edge.
#[derive(Debug)]
pub struct EdgeLink {
    pub room: Arc<str>,
    pub edge: String,
    channel: String,
    link: u64,
    seq: Mutex<u64>,
    from: String,
    outbox: mpsc::Sender<(String, Vec<u8>)>,
}

impl EdgeLink {
    /// Numbers `body` and queues it for the edge.
    pub fn send(&self, body: EdgeBody) -> Result<(), SendError> {
        // Numbered and queued under one lock, so numbers reach the outbox in order even when a
        // task other than the room actor sends (the owner's answer to a join adds the ICE
        // servers). Uncontended but for those: the room actor sends nearly everything.
        let mut last = self.seq.lock().unwrap_or_else(|p| p.into_inner());
        *last += 1;
        let seq = *last;
        let msg = EdgeMsg {
            room: self.room.to_string(),
            link: self.link,
            seq,
            body,
        };
        let body = serde_json::to_vec(&msg).expect("edge messages serialize");
        let envelope = Envelope::new(&self.from, KIND_TO_EDGE, body).encode();
        self.outbox
            .try_send((self.channel.clone(), envelope))
            .map_err(|e| match e {
                mpsc::error::TrySendError::Full(_) => SendError::Full,
                mpsc::error::TrySendError::Closed(_) => SendError::Closed,
            })
    }
}

/// (room, edge node).
type LinkKey = (Arc<str>, String);

/// This node's links, shared by every session of an edge in a room (a link lives while one of
/// them does), and its outbox.
pub struct Links {
    me: String,
    links: Mutex<HashMap<LinkKey, Weak<EdgeLink>>>,
    outbox: mpsc::Sender<(String, Vec<u8>)>,
}

impl Links {
    /// Starts the publishing task; it ends when the links are dropped.
    pub fn start(me: &str, bus: Arc<dyn Bus>, metrics: Arc<crate::metrics::Metrics>) -> Links {
        let (outbox, mut queue) = mpsc::channel::<(String, Vec<u8>)>(OUTBOX);
        tokio::spawn(async move {
            while let Some((channel, payload)) = queue.recv().await {
                match bus.publish(&channel, payload).await {
                    Ok(()) => metrics.edge_message("sent"),
                    // At most once: the edge notices the gap and resynchronises.
                    Err(e) => tracing::warn!(%channel, error = %e, "a message to an edge was lost"),
                }
            }
        });
        Links {
            me: me.to_string(),
            links: Mutex::new(HashMap::new()),
            outbox,
        }
    }

    /// The link of `room` to `edge`, made if there is none.
    pub fn link(&self, room: &Arc<str>, edge: &str) -> Arc<EdgeLink> {
        let mut links = self.links.lock().unwrap();
        let key = (room.clone(), edge.to_string());
        if let Some(link) = links.get(&key).and_then(Weak::upgrade) {
            return link;
        }
        // Drop the entries of links that ended (bounded by the rooms and edges alive).
        links.retain(|_, l| l.strong_count() > 0);
        let link = Arc::new(EdgeLink {
            room: room.clone(),
            edge: edge.to_string(),
            channel: node_channel(edge),
            link: rand::random::<u64>() >> 1,
            seq: Mutex::new(0),
            from: self.me.clone(),
            outbox: self.outbox.clone(),
        });
        links.insert(key, Arc::downgrade(&link));
        link
    }
}
