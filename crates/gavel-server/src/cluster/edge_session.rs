//! The bus calls of a WebSocket session whose room another node serves (the edge's half;
//! `edge.rs` keeps the books), and of the owner answering them.

use super::bus::{Bus, Envelope};
use super::edge_wire::{
    EdgeClient, EdgeGone, EdgeJoin, EdgeResync, KIND_EDGE_CLIENT, KIND_EDGE_GONE, KIND_EDGE_JOIN,
    KIND_EDGE_RESYNC,
};
use super::forward::{node_channel, Answer};
use super::node::Node;
use crate::fanout::Conn;
use crate::registry::Registry;
use gavel_core::{Command, Error, ErrorCode, JoinRequest, LeaveReason};

/// How a remote join ended.
pub enum RemoteJoin {
    /// In the room as `sid`; the session's key on this edge; for a pinned session, the ICE
    /// servers of the owner (see `forward::Answer::Joined`).
    Joined {
        key: u64,
        sid: String,
        ice_servers: Vec<crate::turn::IceServer>,
        /// A resumed session's: what its front-end kept when it broke.
        kept: Option<String>,
    },
    /// `owner` does not serve the room (any more): look again.
    NotHere,
    Refused(Error),
}

/// Joins `room`, served by `owner`, for session `key` on this node's socket — or, with
/// `resume`, resumes that session there.
pub async fn join(
    node: &Node,
    key: u64,
    owner: &str,
    room: &str,
    req: JoinRequest,
    conn: Conn,
    resume: Option<super::edge_wire::EdgeResume>,
) -> RemoteJoin {
    let pinned = conn.is_pinned();
    node.edge.register(key, room, owner, req.clone(), conn);
    let body = |id| {
        let join = EdgeJoin {
            id,
            room: room.to_string(),
            key,
            req,
            pinned,
            resume,
        };
        serde_json::to_vec(&join).expect("joins serialize")
    };
    let answer = node.ask(owner, KIND_EDGE_JOIN, body).await;
    match answer {
        Ok(Answer::Joined {
            result: Ok(sid),
            ice_servers,
            kept,
            ..
        }) => {
            node.edge.joined(key, &sid);
            RemoteJoin::Joined {
                key,
                sid,
                ice_servers,
                kept,
            }
        }
        other => {
            node.edge.remove(key);
            match other {
                Ok(Answer::NotHere { .. }) => RemoteJoin::NotHere,
                Ok(Answer::Joined { result: Err(e), .. }) | Err(e) => RemoteJoin::Refused(e),
                Ok(
                    Answer::Done { .. }
                    | Answer::Joined { result: Ok(_), .. }
                    | Answer::JoinedMany { .. },
                ) => RemoteJoin::Refused(Error::new(
                    ErrorCode::Internal,
                    "a join was answered as a call",
                )),
            }
        }
    }
}

/// How a batch of remote joins ended.
pub enum ManyJoined {
    /// Each session's outcome (sessions that joined are recorded on this edge).
    Answered(Vec<(u64, Result<String, Error>)>),
    /// `owner` does not serve the room (any more): look again.
    NotHere,
    /// No answer (the bus, or the owner's timeout): none of them is in the room here.
    Failed(Error),
}

/// Joins sessions `joins` (key, request, connection) of this edge into `room`, served by
/// `owner`, in one message.
pub async fn join_many(
    node: &Node,
    owner: &str,
    room: &str,
    joins: Vec<(u64, JoinRequest, Conn)>,
) -> ManyJoined {
    use super::edge_wire::{EdgeJoinMany, OneJoin, KIND_EDGE_JOIN_MANY};
    let mut wire = Vec::with_capacity(joins.len());
    for (key, req, conn) in joins {
        wire.push(OneJoin {
            key,
            req: req.clone(),
            pinned: conn.is_pinned(),
        });
        node.edge.register(key, room, owner, req, conn);
    }
    let keys: Vec<u64> = wire.iter().map(|j| j.key).collect();
    let body = |id| {
        let many = EdgeJoinMany {
            id,
            room: room.to_string(),
            joins: wire,
        };
        serde_json::to_vec(&many).expect("joins serialize")
    };
    let answer = node.ask(owner, KIND_EDGE_JOIN_MANY, body).await;
    let forget = || keys.iter().for_each(|k| drop(node.edge.remove(*k)));
    match answer {
        Ok(Answer::JoinedMany { results, .. }) => {
            let out = results
                .into_iter()
                .map(|one| {
                    match &one.result {
                        Ok(sid) => node.edge.joined(one.key, sid),
                        Err(_) => drop(node.edge.remove(one.key)),
                    }
                    (one.key, one.result)
                })
                .collect();
            ManyJoined::Answered(out)
        }
        Ok(Answer::NotHere { .. }) => {
            forget();
            ManyJoined::NotHere
        }
        Ok(_) => {
            forget();
            ManyJoined::Failed(Error::new(ErrorCode::Internal, "an unexpected answer"))
        }
        Err(e) => {
            forget();
            ManyJoined::Failed(e)
        }
    }
}

