//! The hot path from a room to its clients.
//!
//! An event is serialized once into a shared [`Frame`]: the JSON object without its opening
//! brace. Each connection's writer prepends `{"seq":N,` — its own sequence number — so the only
//! per-recipient work is one small allocation and a copy. Every connection has a bounded queue;
//! a room never waits on a client: when a queue is full the client is dropped as a slow consumer.

use crate::registry::RoomHandle;
use gavel_core::{Error, Event, LeaveReason, Reply};
use serde_json::{json, Value};
use std::sync::Arc;
use tokio::sync::mpsc;

/// A serialized message body minus its leading `{`, shared by every recipient.
#[derive(Clone, Debug)]
pub struct Frame(Arc<str>);

impl Frame {
    pub fn event(event: &Event) -> Frame {
        Self::from_json(serde_json::to_string(event).expect("events serialize"))
    }

    /// `{"type":"response","id":…,"ok":true,…reply}` or `…"ok":false,"error":{…}`.
    pub fn response(id: &Value, result: &Result<Reply, Error>) -> Frame {
        let mut body = match result {
            Ok(reply) => match serde_json::to_value(reply) {
                Ok(Value::Object(m)) => m,
                _ => Default::default(),
            },
            Err(e) => {
                let mut m = serde_json::Map::new();
                m.insert("error".into(), json!(e));
                m
            }
        };
        let mut out = serde_json::Map::new();
        out.insert("type".into(), json!("response"));
        out.insert("id".into(), id.clone());
        out.insert("ok".into(), json!(result.is_ok()));
        out.append(&mut body);
        Self::from_json(Value::Object(out).to_string())
    }

    /// `{"type":"ice_servers","ice_servers":[…]}`: the ICE servers (STUN/TURN, with this
    /// participant's credentials) it should give its peer connection, after `joined`.
    pub fn ice_servers(servers: &[crate::turn::IceServer]) -> Frame {
        Self::from_json(json!({"type": "ice_servers", "ice_servers": servers}).to_string())
    }

    /// `{"type":"resumed","sid":…,"replayed":N}`: the first message of a resumed session —
    /// the `N` messages it missed follow, then the room's live ones.
    pub fn resumed(sid: &str, replayed: usize) -> Frame {
        Self::from_json(json!({"type": "resumed", "sid": sid, "replayed": replayed}).to_string())
    }

    /// `{"type":"error","error":{…}}`: a refusal outside any request (a failed join).
    pub fn error(e: &Error) -> Frame {
        Self::from_json(json!({"type": "error", "error": e}).to_string())
    }

    /// A frame from its JSON as [`Frame::json`] wrote it on another node; `None` if it is no
    /// JSON object.
    pub fn from_wire(json: String) -> Option<Frame> {
        let ok = json.len() > 2 && json.starts_with('{') && json.ends_with('}');
        ok.then(|| Frame(Arc::from(&json[1..])))
    }

    fn from_json(json: String) -> Frame {
        debug_assert!(json.starts_with('{') && json.len() > 2);
        Frame(Arc::from(&json[1..]))
    }

    /// This message with the room's message number `ev` (`journal.rs`) — one copy per
    /// message, shared by every recipient.
    pub fn numbered(&self, ev: u64) -> Frame {
        Frame(Arc::from(self.prefixed("\"ev\":", ev)))
    }

    /// `opening`, `n`, a comma, then the shared body.
    fn prefixed(&self, opening: &str, n: u64) -> String {
        let mut s = String::with_capacity(self.0.len() + opening.len() + 21);
        s.push_str(opening);
        s.push_str(&n.to_string());
        s.push(',');
        s.push_str(&self.0);
        s
    }

    /// The size of the shared body, in bytes.
    /// Whether this is a `joined` snapshot (what a session's ICE servers follow: a session in
    /// the waiting room gets none until it is admitted).
    pub fn is_snapshot(&self) -> bool {
        // The tag comes first, after at most the room's `ev` number.
        let pattern = b"\"type\":\"joined\"";
        let head = &self.0.as_bytes()[..self.0.len().min(64)];
        head.windows(pattern.len()).any(|w| w == pattern)
    }

