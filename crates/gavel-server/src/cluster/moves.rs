//! The moving node's side of a move into a room another node serves (the service layer's
//! `service/moves.rs` decides and authorizes; this carries the participant over).
//!
//! Before the participant leaves its room, the destination's node is asked whether it would
//! admit it ([`check`]); then the participant, as the room let it go, is handed over
//! ([`move_in`]). Its socket stays where it is: if it is on this node, this node becomes its
//! edge; if it is on another node's, that edge is attached to the new room by its new owner.
//! Its media session does not travel: it ends, and the client negotiates a new one with the
//! destination's node (as after any `moved` into a room whose node changed).

use super::edge_wire::{MoveCheck, MoveIn, KIND_MOVE_CHECK, KIND_MOVE_IN};
use super::forward::Answer;
use super::node::Node;
use crate::fanout::{Conn, Outgoing};
use gavel_core::{Error, ErrorCode, JoinRequest, Millis, MovingParticipant};

/// Would `owner`, which serves `room`, admit `identity` by a move (bans, revocations,
/// capacity)?
pub async fn check(
    node: &Node,
    owner: &str,
    room: &str,
    identity: &str,
    issued_at: Option<Millis>,
    from_child: bool,
) -> Result<(), Error> {
    let body = |id| {
        let check = MoveCheck {
            id,
            room: room.to_string(),
            identity: identity.to_string(),
            issued_at,
            from_child,
        };
        serde_json::to_vec(&check).expect("checks serialize")
    };
    let answer = node.ask(owner, KIND_MOVE_CHECK, body).await?;
    match answer {
        Answer::Done { result, .. } => result.map(drop),
        Answer::NotHere { .. } => {
            node.forget_owner_of(room);
            Err(not_here(room))
        }
        Answer::Joined { .. } | Answer::JoinedMany { .. } => {
            Err(Error::new(ErrorCode::Internal, "an unexpected answer"))
        }
    }
}

/// Hands `moving`, whose socket `conn` is, to `owner`, which serves `room`.
pub async fn move_in(
    node: &Node,
    owner: &str,
    room: &str,
    mut moving: MovingParticipant,
    conn: Conn,
    may_grant: bool,
) -> Result<String, Error> {
    // Its media session ended with the move: tracks it carried are gone with it.
    moving.media_ended = std::mem::take(&mut moving.media_session);
    moving.info.tracks.retain(|t| !t.media);
    let (edge, key, here) = match conn.edge() {
        Some((link, key)) => (link.edge.clone(), key, false),
        None => {
            // Its socket is here: this node becomes its edge.
            let key = node.edge.new_key();
            let info = &moving.info;
            let req = JoinRequest {
                identity: info.identity.clone(),
                name: info.name.clone(),
                metadata: info.metadata.clone(),
                attributes: info.attributes.clone(),
                role: info.role.clone(),
                permissions: info.permissions.clone(),
                issued_at: moving.issued_at,
                bypass_lock: false,
                bypass_waiting_room: false,
            };
            node.edge.register(key, room, owner, req, conn.clone());
            let _ = conn.send(Outgoing::Edged(key));
            (node.id.clone(), key, true)
        }
    };
    let body = |id| {
        let m = MoveIn {
            id,
            room: room.to_string(),
            moving,
            edge,
            key,
            may_grant,
        };
        serde_json::to_vec(&m).expect("moves serialize")
    };
    let answer = node.ask(owner, KIND_MOVE_IN, body).await;
    let result = match answer {
        Ok(Answer::Joined { result, .. }) => result,
        Ok(Answer::NotHere { .. }) => {
            node.forget_owner_of(room);
            Err(not_here(room))
        }
        Ok(Answer::Done { .. } | Answer::JoinedMany { .. }) => {
            Err(Error::new(ErrorCode::Internal, "an unexpected answer"))
        }
        Err(e) => Err(e),
    };
    match &result {
        Ok(sid) if here => node.edge.joined(key, sid),
        Err(_) if here => {
            node.edge.remove(key);
        }
        _ => {}
    }
    result
}

fn not_here(room: &str) -> Error {
    Error::new(
        ErrorCode::Unavailable,
        format!("room '{room}' changed hands during the move; try again"),
    )
}
