//! Cluster mode: many nodes on one PostgreSQL database and one bus, each room owned by one
//! node at a time (`docs/cluster.md`).
//!
//! The ownership layer ([`lease`]) — node leases judged by the database's clock,
//! one owner per room taken by a single compare-and-set, and the epoch that fences every
//! durable write of a room (the PostgreSQL store checks it in the commit's own transaction) —
//! and the bus between nodes ([`bus`]; on Redis, [`redis_bus`]); and this node's membership
//! ([`node`]: registration, the lease thread, readiness). The registry opens a room only under
//! this node's ownership and its commits carry the fence (`registry.rs`, `room_actor.rs`).
//! A service call for a room another node owns is forwarded to it ([`forward`]); the room list
//! is gathered from every node. A WebSocket on a node that does not own its room joins through
//! the owner, this node being its edge ([`edge`], [`edge_link`], [`edge_session`]), and is
//! admitted again when that owner dies ([`failover`]). Every node serves the certificate one of
//! them ordered, and answers its ACME challenges ([`acme`]).

pub mod acme;
pub mod bus;
pub mod edge;
pub mod edge_link;
pub mod edge_session;
pub mod edge_wire;
pub mod failover;
pub mod forward;
pub mod lease;
pub mod moves;
pub mod node;
pub mod redis_bus;

use bus::{Bus, Envelope, Received};
use forward::{Answer, Call, KIND_ANSWER, KIND_CALL};
use std::sync::Arc;

const MAX_FORWARDED_CALLS: usize = 1024;