    pub fn size(&self) -> usize {
        self.0.len()
    }

    /// The message as JSON, without a sequence number.
    pub fn json(&self) -> String {
        format!("{{{}", self.0)
    }

    /// The text a connection sends: its sequence number spliced in front of the shared body.
    pub fn with_seq(&self, seq: u64) -> String {
        self.prefixed("{\"seq\":", seq)
    }
}

/// What a room (or the session itself) queues for one connection, in order.
#[derive(Debug)]
pub enum Outgoing {
    Frame(Frame),
    /// The participant was moved: send later commands to this room.
    Switch(RoomHandle),
    /// The session joined this room again under a new id (its room changed hands and this
    /// node took it over): send later commands there, as that id.
    Rejoined(RoomHandle, String),
    /// The participant was moved into a room another node serves: this node is its edge now,
    /// where it is session `key` (`cluster/edge.rs`).
    Edged(u64),
    /// Send a close frame and end the session.
    Close(LeaveReason),
}

/// A room's handle on one connection: a socket on this node, or a session on another node's
/// socket (an edge, `cluster/edge.rs`), which the room reaches through that edge's link.
#[derive(Clone, Debug)]
pub struct Conn(ConnTo);

#[derive(Clone, Debug)]
enum ConnTo {
    /// `pinned`: the session cannot follow its room to another node's media plane (LiveKit's
    /// client protocol, whose peer connections are not renegotiated after a move), so it is
    /// never moved into a room another node serves.
    Local {
        tx: mpsc::Sender<Outgoing>,
        pinned: bool,
    },
    Remote {
        link: Arc<crate::cluster::edge_link::EdgeLink>,
        key: u64,
        pinned: bool,
    },
}

/// See [`Conn::downgrade`]; also what names the connection a session's end came from.
#[derive(Clone, Debug)]
pub struct WeakConn(WeakTo);

#[derive(Clone, Debug)]
enum WeakTo {
    Local(mpsc::WeakSender<Outgoing>),
    /// Session `key` on the edge node `edge`.
    Remote {
        edge: String,
        key: u64,
    },
    /// Any connection (an end that names none).
    Any,
}

impl WeakConn {
    /// Stands for whichever connection the session has.
    pub fn none() -> WeakConn {
        WeakConn(WeakTo::Any)
    }

    /// Session `key` of the edge node `edge`.
    pub fn remote(edge: &str, key: u64) -> WeakConn {
        WeakConn(WeakTo::Remote {
            edge: edge.to_string(),
            key,
        })
    }

    pub fn upgrade(&self) -> Option<Conn> {
        let WeakTo::Local(w) = &self.0 else {
            return None;
        };
        Some(Conn(ConnTo::Local {
            tx: w.upgrade()?,
            pinned: false,
        }))
    }
}

/// Why a frame could not be queued.
#[derive(Debug, PartialEq, Eq)]
pub enum SendError {
    /// The client is not reading fast enough.
    Full,
    /// The session is gone.
    Closed,
}

impl Conn {
    pub fn channel(capacity: usize) -> (Conn, mpsc::Receiver<Outgoing>) {
        let (tx, rx) = mpsc::channel(capacity);
        (Conn(ConnTo::Local { tx, pinned: false }), rx)
    }

    /// A connection whose session must stay on this node (see `ConnTo::Local`).
    pub fn pinned_channel(capacity: usize) -> (Conn, mpsc::Receiver<Outgoing>) {
        let (tx, rx) = mpsc::channel(capacity);
        (Conn(ConnTo::Local { tx, pinned: true }), rx)
    }

    /// Whether this session must stay on the node that serves its room now.
    pub fn is_pinned(&self) -> bool {
        matches!(
            self.0,
            ConnTo::Local { pinned: true, .. } | ConnTo::Remote { pinned: true, .. }
        )
    }

