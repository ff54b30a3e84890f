//! The edge's side: WebSocket sessions on this node whose rooms another node serves.
//!
//! Each session gets a key here before it joins, so the owner can address it from its first
//! frame. The owner sends each room's events once per edge ([`EdgeMsg`]); this side fans each
//! out to the room's sessions it holds, through their ordinary connection queues, whose writers
//! number frames per connection as for a local room. Messages are numbered per (room, link):
//! a gap (a message the at-most-once bus lost) makes the edge ask the owner to resynchronise,
//! and the owner answers with the sessions it holds for this edge and a fresh snapshot for each.
//!
//! Pure bookkeeping under one lock; the bus calls are made by the caller (`cluster/mod.rs`,
//! `ws.rs`).

use super::edge_wire::{EdgeBody, EdgeMsg};
use crate::fanout::{Conn, Frame, Outgoing, SendError};
use gavel_core::{JoinRequest, LeaveReason};
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

/// A session on this node's socket in a room another node serves.
struct Session {
    conn: Conn,
    room: String,
    /// The room's id for it, once attached.
    sid: Option<String>,
    /// What it joined with: re-admitted with it if its room changes hands.
    req: JoinRequest,
}

/// A room with sessions here.
#[derive(Default)]
struct Room {
    owner: String,
    /// The owner's numbering: its link id and the next `seq` expected.
    link: Option<(u64, u64)>,
    /// Sessions the owner attached (they get its deliveries).
    attached: HashSet<u64>,
    /// Attached sessions in the room's waiting room: they get only deliveries naming them.
    waiting: HashSet<u64>,
}

#[derive(Default)]
struct State {
    sessions: HashMap<u64, Session>,
    rooms: HashMap<String, Room>,
}

/// What to tell the owner after a message was handled.
#[derive(Debug, Default, PartialEq)]
pub struct Followup {
    /// The room's messages had a gap: ask its owner to resynchronise.
    pub resync: Option<(String, String)>,
    /// Sessions whose queues were full, dropped here: (owner, room, sid) to report gone.
    pub dropped: Vec<(String, String, String)>,
    /// Sessions the room attached that this edge does not hold — their join's answer came too
    /// late here, or their socket closed before it came: (owner, room, sid) to report gone, so
    /// nobody stays in a room without a connection.
    pub unknown: Vec<(String, String, String)>,
}

/// Where a session's requests go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub owner: String,
    pub room: String,
    pub sid: String,
}

#[derive(Default)]
pub struct Edge {
    next_key: AtomicU64,
    state: Mutex<State>,
}

