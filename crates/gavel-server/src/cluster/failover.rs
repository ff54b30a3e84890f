//! An edge's watch over the rooms its sessions are in: when a room's owner is gone (its lease
//! expired, or it left — handing its rooms over, and saying so on the bus), the edge admits those sessions again wherever the room is served now —
//! on the node that took it, or here, taking it itself (the ownership compare-and-set picks one
//! taker among the edges racing for it). Sockets stay open; each session gets a fresh `joined`
//! snapshot from the new owner, and the bans and revocations the old owner committed hold
//! there (they are in the shared store).

use super::edge_session::{self, RemoteJoin};
use super::node::Node;
use crate::fanout::{Conn, Frame, Outgoing};
use crate::registry::Registry;
use gavel_core::{Error, JoinRequest, LeaveReason};
use std::sync::Arc;
use std::time::Duration;

/// Looks at the owners of the edge's rooms every `every`, until the server stops.
pub async fn watch_owners(
    node: Arc<Node>,
    registry: Arc<Registry>,
    every: Duration,
    mut stopped: tokio::sync::watch::Receiver<bool>,
) {
    let mut tick = tokio::time::interval(every);
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

/// Sessions admitted again at once: a room of thousands moves in seconds, not one round trip
/// after another.
const READMIT_AT_ONCE: usize = 64;

/// Admits sessions of `room` wherever it is served now.
async fn readmit(
    node: &Arc<Node>,
    registry: &Arc<Registry>,
    room: &str,
    sessions: Vec<(u64, JoinRequest, Conn)>,
) {
    use futures_util::StreamExt;
    let admissions = sessions.into_iter().map(|(key, req, conn)| async move {
        let result = readmit_one(node, registry, room, key, req, conn.clone()).await;
        let outcome = if result.is_ok() { "ok" } else { "refused" };
        node.metrics
            .cluster_readmitted
            .get_or_create(&crate::metrics::OutcomeLabel { outcome })
            .inc();
        if let Err(e) = result {
            // The session cannot go on: it is told why, and its socket closes.
            let _ = conn.send(Outgoing::Frame(Frame::error(&e)));
            let _ = conn.send(Outgoing::Close(LeaveReason::ServerShutdown));
        }
    });
    futures_util::stream::iter(admissions)
        .buffer_unordered(READMIT_AT_ONCE)
        .for_each(|()| async {})
        .await;
}

async fn readmit_one(
    node: &Arc<Node>,
    registry: &Arc<Registry>,
    room: &str,
    key: u64,
    req: JoinRequest,
    conn: Conn,
) -> Result<(), Error> {
    for _ in 0..3 {
        let owner = edge_session::serving_node(node, room, true).await?;
        if owner != node.id {
            match edge_session::join(node, key, &owner, room, req.clone(), conn.clone()).await {
                RemoteJoin::Joined { .. } => return Ok(()),
                RemoteJoin::NotHere => continue,
                RemoteJoin::Refused(e) => return Err(e),
            }
        }
        // This node serves it now.
        registry.check_inherited_bans(room, &req.identity).await?;
        let (handle, _) = registry.get_or_create(room, None, false)?;
        // Its snapshot is queued first; then the session sends its next requests here.
        let sid = handle.join(req, conn.clone()).await?;
        let _ = conn.send(Outgoing::Rejoined(handle, sid));
        return Ok(());
    }
    Err(Error::new(
        gavel_core::ErrorCode::Unavailable,
        format!("room '{room}' changed hands three times while this session was admitted again"),
    ))
}