    /// The session `key` of an edge, reached through `link`; `pinned` as for a local one.
    pub fn remote(link: Arc<crate::cluster::edge_link::EdgeLink>, key: u64, pinned: bool) -> Conn {
        Conn(ConnTo::Remote { link, key, pinned })
    }

    /// The edge link and session key of a remote session.
    pub fn edge(&self) -> Option<(&Arc<crate::cluster::edge_link::EdgeLink>, u64)> {
        match &self.0 {
            ConnTo::Remote { link, key, .. } => Some((link, *key)),
            ConnTo::Local { .. } => None,
        }
    }

    /// A handle that does not keep the connection's queue open: a session keeps one for
    /// itself, so a room dropping its `Conn` still ends the session. (A remote session's own
    /// handle lives on its edge; there is nothing to weaken here.)
    pub fn downgrade(&self) -> WeakConn {
        match &self.0 {
            ConnTo::Local { tx, .. } => WeakConn(WeakTo::Local(tx.downgrade())),
            ConnTo::Remote { link, key, .. } => WeakConn::remote(&link.edge, *key),
        }
    }

    /// Whether `weak` names this same connection ([`WeakConn::none`] names any).
    pub fn is(&self, weak: &WeakConn) -> bool {
        match (&self.0, &weak.0) {
            (_, WeakTo::Any) => true,
            (ConnTo::Local { tx, .. }, WeakTo::Local(w)) => {
                w.upgrade().is_some_and(|w| w.same_channel(tx))
            }
            (ConnTo::Remote { link, key, .. }, WeakTo::Remote { edge, key: k }) => {
                link.edge == *edge && key == k
            }
            _ => false,
        }
    }

    pub fn send(&self, out: Outgoing) -> Result<(), SendError> {
        match &self.0 {
            ConnTo::Local { tx, .. } => tx.try_send(out).map_err(|e| match e {
                mpsc::error::TrySendError::Full(_) => SendError::Full,
                mpsc::error::TrySendError::Closed(_) => SendError::Closed,
            }),
            ConnTo::Remote { link, key, .. } => {
                use crate::cluster::edge_wire::{EdgeAudience, EdgeBody};
                let body = match out {
                    Outgoing::Frame(f) => EdgeBody::Deliver {
                        to: EdgeAudience::Keys(vec![*key]),
                        frame: f.json(),
                    },
                    Outgoing::Close(reason) => EdgeBody::Close { key: *key, reason },
                    // The edge learns the session's new room when that room attaches it.
                    Outgoing::Switch(_) | Outgoing::Rejoined(..) | Outgoing::Edged(_) => {
                        return Ok(())
                    }
                };
                link.send(body)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seq_is_spliced_into_the_shared_body() {
        let f = Frame::event(&Event::CountsUpdated {
            present: 2,
            hidden: 1,
            waiting: 0,
        });
        let v: Value = serde_json::from_str(&f.with_seq(42)).unwrap();
        assert_eq!(
            v,
            json!({"seq": 42, "type": "counts_updated", "present": 2, "hidden": 1})
        );
    }

    #[test]
    fn the_rooms_number_goes_before_the_body_and_after_seq() {
        let f = Frame::event(&Event::CountsUpdated {
            present: 2,
            hidden: 1,
            waiting: 0,
        })
        .numbered(7);
        assert_eq!(
            f.with_seq(3),
            r#"{"seq":3,"ev":7,"type":"counts_updated","present":2,"hidden":1}"#
        );
    }

    #[test]
    fn responses_carry_id_and_error() {
        let f = Frame::response(&json!(7), &Err(Error::denied("no")));
        let v: Value = serde_json::from_str(&f.with_seq(1)).unwrap();
        assert_eq!(v["id"], 7);
        assert_eq!(v["ok"], false);
        assert_eq!(v["error"]["code"], "permission_denied");
        let f = Frame::response(&json!("a"), &Ok(Reply::done()));
        let v: Value = serde_json::from_str(&f.with_seq(1)).unwrap();
        assert_eq!(
            v,
            json!({"seq": 1, "type": "response", "id": "a", "ok": true})
        );
    }
}