impl Edge {
    /// A new session's key.
    pub fn new_key(&self) -> u64 {
        self.next_key.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// Records session `key` about to join `room` on `owner`.
    pub fn register(&self, key: u64, room: &str, owner: &str, req: JoinRequest, conn: Conn) {
        let mut st = self.state.lock().unwrap();
        let r = st.rooms.entry(room.to_string()).or_default();
        r.owner = owner.to_string();
        st.sessions.insert(
            key,
            Session {
                conn,
                room: room.to_string(),
                sid: None,
                req,
            },
        );
    }

    /// The room's answer to the join: the session's id (it may have been attached already).
    pub fn joined(&self, key: u64, sid: &str) {
        if let Some(s) = self.state.lock().unwrap().sessions.get_mut(&key) {
            s.sid.get_or_insert_with(|| sid.to_string());
        }
    }

    /// Where the session's requests go now (its room changes on a move).
    pub fn route(&self, key: u64) -> Option<Route> {
        let st = self.state.lock().unwrap();
        let s = st.sessions.get(&key)?;
        let owner = st.rooms.get(&s.room)?.owner.clone();
        Some(Route {
            owner,
            room: s.room.clone(),
            sid: s.sid.clone()?,
        })
    }

    /// The session ended here (its socket closed, or its join failed): forgets it, and says
    /// where to report it.
    pub fn remove(&self, key: u64) -> Option<Route> {
        let mut st = self.state.lock().unwrap();
        let s = st.sessions.remove(&key)?;
        let owner = match st.rooms.get_mut(&s.room) {
            Some(r) => {
                r.attached.remove(&key);
                r.waiting.remove(&key);
                r.owner.clone()
            }
            None => String::new(),
        };
        forget_empty(&mut st, &s.room);
        Some(Route {
            owner,
            room: s.room,
            sid: s.sid?,
        })
    }

    /// Takes session `key` out (it moves into a room this node serves): its connection.
    pub fn take_session(&self, key: u64) -> Option<Conn> {
        let mut st = self.state.lock().unwrap();
        let s = st.sessions.remove(&key)?;
        if let Some(r) = st.rooms.get_mut(&s.room) {
            r.attached.remove(&key);
            r.waiting.remove(&key);
        }
        forget_empty(&mut st, &s.room);
        Some(s.conn)
    }

    /// Rooms with sessions here, and who serves each (for the failover watch).
    pub fn rooms(&self) -> Vec<(String, String)> {
        let st = self.state.lock().unwrap();
        st.rooms
            .iter()
            .map(|(name, r)| (name.clone(), r.owner.clone()))
            .collect()
    }

    /// Takes every session of `room` out (its owner is gone): (key, what it joined with, its
    /// connection), to be admitted again wherever the room is served now.
    pub fn take_room(&self, room: &str) -> Vec<(u64, JoinRequest, Conn)> {
        let mut st = self.state.lock().unwrap();
        st.rooms.remove(room);
        let keys: Vec<u64> = st
            .sessions
            .iter()
            .filter(|(_, s)| s.room == room)
            .map(|(k, _)| *k)
            .collect();
        keys.into_iter()
            .filter_map(|k| st.sessions.remove(&k).map(|s| (k, s.req, s.conn)))
            .collect()
    }

    /// A message from a room's owner.
    pub fn on_message(&self, from: &str, msg: EdgeMsg) -> Followup {
        let mut follow = Followup::default();
        let mut st = self.state.lock().unwrap();
        if let EdgeBody::Attach { key, sid, .. } = &msg.body {
            if !st.sessions.contains_key(key) {
                follow
                    .unknown
                    .push((from.to_string(), msg.room.clone(), sid.clone()));
            }
        }
        if !st.rooms.contains_key(&msg.room) {
            // A session of this edge moved into a room it had nobody in yet.
            let moved_in =
                matches!(&msg.body, EdgeBody::Attach { key, .. } if st.sessions.contains_key(key));
            if !moved_in {
                return follow; // no session of this room is here (any more)
            }
            let room = Room {
                owner: from.to_string(),
                ..Default::default()
            };
            st.rooms.insert(msg.room.clone(), room);
        }
        let Some(room) = st.rooms.get_mut(&msg.room) else {
            return follow;
        };
        if room.owner != from {
            return follow; // a former owner's late message
        }
        match room.link {
            Some((link, next)) if link == msg.link => {
                if msg.seq < next {
                    return follow; // a duplicate
                }
                if msg.seq > next {
                    follow.resync = Some((from.to_string(), msg.room.clone()));
                }
            }
            // A new numbering starts at 1; anything else means its start was lost.
            _ if msg.seq != 1 => follow.resync = Some((from.to_string(), msg.room.clone())),
            _ => {}
        }
        room.link = Some((msg.link, msg.seq + 1));
        match msg.body {
            EdgeBody::Attach { key, sid, waiting } => {
                let former = match st.sessions.get_mut(&key) {
                    Some(s) => {
                        s.sid = Some(sid);
                        let former = std::mem::replace(&mut s.room, msg.room.clone());
                        (former != msg.room).then_some(former)
                    }
                    None => return follow,
                };
                if let Some(former) = former {
                    // Moved between two rooms of the same owner.
                    if let Some(r) = st.rooms.get_mut(&former) {
                        r.attached.remove(&key);
                    }
                    forget_empty(&mut st, &former);
                }
                let owner = from.to_string();
                let r = st.rooms.entry(msg.room.clone()).or_default();
                r.owner = owner;
                r.attached.insert(key);
                match waiting {
                    true => r.waiting.insert(key),
                    false => r.waiting.remove(&key),
                };
            }
            EdgeBody::Deliver { to, frame } => {
                let Some(frame) = Frame::from_wire(frame) else {
                    tracing::warn!(room = %msg.room, "a malformed frame from the room's owner");
                    return follow;
                };
                let State { sessions, rooms } = &mut *st;
                let Some(room) = rooms.get_mut(&msg.room) else {
                    return follow;
                };
                let mut full = Vec::new();
                // Everyone-deliveries skip the waiting room; deliveries naming a session reach it.
                let everyone = !matches!(to, super::edge_wire::EdgeAudience::Keys(_));
                let reached = room
                    .attached
                    .iter()
                    .copied()
                    .filter(|k| to.includes(*k) && !(everyone && room.waiting.contains(k)));
                for key in reached {
                    if let Some(s) = sessions.get(&key) {
                        match s.conn.send(Outgoing::Frame(frame.clone())) {
                            Ok(()) | Err(SendError::Closed) => {}
                            Err(SendError::Full) => full.push(key),
                        }
                    }
                }
                for key in full {
                    room.attached.remove(&key);
                    room.waiting.remove(&key);
                    if let Some(s) = sessions.remove(&key) {
                        tracing::warn!(room = %msg.room, "disconnecting slow consumer: outgoing queue full");
                        // Dropping its connection ends the session (`slow_consumer`).
                        if let Some(sid) = s.sid {
                            follow
                                .dropped
                                .push((from.to_string(), msg.room.clone(), sid));
                        }
                    }
                }
            }
            EdgeBody::Close { key, reason } => {
                close(&mut st, &msg.room, key, reason);
            }
            EdgeBody::Resync { keys, waiting } => {
                if let Some(r) = st.rooms.get_mut(&msg.room) {
                    r.waiting = waiting.iter().copied().collect();
                }
                let keep: HashSet<u64> = keys.into_iter().chain(waiting).collect();
                let here: Vec<u64> = st
                    .sessions
                    .iter()
                    .filter(|(_, s)| s.room == msg.room)
                    .map(|(k, _)| *k)
                    .collect();
                for key in here {
                    if keep.contains(&key) {
                        if let Some(r) = st.rooms.get_mut(&msg.room) {
                            r.attached.insert(key);
                        }
                    } else if st.sessions.get(&key).is_some_and(|s| s.sid.is_some()) {
                        // The room no longer holds it (its close was lost).
                        close(&mut st, &msg.room, key, LeaveReason::Disconnected);
                    }
                }
            }
        }
        follow
    }
}

/// Ends a session here: its socket closes with `reason`.
fn close(st: &mut State, room: &str, key: u64, reason: LeaveReason) {
    if let Some(r) = st.rooms.get_mut(room) {
        r.attached.remove(&key);
        r.waiting.remove(&key);
    }
    if let Some(s) = st.sessions.remove(&key) {
        let _ = s.conn.send(Outgoing::Close(reason));
    }
    forget_empty(st, room);
}

/// A room with no session here left is forgotten.
fn forget_empty(st: &mut State, room: &str) {
    if !st.sessions.values().any(|s| s.room == room) {
        st.rooms.remove(room);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::edge_wire::EdgeAudience;

    fn req(identity: &str) -> JoinRequest {
        JoinRequest {
            identity: identity.into(),
            name: String::new(),
            metadata: String::new(),
            attributes: Default::default(),
            role: "participant".into(),
            permissions: Default::default(),
            issued_at: None,
            bypass_lock: false,
            bypass_waiting_room: false,
        }
    }

    fn msg(seq: u64, body: EdgeBody) -> EdgeMsg {
        EdgeMsg {
            room: "r".into(),
            link: 7,
            seq,
            body,
        }
    }

    fn deliver(to: EdgeAudience, text: &str) -> EdgeBody {
        EdgeBody::Deliver {
            to,
            frame: format!("{{\"type\":\"{text}\"}}"),
        }
    }

    fn frames(rx: &mut tokio::sync::mpsc::Receiver<Outgoing>) -> Vec<String> {
        let mut out = Vec::new();
        while let Ok(o) = rx.try_recv() {
            match o {
                Outgoing::Frame(f) => out.push(f.json()),
                Outgoing::Close(r) => out.push(format!("close {r:?}")),
                Outgoing::Switch(_) | Outgoing::Rejoined(..) | Outgoing::Edged(_) => {
                    out.push("switch".into())
                }
            }
        }
        out
    }

    #[test]
    fn a_waiting_session_gets_only_what_names_it_until_attached_as_admitted() {
        let edge = Edge::default();
        let (a, mut a_rx) = Conn::channel(8);
        let (w, mut w_rx) = Conn::channel(8);
        let (ka, kw) = (edge.new_key(), edge.new_key());
        edge.register(ka, "r", "owner", req("ann"), a);
        edge.register(kw, "r", "owner", req("wim"), w);
        let attach = |key, sid: &str, waiting| EdgeBody::Attach {
            key,
            sid: sid.into(),
            waiting,
        };
        edge.on_message("owner", msg(1, attach(ka, "PA_a", false)));
        edge.on_message("owner", msg(2, attach(kw, "PA_w", true)));
        edge.on_message("owner", msg(3, deliver(EdgeAudience::All, "room")));
        edge.on_message("owner", msg(4, deliver(EdgeAudience::AllExcept(ka), "x")));
        edge.on_message(
            "owner",
            msg(5, deliver(EdgeAudience::Keys(vec![kw]), "waiting")),
        );
        assert_eq!(frames(&mut w_rx), [r#"{"type":"waiting"}"#]);
        assert_eq!(frames(&mut a_rx), [r#"{"type":"room"}"#]);
        // A resync keeps it waiting.
        let resync = EdgeBody::Resync {
            keys: vec![ka],
            waiting: vec![kw],
        };
        edge.on_message("owner", msg(6, resync));
        edge.on_message("owner", msg(7, deliver(EdgeAudience::All, "room")));
        assert!(frames(&mut w_rx).is_empty());
        // Admitted: from now on it hears the room.
        edge.on_message("owner", msg(8, attach(kw, "PA_w", false)));
        edge.on_message("owner", msg(9, deliver(EdgeAudience::All, "joined")));
        assert_eq!(frames(&mut w_rx), [r#"{"type":"joined"}"#]);
    }

    #[test]
    fn deliveries_reach_attached_sessions_of_their_audience_and_a_gap_asks_for_a_resync() {
        let edge = Edge::default();
        let (a, mut a_rx) = Conn::channel(8);
        let (b, mut b_rx) = Conn::channel(8);
        let (ka, kb) = (edge.new_key(), edge.new_key());
        edge.register(ka, "r", "owner", req("ann"), a);
        edge.register(kb, "r", "owner", req("ben"), b);
        // Not attached yet: nothing reaches ben.
        let f = edge.on_message(
            "owner",
            msg(
                1,
                EdgeBody::Attach {
                    waiting: false,
                    key: ka,
                    sid: "PA_a".into(),
                },
            ),
        );
        assert_eq!(f, Followup::default());
        edge.on_message("owner", msg(2, deliver(EdgeAudience::All, "one")));
        assert_eq!(frames(&mut a_rx), [r#"{"type":"one"}"#]);
        assert!(frames(&mut b_rx).is_empty());
        edge.on_message(
            "owner",
            msg(
                3,
                EdgeBody::Attach {
                    waiting: false,
                    key: kb,
                    sid: "PA_b".into(),
                },
            ),
        );
        edge.on_message("owner", msg(4, deliver(EdgeAudience::AllExcept(ka), "two")));
        edge.on_message(
            "owner",
            msg(5, deliver(EdgeAudience::Keys(vec![ka]), "three")),
        );
        assert_eq!(frames(&mut a_rx), [r#"{"type":"three"}"#]);
        assert_eq!(frames(&mut b_rx), [r#"{"type":"two"}"#]);
        // Another node's message for the room is ignored; a duplicate too.
        edge.on_message("other", msg(6, deliver(EdgeAudience::All, "x")));
        edge.on_message("owner", msg(5, deliver(EdgeAudience::All, "x")));
        assert!(frames(&mut a_rx).is_empty());
        // 6 was lost: 7 is delivered, and a resync is asked for.
        let f = edge.on_message("owner", msg(7, deliver(EdgeAudience::All, "seven")));
        assert_eq!(f.resync, Some(("owner".into(), "r".into())));
        assert_eq!(frames(&mut b_rx), [r#"{"type":"seven"}"#]);
        // The resync says ann is no longer in the room: her socket closes.
        edge.on_message(
            "owner",
            msg(
                8,
                EdgeBody::Resync {
                    keys: vec![kb],
                    waiting: vec![],
                },
            ),
        );
        assert_eq!(
            frames(&mut a_rx),
            [r#"{"type":"seven"}"#, "close Disconnected"]
        );
        assert_eq!(edge.route(ka), None);
        assert_eq!(
            edge.route(kb),
            Some(Route {
                owner: "owner".into(),
                room: "r".into(),
                sid: "PA_b".into()
            })
        );
        // A malformed frame changes nothing and does not panic.
        let bad = EdgeBody::Deliver {
            to: EdgeAudience::All,
            frame: "[".into(),
        };
        edge.on_message("owner", msg(9, bad));
        assert!(frames(&mut b_rx).is_empty());
        // Closed by the room: gone, and the room is forgotten with its last session.
        edge.on_message(
            "owner",
            msg(
                10,
                EdgeBody::Close {
                    key: kb,
                    reason: LeaveReason::Kicked,
                },
            ),
        );
        assert_eq!(frames(&mut b_rx), ["close Kicked"]);
        assert!(edge.rooms().is_empty());
    }

    #[test]
    fn a_full_queue_drops_the_session_and_reports_it() {
        let edge = Edge::default();
        let (a, _a_rx) = Conn::channel(1);
        let ka = edge.new_key();
        edge.register(ka, "r", "owner", req("ann"), a);
        edge.on_message(
            "owner",
            msg(
                1,
                EdgeBody::Attach {
                    waiting: false,
                    key: ka,
                    sid: "PA_a".into(),
                },
            ),
        );
        edge.on_message("owner", msg(2, deliver(EdgeAudience::All, "one")));
        let f = edge.on_message("owner", msg(3, deliver(EdgeAudience::All, "two")));
        assert_eq!(f.dropped, [("owner".into(), "r".into(), "PA_a".into())]);
        assert_eq!(edge.route(ka), None);
    }

    #[test]
    fn a_session_attached_after_the_edge_gave_it_up_is_reported_gone() {
        let edge = Edge::default();
        let (a, _a_rx) = Conn::channel(8);
        let ka = edge.new_key();
        edge.register(ka, "r", "owner", req("ann"), a);
        // Its join timed out here (or its socket closed): the edge forgot it.
        edge.remove(ka);
        let attach = |key| EdgeBody::Attach {
            waiting: false,
            key,
            sid: "PA_a".into(),
        };
        let f = edge.on_message("owner", msg(1, attach(ka)));
        assert_eq!(f.unknown, [("owner".into(), "r".into(), "PA_a".into())]);
        // Likewise in a room where the edge still holds others.
        let (b, _b_rx) = Conn::channel(8);
        let kb = edge.new_key();
        edge.register(kb, "r", "owner", req("ben"), b);
        edge.on_message("owner", msg(1, attach(kb)));
        let f = edge.on_message("owner", msg(2, attach(ka)));
        assert_eq!(f.unknown.len(), 1, "{f:?}");
        assert_eq!(f.resync, None);
    }
}
