//! An edge's watch over the rooms its sessions are in: when a room's owner is gone (its lease
//! expired, or it left — handing its rooms over, and saying so on the bus), the edge admits those sessions again wherever the room is served now —
//! on the node that took it, or here, taking it itself (the ownership compare-and-set picks one
//! taker among the edges racing for it). Sockets stay open; each session gets a fresh `joined`
//! snapshot from the new owner, and the bans and revocations the old owner committed hold
//! there (they are in the shared store). An edge admits a room's sessions in batches, each one
//! bus message and one turn of the room (`edge_session::join_many`).

use super::edge_session::{self, ManyJoined};
use super::node::Node;
use crate::fanout::{Conn, Frame, Outgoing};
use crate::registry::Registry;
use gavel_core::{Error, JoinRequest, LeaveReason};
use std::sync::Arc;
use std::time::Duration;

/// Looks at the owners of the edge's rooms every `every` (at most 500 ms), until the server
/// stops.
pub async fn watch_owners(
    node: Arc<Node>,
    registry: Arc<Registry>,
    every: Duration,
    mut stopped: tokio::sync::watch::Receiver<bool>,
) {
    // A dead owner's rooms are taken when its lease expires: look often enough that its
    // sessions are admitted again well within a second of that (one query for every room).
    let mut tick = tokio::time::interval(every.min(Duration::from_millis(500)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = node.owners_changed.notified() => {}
            _ = stopped.wait_for(|s| *s) => return,
        }
        let rooms = node.edge.rooms();
        if rooms.is_empty() {
            continue;
        }
        let names = rooms.iter().map(|(r, _)| r.clone()).collect();
        let owners = match node.owners(names).await {
            Ok(o) => o,
            Err(e) => {
                tracing::warn!(error = %e, "cannot look up the owners of this edge's rooms");
                continue;
            }
        };
        for (room, owner) in rooms {
            if owners.get(&room) == Some(&owner) {
                continue;
            }
            tracing::warn!(%room, former = %owner, "the room's owner is gone: admitting its sessions again");
            let sessions = node.edge.take_room(&room);
            readmit(&node, &registry, &room, sessions).await;
        }
    }
}

/// Sessions admitted together in one message to the room's new owner, and such messages in
/// flight at once: a room of thousands moves in a few round trips, each one turn of the room.
const READMIT_BATCH: usize = 500;
const BATCHES_AT_ONCE: usize = 4;

type Session = (u64, JoinRequest, Conn);

/// Admits sessions of `room` wherever it is served now.
async fn readmit(node: &Arc<Node>, registry: &Arc<Registry>, room: &str, sessions: Vec<Session>) {
    use futures_util::StreamExt;
    // Any media session they had lived on the owner that is gone: they open new ones after
    // the `joined` that follows (queued first, so it precedes that snapshot).
    let ended = Frame::event(&gavel_core::Event::MediaSessionEnded {
        reason: gavel_core::MediaEndReason::Failover,
    });
    for (_, _, conn) in &sessions {
        let _ = conn.send(Outgoing::Frame(ended.clone()));
    }
    let mut pending = sessions;
    for _ in 0..3 {
        if pending.is_empty() {
            return;
        }
        let owner = match edge_session::serving_node(node, room, true).await {
            Ok(owner) => owner,
            Err(e) => {
                pending
                    .iter()
                    .for_each(|(_, _, c)| outcome(node, c, Err(e.clone())));
                return;
            }
        };
        if owner == node.id {
            // This node serves it now: its sessions join here, a batch per turn of the room.
            for batch in batches(pending) {
                join_here(node, registry, room, batch).await;
            }
            return;
        }
        let mut answers = futures_util::stream::iter(batches(std::mem::take(&mut pending)))
            .map(|batch| {
                let owner = owner.clone();
                async move {
                    let joined = edge_session::join_many(node, &owner, room, batch.clone()).await;
                    (joined, batch)
                }
            })
            .buffer_unordered(BATCHES_AT_ONCE);
        let mut again = Vec::new();
        while let Some((joined, batch)) = answers.next().await {
            match joined {
                ManyJoined::Answered(results) => {
                    let conns: std::collections::HashMap<u64, &Conn> =
                        batch.iter().map(|(k, _, c)| (*k, c)).collect();
                    for (key, result) in results {
                        if let Some(conn) = conns.get(&key) {
                            outcome(node, conn, result.map(drop));
                        }
                    }
                }
                // It changed hands again meanwhile: look again.
                ManyJoined::NotHere => again.extend(batch),
                ManyJoined::Failed(e) => batch
                    .iter()
                    .for_each(|(_, _, c)| outcome(node, c, Err(e.clone()))),
            }
        }
        pending = again;
    }
    let e = Error::new(
        gavel_core::ErrorCode::Unavailable,
        format!("room '{room}' changed hands three times while its sessions were admitted again"),
    );
    pending
        .iter()
        .for_each(|(_, _, c)| outcome(node, c, Err(e.clone())));
}

/// `sessions` in batches of at most [`READMIT_BATCH`].
fn batches(mut sessions: Vec<Session>) -> Vec<Vec<Session>> {
    let mut out = Vec::with_capacity(sessions.len().div_ceil(READMIT_BATCH));
    while !sessions.is_empty() {
        let rest = sessions.split_off(sessions.len().min(READMIT_BATCH));
        out.push(std::mem::replace(&mut sessions, rest));
    }
    out
}

/// Counts a re-admission; a session that cannot go on is told why, and its socket closes.
fn outcome(node: &Node, conn: &Conn, result: Result<(), Error>) {
    let label = if result.is_ok() { "ok" } else { "refused" };
    node.metrics
        .cluster_readmitted
        .get_or_create(&crate::metrics::OutcomeLabel { outcome: label })
        .inc();
    if let Err(e) = result {
        let _ = conn.send(Outgoing::Frame(Frame::error(&e)));
        let _ = conn.send(Outgoing::Close(LeaveReason::ServerShutdown));
    }
}

/// Admits `batch` into `room`, which this node serves now.
async fn join_here(node: &Node, registry: &Arc<Registry>, room: &str, batch: Vec<Session>) {
    let handle = match registry.get_or_create(room, None, false) {
        Ok((handle, _)) => handle,
        Err(e) => {
            batch
                .iter()
                .for_each(|(_, _, c)| outcome(node, c, Err(e.clone())));
            return;
        }
    };
    let mut joining = Vec::with_capacity(batch.len());
    for (_, req, conn) in batch {
        match registry.check_inherited_bans(room, &req.identity).await {
            Ok(()) => joining.push((req, conn)),
            Err(e) => outcome(node, &conn, Err(e)),
        }
    }
    let conns: Vec<Conn> = joining.iter().map(|(_, c)| c.clone()).collect();
    match handle.join_many(joining).await {
        Ok(results) => {
            for (conn, result) in conns.iter().zip(results) {
                // Its snapshot was queued before the joins were answered; then the session
                // sends its next requests here.
                let joined = result.map(|sid| {
                    let _ = conn.send(Outgoing::Rejoined(handle.clone(), sid));
                });
                outcome(node, conn, joined);
            }
        }
        Err(e) => conns.iter().for_each(|c| outcome(node, c, Err(e.clone()))),
    }
}