/// The node that serves `room` (`fresh`: not from the cache), taking it for this node if
/// nobody does: joins racing through several nodes open a room on exactly one (the
/// compare-and-set), and the others join it there.
pub async fn serving_node(node: &Node, room: &str, fresh: bool) -> Result<String, Error> {
    use super::lease::Owner;
    let unavailable = |e: crate::store::StoreError| Error::new(ErrorCode::Unavailable, e.message);
    match node.owner_of(room, fresh).await.map_err(unavailable)? {
        Some(owner) => Ok(owner),
        None => match node.acquire(room).await.map_err(unavailable)? {
            Owner::Me(_) => Ok(node.id.clone()),
            Owner::Other(owner) => Ok(owner),
        },
    }
}

/// Sends a session's request to its room's owner; `false` if the session is gone here.
pub async fn client(node: &Node, key: u64, id: serde_json::Value, command: Command) -> bool {
    let Some(route) = node.edge.route(key) else {
        return false;
    };
    let body = EdgeClient {
        room: route.room,
        sid: route.sid,
        id,
        command,
    };
    publish(node, &route.owner, KIND_EDGE_CLIENT, &body).await;
    true
}

/// The session's socket closed: the owner hears it left — or, with `suspend` (it broke), that
/// it may resume.
pub async fn gone(node: &Node, key: u64, reason: LeaveReason, suspend: bool, kept: Option<String>) {
    if let Some(route) = node.edge.remove(key) {
        let body = EdgeGone {
            room: route.room,
            sid: route.sid,
            reason,
            key: Some(key),
            suspend,
            kept,
        };
        publish(node, &route.owner, KIND_EDGE_GONE, &body).await;
    }
}

pub async fn tell_gone(node: &Node, owner: &str, room: String, sid: String, reason: LeaveReason) {
    let body = EdgeGone {
        room,
        sid,
        reason,
        key: None,
        suspend: false,
        kept: None,
    };
    publish(node, owner, KIND_EDGE_GONE, &body).await;
}

/// Asks `owner` to resynchronise this edge's sessions in `room`.
pub async fn resync(node: &Node, owner: &str, room: String) {
    publish(node, owner, KIND_EDGE_RESYNC, &EdgeResync { room }).await;
}

async fn publish(node: &Node, to: &str, kind: &str, body: &impl serde::Serialize) {
    let body = serde_json::to_vec(body).expect("edge messages serialize");
    let envelope = Envelope::new(&node.id, kind, body).encode();
    if let Err(e) = node.bus.publish(&node_channel(to), envelope).await {
        // At most once: a lost request gets no response (the client's own timeout), a lost
        // leave is found by the owner's resync or its room's end.
        tracing::warn!(to, kind, error = %e, "a message to a room's owner was lost");
    }
}

/// The owner's side of an edge's join: the room must be open here; the session joins it
/// through this room's link to that edge.
pub async fn admit(registry: &Registry, node: &Node, edge: &str, join: EdgeJoin) -> Answer {
    let id = join.id;
    let Some(handle) = registry.get(&join.room) else {
        return Answer::NotHere { id };
    };
    let result = async {
        let conn = Conn::remote(node.links.link(&handle.name, edge), join.key, join.pinned);
        if let Some(r) = join.resume {
            let (sid, kept) = handle
                .resume(r.sid, join.req.identity, r.last_ev, conn.clone())
                .await?;
            return Ok((sid, conn, kept));
        }
        // Child rooms inherit their ancestors' bans (which live on this node too).
        registry
            .check_inherited_bans(&join.room, &join.req.identity)
            .await?;
        let sid = handle.join(join.req, conn.clone()).await?;
        Ok((sid, conn, None))
    }
    .await;
    let (result, ice_servers, kept) = match result {
        Ok((sid, conn, kept)) => {
            let servers = answered_ice_servers(node, &conn, &sid, join.pinned);
            (Ok(sid), servers, kept)
        }
        Err(e) => (Err(e), Vec::new(), None),
    };
    Answer::Joined {
        id,
        result,
        ice_servers,
        kept,
    }
}

