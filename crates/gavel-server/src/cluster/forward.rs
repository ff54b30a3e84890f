//! Service calls forwarded to the node that owns their room, and their answers.
//!
//! A node that receives a request for a room it does not serve looks up the room's owner and
//! publishes the call — the same [`Principal`] and [`ServiceRequest`] every front-end builds —
//! on the owner's channel; the owner runs it through its own service layer (authorization,
//! events, audit, durability: exactly as if it had arrived there) and publishes the answer on
//! the caller's channel. The caller waits at most [`FORWARD_TIMEOUT`] (plus a consent wait's
//! own `wait_ms`): a lost message or a dead owner is `unavailable`, never a hang.
//!
//! The bus is at most once, so a call whose answer was lost may still have been carried out;
//! the caller says so in its `unavailable` message. Commands are not retried for that reason.

use super::bus::{Bus, Envelope};
use crate::service::{Principal, ServiceReply, ServiceRequest};
use gavel_core::{Error, ErrorCode};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;
use tokio::sync::oneshot;

/// How long a forwarded call may take before the caller answers `unavailable`.
pub const FORWARD_TIMEOUT: Duration = Duration::from_secs(5);

pub const KIND_CALL: &str = "call";
pub const KIND_ANSWER: &str = "answer";

/// A forwarded call: what the owner runs.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Call {
    pub id: u64,
    pub by: Principal,
    pub request: ServiceRequest,
}

/// The owner's answer. `NotHere`: the receiving node does not serve the room (it closed or
/// moved meanwhile); the caller looks the owner up again.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Answer {
    Done {
        id: u64,
        result: Box<Result<ServiceReply, Error>>,
    },
    NotHere {
        id: u64,
    },
    /// The answer to an edge's join (`edge_wire::EdgeJoin`): the session's id in the room,
    /// and — for a pinned session, whose protocol gives them in its join response — the ICE
    /// servers of the owner, where its media session is. (An unpinned session gets them from
    /// the owner as a frame after its `joined`.)
    Joined {
        id: u64,
        result: Result<String, Error>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        ice_servers: Vec<crate::turn::IceServer>,
        /// A resumed session's: what its front-end kept when it broke.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        kept: Option<String>,
    },
    /// The answer to `edge_wire::EdgeJoinMany`: each session's outcome, as for one join.
    JoinedMany {
        id: u64,
        results: Vec<JoinedOne>,
    },
}

/// One session's outcome in [`Answer::JoinedMany`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JoinedOne {
    pub key: u64,
    pub result: Result<String, Error>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ice_servers: Vec<crate::turn::IceServer>,
}

impl Answer {
    fn id(&self) -> u64 {
        match self {
            Answer::Done { id, .. }
            | Answer::NotHere { id }
            | Answer::Joined { id, .. }
            | Answer::JoinedMany { id, .. } => *id,
        }
    }
}

/// What a forwarded call came back with.
#[derive(Debug)]
pub enum Forwarded {
    Reply(Box<Result<ServiceReply, Error>>),
    NotHere,
}

/// Calls this node forwarded and is waiting on.
#[derive(Default)]
pub struct Pending {
    next: AtomicU64,
    waiting: Mutex<HashMap<u64, oneshot::Sender<Answer>>>,
}

impl Pending {
    /// Publishes `request` to node `owner` (from node `me`) and waits for its answer.
    pub async fn forward(
        &self,
        bus: &dyn Bus,
        me: &str,
        owner: &str,
        by: &Principal,
        request: ServiceRequest,
    ) -> Forwarded {
        let timeout = FORWARD_TIMEOUT
            + match &request {
                ServiceRequest::WaitRequest { wait_ms, .. } => Duration::from_millis(*wait_ms),
                _ => Duration::ZERO,
            };
        let body = |id| {
            let call = Call {
                id,
                by: by.clone(),
                request,
            };
            serde_json::to_vec(&call).expect("calls serialize")
        };
        match self.ask(bus, me, owner, KIND_CALL, body, timeout).await {
            Ok(Answer::Done { result, .. }) => Forwarded::Reply(result),
            Ok(Answer::NotHere { .. }) => Forwarded::NotHere,
            Ok(Answer::Joined { .. } | Answer::JoinedMany { .. }) => {
                Forwarded::Reply(Box::new(Err(Error::new(
                    ErrorCode::Internal,
                    "a forwarded call was answered as a join",
                ))))
            }
            Err(e) => Forwarded::Reply(Box::new(Err(e))),
        }
    }

    /// Publishes a message of `kind` whose body `body` makes from the call id, to node `to`,
    /// and waits at most `timeout` for its answer.
    pub async fn ask(
        &self,
        bus: &dyn Bus,
        me: &str,
        to: &str,
        kind: &str,
        body: impl FnOnce(u64) -> Vec<u8>,
        timeout: Duration,
    ) -> Result<Answer, Error> {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        self.waiting.lock().unwrap().insert(id, tx);
        let envelope = Envelope::new(me, kind, body(id)).encode();
        if let Err(e) = bus.publish(&node_channel(to), envelope).await {
            self.waiting.lock().unwrap().remove(&id);
            return Err(Error::new(
                ErrorCode::Unavailable,
                format!("{UNANSWERED}{to}, which serves the room, cannot be reached: {e}"),
            ));
        }
        let answer = tokio::time::timeout(timeout, rx).await;
        self.waiting.lock().unwrap().remove(&id);
        match answer {
            Ok(Ok(answer)) => Ok(answer),
            Ok(Err(_)) | Err(_) => Err(Error::new(
                ErrorCode::Unavailable,
                format!(
                    "{UNANSWERED}{to}, which serves the room, did not answer within {} ms; the request may or may not have been carried out",
                    timeout.as_millis()
                ),
            )),
        }
    }

    /// Hands an answer that arrived to the call waiting for it (a late one is dropped).
    pub fn answered(&self, body: &[u8]) {
        let Ok(answer) = serde_json::from_slice::<Answer>(body) else {
            tracing::warn!("a malformed forwarded answer");
            return;
        };
        if let Some(tx) = self.waiting.lock().unwrap().remove(&answer.id()) {
            let _ = tx.send(answer);
        }
    }
}

/// Whether `e` is the caller's own verdict that the owner did not answer (or could not be
/// reached), not the owner's answer.
pub fn unanswered(e: &Error) -> bool {
    e.code == ErrorCode::Unavailable && e.message.starts_with(UNANSWERED)
}

/// How the caller's own `unavailable` verdicts begin.
const UNANSWERED: &str = "node ";

/// The bus channel node `id` receives its own messages on.
pub fn node_channel(id: &str) -> String {
    format!("gavel:node:{id}")
}