/// Reads what the bus brings this node: calls forwarded to it (run through its own service
/// layer, each on a task of its own, so a slow room never holds up another's call) and answers
/// to the calls it forwarded. A message of a wire version this node cannot read is refused
/// with a clear error, never misread. Ends when this node leaves the cluster.
pub async fn dispatch(
    node: Arc<node::Node>,
    mut inbox: tokio::sync::mpsc::Receiver<Received>,
    service: crate::service::Service,
) {
    let mut stopped = node.left();
    // Forwarded calls running at once; beyond that the dispatcher waits, and what the bus
    // brings meanwhile waits in (or, once full, is dropped from) the bounded inbox.
    let running = Arc::new(tokio::sync::Semaphore::new(MAX_FORWARDED_CALLS));
    loop {
        let message = tokio::select! {
            m = inbox.recv() => match m {
                Some(m) => m,
                None => return,
            },
            _ = stopped.wait_for(|s| *s) => return,
        };
        let envelope = match Envelope::decode(&message.payload) {
            Ok(envelope) => envelope,
            Err(refused) => {
                tracing::warn!(node = %node.id, channel = %message.channel, "{refused}");
                continue;
            }
        };
        match envelope.kind.as_str() {
            KIND_CALL => {
                let Ok(call) = serde_json::from_slice::<Call>(&envelope.body) else {
                    tracing::warn!(node = %node.id, from = %envelope.from, "a malformed forwarded call");
                    continue;
                };
                let Ok(permit) = running.clone().acquire_owned().await else {
                    return;
                };
                let (node, service) = (node.clone(), service.clone());
                tokio::spawn(async move {
                    let _permit = permit;
                    let id = call.id;
                    let answer = match service.call_forwarded(&call.by, call.request).await {
                        Some(result) => Answer::Done {
                            id,
                            result: Box::new(result),
                        },
                        None => Answer::NotHere { id },
                    };
                    answer_to(&node, &envelope.from, &answer).await;
                });
            }
            KIND_ANSWER => node.pending.answered(&envelope.body),
            acme::KIND_ACME_CHALLENGE => {
                let Ok(msg) = serde_json::from_slice::<acme::ChallengeMsg>(&envelope.body) else {
                    tracing::warn!(node = %node.id, from = %envelope.from, "a malformed ACME challenge");
                    continue;
                };
                let result = match node.acme.get() {
                    Some(shared) => shared.answer(&msg.challenge),
                    None => Err("this node does not use ACME".to_string()),
                };
                let result = result
                    .map(|()| crate::service::ServiceReply::Done)
                    .map_err(|e| gavel_core::Error::new(gavel_core::ErrorCode::Unavailable, e));
                let answer = Answer::Done {
                    id: msg.id,
                    result: Box::new(result),
                };
                answer_to(&node, &envelope.from, &answer).await;
            }
            acme::KIND_ACME_ISSUED if envelope.from != node.id => {
                if let Some(shared) = node.acme.get().cloned() {
                    tokio::spawn(async move { shared.on_issued().await });
                }
            }
            node::KIND_NODE_LEFT => node.forget_node(&envelope.from),
            edge_wire::KIND_TO_EDGE => {
                let Ok(msg) = serde_json::from_slice::<edge_wire::EdgeMsg>(&envelope.body) else {
                    tracing::warn!(node = %node.id, from = %envelope.from, "a malformed message for an edge");
                    continue;
                };
                node.metrics.edge_message("received");
                let follow = node.edge.on_message(&envelope.from, msg);
                if let Some((owner, room)) = follow.resync {
                    node.metrics.cluster_edge_resyncs.inc();
                    edge_session::resync(&node, &owner, room).await;
                }
                use gavel_core::LeaveReason::{Disconnected, SlowConsumer};
                let gone = (follow.dropped.into_iter().map(|d| (d, SlowConsumer)))
                    .chain(follow.unknown.into_iter().map(|u| (u, Disconnected)));
                for ((owner, room, sid), reason) in gone {
                    edge_session::tell_gone(&node, &owner, room, sid, reason).await;
                }
            }
            edge_wire::KIND_EDGE_JOIN
            | edge_wire::KIND_EDGE_JOIN_MANY
            | edge_wire::KIND_MOVE_CHECK
            | edge_wire::KIND_MOVE_IN => {
                let Ok(permit) = running.clone().acquire_owned().await else {
                    return;
                };
                let (node, registry) = (node.clone(), service.registry().clone());
                tokio::spawn(async move {
                    let _permit = permit;
                    match answer_edge(&registry, &node, &envelope).await {
                        Some(answer) => answer_to(&node, &envelope.from, &answer).await,
                        None => {
                            tracing::warn!(node = %node.id, from = %envelope.from, kind = %envelope.kind, "a malformed message from an edge")
                        }
                    }
                });
            }
            // A session's requests and its leaving are handed to its room in the order they
            // came (a room's inbox is deep; a full one holds up this node's bus for a moment).
            edge_wire::KIND_EDGE_CLIENT => {
                if let Ok(c) = serde_json::from_slice::<edge_wire::EdgeClient>(&envelope.body) {
                    if let Some(room) = service.registry().get(&c.room) {
                        let _ = room.client(c.sid, c.id, c.command).await;
                    }
                }
            }
            edge_wire::KIND_EDGE_GONE => {
                if let Ok(g) = serde_json::from_slice::<edge_wire::EdgeGone>(&envelope.body) {
                    if let Some(room) = service.registry().get(&g.room) {
                        let conn = match g.key {
                            Some(key) => crate::fanout::WeakConn::remote(&envelope.from, key),
                            None => crate::fanout::WeakConn::none(),
                        };
                        room.connection_ended(g.sid, g.reason, g.suspend, conn, g.kept)
                            .await;
                    }
                }
            }
            edge_wire::KIND_EDGE_RESYNC => {
                if let Ok(r) = serde_json::from_slice::<edge_wire::EdgeResync>(&envelope.body) {
                    if let Some(room) = service.registry().get(&r.room) {
                        room.resync(envelope.from.clone()).await;
                    }
                }
            }
            kind => {
                tracing::debug!(node = %node.id, from = %envelope.from, kind, "bus message with no handler")
            }
        }
    }
}

/// The owner's answer to an edge's join, joins, move check or move (`None`: the message does
/// not parse).
async fn answer_edge(
    registry: &crate::registry::Registry,
    node: &node::Node,
    envelope: &Envelope,
) -> Option<Answer> {
    let (body, from) = (&envelope.body, envelope.from.as_str());
    Some(match envelope.kind.as_str() {
        edge_wire::KIND_EDGE_JOIN => {
            edge_session::admit(registry, node, from, serde_json::from_slice(body).ok()?).await
        }
        edge_wire::KIND_EDGE_JOIN_MANY => {
            let many = serde_json::from_slice(body).ok()?;
            edge_session::admit_many(registry, node, from, many).await
        }
        edge_wire::KIND_MOVE_CHECK => {
            edge_session::check_move(registry, serde_json::from_slice(body).ok()?).await
        }
        _ => edge_session::move_in(registry, node, serde_json::from_slice(body).ok()?).await,
    })
}

/// Publishes the answer to a call or join on the asking node's channel.
async fn answer_to(node: &node::Node, to: &str, answer: &Answer) {
    let body = serde_json::to_vec(answer).expect("answers serialize");
    let reply = Envelope::new(&node.id, KIND_ANSWER, body).encode();
    if let Err(e) = node.bus.publish(&forward::node_channel(to), reply).await {
        tracing::warn!(node = %node.id, to, error = %e, "cannot answer a forwarded call");
    }
}
