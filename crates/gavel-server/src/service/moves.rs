//! Moving a participant between rooms: the one operation that touches two rooms, so it runs
//! here, beside both actors, and never inside one (rooms never wait on each other).
//!
//! Order of checks: the destination's name; the caller may act in the source (and the core
//! checks its host control there); the caller may bring people into the destination (its token
//! names it, or it is a child of the source); the destination — and its ancestors, whose bans
//! children inherit — would admit this identity with this token (bans, revocations, duplicates,
//! capacity). Only then does the source let the participant go; the destination admits it.

use super::{Principal, Service, ServiceReply};
use crate::cluster::moves as remote;
use crate::fanout::{Conn, Frame, Outgoing};
use gavel_core::{ids, Command, Error, ErrorCode, Event, LeaveReason, Millis, Reply};

impl Service {
    pub(super) async fn move_participant(
        &self,
        by: &Principal,
        room: &str,
        identity: String,
        destination: String,
    ) -> Result<ServiceReply, Error> {
        ids::validate_room_name(&destination)?;
        if destination == room {
            return Err(Error::invalid(
                "destination is the room the participant is in",
            ));
        }
        let actor = by.actor_in(&self.registry, room)?;
        let may_grant = by.may_move_into(&self.registry, room, &destination)?;
        let source = self.registry.get_or_not_found(room)?;
        // In cluster mode the destination may be served by another node.
        let remote = self.destination_node(&destination).await?;
        let (who, dest) = (identity.clone(), destination.clone());
        // Someone returning from a breakout (a child room of the destination) passes its lock.
        let (issued_at, from_child) = source
            .inspect(move |r, _| {
                let from_child = r.settings().parent.as_deref() == Some(dest.as_str());
                (r.token_issued_at(&who), from_child)
            })
            .await?;
        match &remote {
            None => {
                self.check_admission(&destination, &identity, issued_at, from_child)
                    .await?
            }
            Some(owner) => {
                let conn = source.conn_of(identity.clone()).await?;
                if conn.as_ref().is_some_and(Conn::is_pinned) {
                    return Err(Error::new(
                        ErrorCode::Unavailable,
                        format!(
                            "'{identity}' is connected with LiveKit's client protocol, which cannot follow a move to room '{destination}' on another node"
                        ),
                    ));
                }
                let node = self.node()?;
                remote::check(node, owner, &destination, &identity, issued_at, from_child).await?
            }
        }

        let command = Command::Move {
            identity,
            destination: destination.clone(),
        };
        let outcome = source.command_outcome(actor, command).await?;
        let reply = outcome.result?;
        let Some(crate::room_actor::Moved {
            mut moving,
            conn,
            media,
        }) = outcome.moved
        else {
            return Ok(ServiceReply::Command { reply });
        };
        let admitted = match remote {
            Some(owner) => {
                // Its media session ends here; it negotiates a new one with that node.
                drop(media);
                let moving = *moving;
                remote::move_in(
                    self.node()?,
                    &owner,
                    &destination,
                    moving,
                    conn.clone(),
                    may_grant,
                )
                .await
            }
            None => match self.registry.get_or_create(&destination, None, false) {
                Ok((dest, _)) => {
                    if !may_grant {
                        let (role, permissions) = dest.inspect(|r, _| r.default_grant()).await?;
                        moving.limit_to(role, permissions);
                    }
                    dest.admit_moved(*moving, conn.clone(), media).await
                }
                Err(e) => Err(e),
            },
        };
        match admitted {
            Ok(_) => Ok(ServiceReply::Command {
                reply: Reply::done(),
            }),
            Err(e) => {
                // Detached but not admitted (the destination changed in between): the
                // participant is told, and its connection closes.
                let left = Event::RoomLeft {
                    reason: LeaveReason::MoveFailed,
                    by: None,
                    message: None,
                };
                let _ = conn.send(Outgoing::Frame(Frame::event(&left)));
                let _ = conn.send(Outgoing::Close(LeaveReason::MoveFailed));
                Err(e)
            }
        }
    }

    fn node(&self) -> Result<&std::sync::Arc<crate::cluster::node::Node>, Error> {
        self.registry
            .cluster
            .get()
            .ok_or_else(|| Error::new(ErrorCode::Internal, "not in cluster mode"))
    }

    /// The node serving `destination` when it is another than this one (cluster mode).
    async fn destination_node(&self, destination: &str) -> Result<Option<String>, Error> {
        let Some(node) = self.registry.cluster.get() else {
            return Ok(None);
        };
        if self.registry.get(destination).is_some() {
            return Ok(None);
        }
        let owner = crate::cluster::edge_session::serving_node(node, destination, false).await?;
        Ok((owner != node.id).then_some(owner))
    }

    /// Whether `identity`, with a token issued at `issued_at`, could come into `room` by a
    /// move (`from_child`: out of one of its child rooms): the room's own rules, and the bans
    /// of its ancestors.
    async fn check_admission(
        &self,
        room: &str,
        identity: &str,
        issued_at: Option<Millis>,
        from_child: bool,
    ) -> Result<(), Error> {
        if let Some(dest) = self.registry.get(room) {
            let who = identity.to_string();
            dest.inspect(move |r, now| r.can_admit_moved(now, &who, issued_at, from_child))
                .await??;
        }
        self.registry.check_inherited_bans(room, identity).await
    }
}