/// The owner's side of [`join_many`]: the room must be open here; the sessions join it in one
/// turn of the room, through its link to that edge.
pub async fn admit_many(
    registry: &Registry,
    node: &Node,
    edge: &str,
    many: super::edge_wire::EdgeJoinMany,
) -> Answer {
    use super::forward::JoinedOne;
    let id = many.id;
    let Some(handle) = registry.get(&many.room) else {
        return Answer::NotHere { id };
    };
    let link = node.links.link(&handle.name, edge);
    let mut results = Vec::with_capacity(many.joins.len());
    let mut joining = Vec::with_capacity(many.joins.len());
    for j in many.joins {
        // Child rooms inherit their ancestors' bans (which live on this node too).
        match registry
            .check_inherited_bans(&many.room, &j.req.identity)
            .await
        {
            Ok(()) => joining.push((j.key, j.pinned, j.req)),
            Err(e) => results.push(JoinedOne {
                key: j.key,
                result: Err(e),
                ice_servers: Vec::new(),
            }),
        }
    }
    let conns: Vec<Conn> = joining
        .iter()
        .map(|(key, pinned, _)| Conn::remote(link.clone(), *key, *pinned))
        .collect();
    let joins = joining
        .iter()
        .zip(&conns)
        .map(|((_, _, req), conn)| (req.clone(), conn.clone()))
        .collect();
    let outcomes = match handle.join_many(joins).await {
        Ok(o) => o,
        Err(_) => return Answer::NotHere { id },
    };
    for (((key, pinned, _), conn), result) in joining.iter().zip(&conns).zip(outcomes) {
        let ice_servers = match &result {
            Ok(sid) => answered_ice_servers(node, conn, sid, *pinned),
            Err(_) => Vec::new(),
        };
        results.push(JoinedOne {
            key: *key,
            result,
            ice_servers,
        });
    }
    Answer::JoinedMany { id, results }
}

/// This node's ICE servers for a session it admitted from an edge: in the answer for a pinned
/// one (its protocol gives them in its join response), sent as a frame to any other.
fn answered_ice_servers(
    node: &Node,
    conn: &Conn,
    sid: &str,
    pinned: bool,
) -> Vec<crate::turn::IceServer> {
    let servers = node.ice_servers_for(sid);
    if pinned {
        return servers;
    }
    give_ice_servers(conn, &servers);
    Vec::new()
}

/// Sends an unpinned remote session this node's ICE servers, after its snapshot (queued by its
/// room before the join or move was answered): its media session is here now, and the client
/// uses them for its next peer connection.
fn give_ice_servers(conn: &Conn, servers: &[crate::turn::IceServer]) {
    if !servers.is_empty() {
        let _ = conn.send(crate::fanout::Outgoing::Frame(
            crate::fanout::Frame::ice_servers(servers),
        ));
    }
}

/// The owner's side of a move check: the room must be open here.
pub async fn check_move(registry: &Registry, check: super::edge_wire::MoveCheck) -> Answer {
    let id = check.id;
    let Some(handle) = registry.get(&check.room) else {
        return Answer::NotHere { id };
    };
    let (who, issued_at, from_child) = (check.identity.clone(), check.issued_at, check.from_child);
    let result = async {
        handle
            .inspect(move |r, now| r.can_admit_moved(now, &who, issued_at, from_child))
            .await??;
        registry
            .check_inherited_bans(&check.room, &check.identity)
            .await
    }
    .await
    .map(|()| crate::service::ServiceReply::Done);
    Answer::Done {
        id,
        result: Box::new(result),
    }
}

/// The owner's side of a move in: the participant joins the room here through this room's
/// link to its edge.
pub async fn move_in(registry: &Registry, node: &Node, m: super::edge_wire::MoveIn) -> Answer {
    let id = m.id;
    let Some(handle) = registry.get(&m.room) else {
        return Answer::NotHere { id };
    };
    let mut moving = m.moving;
    let result = async {
        if !m.may_grant {
            let (role, permissions) = handle.inspect(|r, _| r.default_grant()).await?;
            moving.limit_to(role, permissions);
        }
        let conn = if m.edge == node.id {
            // Its socket is on this node: it comes home from being an edge session (the room
            // tells the session to send its requests here).
            node.edge.take_session(m.key).ok_or_else(|| {
                Error::new(ErrorCode::Unavailable, "the moving session's socket closed")
            })?
        } else {
            // Only unpinned sessions are moved between nodes.
            Conn::remote(node.links.link(&handle.name, &m.edge), m.key, false)
        };
        let sid = handle.admit_moved(moving, conn.clone(), None).await?;
        Ok((sid, conn))
    }
    .await;
    let result = result.map(|(sid, conn)| {
        if conn.edge().is_some() {
            give_ice_servers(&conn, &node.ice_servers_for(&sid));
        }
        // A session come home has its socket here: it takes this node's servers itself.
        sid
    });
    Answer::Joined {
        id,
        result,
        ice_servers: Vec::new(),
        kept: None,
    }
}
