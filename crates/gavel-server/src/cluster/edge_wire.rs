//! What edges and owners say to each other about WebSocket sessions (bodies of bus
//! envelopes, JSON).
//!
//! An *edge* is the node holding a participant's WebSocket; the *owner* holds its room. The
//! edge names each of its sessions by a key of its own (known before the room has given the
//! session an id), so the room can address a session from the moment it joins.
//!
//! - edge → owner: [`EdgeJoin`] (answered like a forwarded call), [`EdgeJoinMany`] (many
//!   sessions at once, when a room changed hands), [`EdgeClient`] (a request;
//!   its response comes back as a frame), [`EdgeGone`] (the socket closed), [`EdgeResync`] (the
//!   edge saw a gap).
//! - owner → edge: [`EdgeMsg`], numbered per (room, edge) link so the edge notices a lost one.

use gavel_core::{Command, JoinRequest, LeaveReason, Millis, MovingParticipant};
use serde::{Deserialize, Serialize};

pub const KIND_EDGE_JOIN: &str = "edge_join";
pub const KIND_EDGE_JOIN_MANY: &str = "edge_join_many";
pub const KIND_EDGE_CLIENT: &str = "edge_client";
pub const KIND_EDGE_GONE: &str = "edge_gone";
pub const KIND_EDGE_RESYNC: &str = "edge_resync";
pub const KIND_TO_EDGE: &str = "to_edge";
pub const KIND_MOVE_CHECK: &str = "move_check";
pub const KIND_MOVE_IN: &str = "move_in";

/// A session on the edge asks to join `room` (served by the receiving node).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EdgeJoin {
    /// The call id its answer carries.
    pub id: u64,
    pub room: String,
    pub key: u64,
    pub req: JoinRequest,
    /// The session cannot follow a move to another node (`fanout::Conn::is_pinned`).
    #[serde(default)]
    pub pinned: bool,
    /// Resumes session `sid` after the room's message `last_ev` instead of joining
    /// (`journal.rs`).
    #[serde(default)]
    pub resume: Option<EdgeResume>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EdgeResume {
    pub sid: String,
    /// `None`: a fresh snapshot instead of the missed messages.
    #[serde(default)]
    pub last_ev: Option<u64>,
}

/// Sessions of the edge join `room` together: after a failover, an edge admits all its
/// participants of a room again in a few messages, not one round trip each.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EdgeJoinMany {
    pub id: u64,
    pub room: String,
    pub joins: Vec<OneJoin>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OneJoin {
    pub key: u64,
    pub req: JoinRequest,
    #[serde(default)]
    pub pinned: bool,
}

/// A session's request, as the room runs a client's own (`RoomHandle::client`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EdgeClient {
    pub room: String,
    pub sid: String,
    pub id: serde_json::Value,
    pub command: Command,
}

/// A session's socket closed.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EdgeGone {
    pub room: String,
    pub sid: String,
    pub reason: LeaveReason,
    /// The session's key on the edge (a session that resumed elsewhere since is not affected).
    #[serde(default)]
    pub key: Option<u64>,
    /// Its socket broke: the session may resume within the grace period.
    #[serde(default)]
    pub suspend: bool,
    /// What its front-end keeps for the resume (`RoomMsg::Disconnected`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kept: Option<String>,
}

/// The edge missed messages of `room`: the owner sends it who is attached and a fresh snapshot
/// for each of them.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EdgeResync {
    pub room: String,
}

/// One message from a room to one edge. `link` names the sender's numbering (a new one starts
/// at 1, for instance after a new owner took the room); `seq` counts within it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EdgeMsg {
    pub room: String,
    pub link: u64,
    pub seq: u64,
    pub body: EdgeBody,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum EdgeBody {
    /// The session `key` is now in this room as `sid`: it receives the room's events from here
    /// on (after a move, instead of its former room's). `waiting`: it waits in the room's
    /// waiting room, so only what is addressed to it (`keys`) reaches it — never what goes to
    /// everyone — until an `Attach` without it says it was admitted.
    Attach {
        key: u64,
        sid: String,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        waiting: bool,
    },
    /// An event or response (JSON, without `seq`: each connection numbers its own) for the
    /// edge's sessions in `to`.
    Deliver { to: EdgeAudience, frame: String },
    /// The room ended this session: close its socket with `reason`.
    Close { key: u64, reason: LeaveReason },
    /// The answer to a resync: exactly these sessions of the edge are in the room (any other
    /// is closed); their snapshots follow.
    /// (`waiting`: those of them still in the waiting room).
    Resync {
        keys: Vec<u64>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        waiting: Vec<u64>,
    },
}

/// Which of the edge's sessions in the room a delivery is for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "who", content = "keys", rename_all = "snake_case")]
pub enum EdgeAudience {
    All,
    AllExcept(u64),
    Keys(Vec<u64>),
}

impl EdgeAudience {
    pub fn includes(&self, key: u64) -> bool {
        match self {
            EdgeAudience::All => true,
            EdgeAudience::AllExcept(k) => *k != key,
            EdgeAudience::Keys(ks) => ks.contains(&key),
        }
    }
}

/// Before a move into a room the receiving node serves: would it admit `identity` (with a
/// token issued at `issued_at`)? Answered like a forwarded call; nothing changes.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MoveCheck {
    pub id: u64,
    pub room: String,
    pub identity: String,
    pub issued_at: Option<Millis>,
    /// The move comes out of one of `room`'s child rooms (its lock lets it in).
    #[serde(default)]
    pub from_child: bool,
}

/// A participant moved out of a room on the sending node, into `room` on the receiving one.
/// Its socket is session `key` of node `edge` (the sender itself when the socket is there).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MoveIn {
    pub id: u64,
    pub room: String,
    pub moving: MovingParticipant,
    pub edge: String,
    pub key: u64,
    /// The mover may grant more there than the room's defaults (else the participant is
    /// limited to them).
    pub may_grant: bool,
}
