//! The one typed service layer every entry point calls: native HTTP, WebSocket sessions,
//! LiveKit's Twirp RoomService, the Chime SDK Meetings API.
//!
//! A call is a [`Principal`] (who asks: a verified server-API credential, or a participant's
//! session) and a [`ServiceRequest`] (what: a command in a room, a move between rooms, a query,
//! a room's creation or deletion). [`Service::call`] authorizes it — every room it touches —
//! resolves the core [`Actor`], runs it against the room actor and returns a [`ServiceReply`].
//! Front-ends only translate their wire format to and from these values, so authorization,
//! events, audit and durability cannot diverge between them.
//!
//! Requests, principals and replies are plain serialisable values: a cluster node can forward
//! the same call to the node that owns a room.
//!
//! The order of checks, decided once for every path:
//! 1. the principal may act in the room (`roomAdmin` for it or for its parent; or a session of
//!    that room) — else `permission_denied`;
//! 2. the room exists — else `not_found`;
//! 3. the room's core authorizes the actor for the command (host controls), validates it and
//!    decides its effects;
//! 4. durable effects are committed; only then does the room apply and announce them, and only
//!    then is the call answered.

mod authorize;
mod breakouts;
mod moves;
mod rooms;

pub use authorize::Principal;
pub use rooms::RoomSummary;

use crate::cluster::forward::Forwarded;
use crate::registry::{Registry, RoomHandle};
use gavel_core::command::BanInfo;
use gavel_core::{
    Command, Counts, Error, ErrorCode, ParticipantInfo, Reply, RequestOutcome, RoomSettings,
};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;

/// What a principal asks of the service.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum ServiceRequest {
    /// A core command in one room.
    Command {
        room: String,
        command: Command,
    },
    /// Moves `identity` from `room` to `destination`; authorized in both.
    Move {
        room: String,
        identity: String,
        destination: String,
    },
    /// Everyone in a room, hidden participants included.
    Participants {
        room: String,
    },
    Participant {
        room: String,
        identity: String,
    },
    /// A room's summary.
    Room {
        room: String,
    },
    Rooms,
    Bans {
        room: String,
    },
    /// The room's capability presets by identity, with its settings (whose resolutions give
    /// the capabilities of everyone without a preset).
    Presets {
        room: String,
    },
    /// Creates a room (or marks a join-created one as kept); `settings` are complete (the
    /// front-end merged the server's defaults in).
    CreateRoom {
        name: String,
        settings: RoomSettings,
    },
    DeleteRoom {
        room: String,
    },
    /// Waits up to `wait_ms` for a consent request's outcome (`None`: still pending).
    WaitRequest {
        room: String,
        request_id: String,
        wait_ms: u64,
    },
}

impl ServiceRequest {
    /// The room whose owner runs this request: the room it acts in, or for a child room's
    /// creation its parent (children live beside their parents, which authorize them). `None`
    /// for the room list, which every node contributes to.
    pub fn home_room(&self) -> Option<&str> {
        match self {
            ServiceRequest::Command { room, .. }
            | ServiceRequest::Move { room, .. }
            | ServiceRequest::Participants { room }
            | ServiceRequest::Participant { room, .. }
            | ServiceRequest::Room { room }
            | ServiceRequest::Bans { room }
            | ServiceRequest::Presets { room }
            | ServiceRequest::DeleteRoom { room }
            | ServiceRequest::WaitRequest { room, .. } => Some(room),
            ServiceRequest::CreateRoom { name, settings } => {
                Some(settings.parent.as_deref().unwrap_or(name))
            }
            ServiceRequest::Rooms => None,
        }
    }
}

/// What the service answers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ServiceReply {
    Command {
        reply: Reply,
    },
    Participants {
        participants: Vec<ParticipantInfo>,
        counts: Counts,
        pinned: Option<String>,
    },
    Participant {
        participant: ParticipantInfo,
    },
    Room {
        room: RoomSummary,
    },
    Rooms {
        rooms: Vec<RoomSummary>,
    },
    Bans {
        bans: Vec<BanInfo>,
    },
    Presets {
        presets: std::collections::BTreeMap<String, gavel_core::Capabilities>,
        settings: RoomSettings,
    },
    Created {
        room: RoomSummary,
        created: bool,
    },
    Outcome {
        outcome: Option<RequestOutcome>,
    },
    Done,
}

/// The service: cheap to clone.
#[derive(Clone)]
pub struct Service {
    pub(crate) registry: Arc<Registry>,
}

impl Service {
    pub fn new(registry: Arc<Registry>) -> Service {
        Service { registry }
    }

    pub fn registry(&self) -> &Arc<Registry> {
        &self.registry
    }

    /// Authorizes and runs one request. In cluster mode a request for a room another node
    /// serves is forwarded to it (`cluster/forward.rs`), and the room list is gathered from
    /// every node.
    pub async fn call(
        &self,
        by: &Principal,
        request: ServiceRequest,
    ) -> Result<ServiceReply, Error> {
        let Some(node) = self.registry.cluster.get() else {
            return self.call_here(by, request).await;
        };
        let Some(room) = request.home_room() else {
            return self.list_rooms_everywhere(node, by).await;
        };
        if self.registry.get(room).is_some() {
            return self.call_here(by, request).await;
        }
        // Asked at most twice: a cached owner that no longer serves the room answers `NotHere`.
        for fresh in [false, true] {
            let owner = node
                .owner_of(room, fresh)
                .await
                .map_err(|e| Error::new(ErrorCode::Unavailable, e.message))?;
            match owner {
                Some(owner) if owner != node.id => {
                    match node.forward(&owner, by, request.clone()).await {
                        Forwarded::Reply(result) => {
                            if result
                                .as_ref()
                                .as_ref()
                                .is_err_and(|e| e.code == ErrorCode::Unavailable)
                            {
                                // Maybe no longer the owner: the next call looks again.
                                node.forget_owner_of(room);
                            }
                            return *result;
                        }
                        Forwarded::NotHere => continue,
                    }
                }
                _ => break,
            }
        }
        self.call_here(by, request).await
    }

    /// A call another node forwarded here: run here, or `None` when this node does not serve
    /// its room (it closed or changed hands meanwhile) so the caller looks again.
    pub async fn call_forwarded(
        &self,
        by: &Principal,
        request: ServiceRequest,
    ) -> Option<Result<ServiceReply, Error>> {
        match request.home_room() {
            Some(room) if self.registry.get(room).is_none() => None,
            Some(_) => Some(self.call_here(by, request).await),
            None => Some(self.list_rooms(by).await),
        }
    }

    /// Runs a request on this node.
    async fn call_here(
        &self,
        by: &Principal,
        request: ServiceRequest,
    ) -> Result<ServiceReply, Error> {
        match request {
            ServiceRequest::Command { room, command } => {
                if let Command::Move {
                    identity,
                    destination,
                } = command
                {
                    return self
                        .move_participant(by, &room, identity, destination)
                        .await;
                }
                if let Command::OpenBreakouts { .. } = command {
                    return self.open_breakouts(by, &room, command).await;
                }
                let actor = by.actor_in(&self.registry, &room)?;
                let handle = self.registry.get_or_not_found(&room)?;
                let reply = handle.command(actor, command).await?;
                Ok(ServiceReply::Command { reply })
            }
            ServiceRequest::Move {
                room,
                identity,
                destination,
            } => {
                self.move_participant(by, &room, identity, destination)
                    .await
            }
            ServiceRequest::Participants { room } => {
                by.require_admin(&self.registry, &room)?;
                let handle = self.registry.get_or_not_found(&room)?;
                handle
                    .inspect(|r, _| ServiceReply::Participants {
                        participants: r.participants().cloned().collect(),
                        counts: r.counts(),
                        pinned: r.pinned().map(str::to_string),
                    })
                    .await
            }
            ServiceRequest::Participant { room, identity } => {
                by.require_admin(&self.registry, &room)?;
                let handle = self.registry.get_or_not_found(&room)?;
                let found = handle
                    .inspect(move |r, _| r.participant(&identity).cloned().ok_or(identity))
                    .await?;
                match found {
                    Ok(participant) => Ok(ServiceReply::Participant { participant }),
                    Err(identity) => Err(Error::participant_not_found(&identity)),
                }
            }
            ServiceRequest::Room { room } => {
                by.require_admin(&self.registry, &room)?;
                let handle = self.registry.get_or_not_found(&room)?;
                Ok(ServiceReply::Room {
                    room: rooms::summary(&handle).await?,
                })
            }
            ServiceRequest::Rooms => self.list_rooms(by).await,
            ServiceRequest::Bans { room } => {
                by.require_admin(&self.registry, &room)?;
                let handle = self.registry.get_or_not_found(&room)?;
                let bans = handle.inspect(|r, now| r.bans(now)).await?;
                Ok(ServiceReply::Bans { bans })
            }
            ServiceRequest::Presets { room } => {
                by.require_admin(&self.registry, &room)?;
                let handle = self.registry.get_or_not_found(&room)?;
                handle
                    .inspect(|r, _| ServiceReply::Presets {
                        presets: r.presets().map(|(id, c)| (id.to_string(), *c)).collect(),
                        settings: r.settings().clone(),
                    })
                    .await
            }
            ServiceRequest::CreateRoom { name, settings } => {
                self.create_room(by, name, settings).await
            }
            ServiceRequest::DeleteRoom { room } => self.delete_room(by, &room).await,
            ServiceRequest::WaitRequest {
                room,
                request_id,
                wait_ms,
            } => {
                by.require_admin(&self.registry, &room)?;
                let handle = self.registry.get_or_not_found(&room)?;
                let waited = tokio::time::timeout(
                    Duration::from_millis(wait_ms),
                    handle.wait_request(request_id),
                )
                .await;
                let outcome = match waited {
                    Ok(outcome) => Some(outcome?),
                    Err(_) => None,
                };
                Ok(ServiceReply::Outcome { outcome })
            }
        }
    }

    /// A participant session's request in its own room. The session is its authorization (its
    /// token was verified when it joined, and the core checks the permissions it holds); the
    /// response goes out on its connection, after the events the request caused. Moves touch a
    /// second room and go through [`Service::call`] instead.
    pub async fn session_request(
        &self,
        room: &RoomHandle,
        sid: String,
        id: serde_json::Value,
        command: Command,
    ) -> Result<(), Error> {
        // A move sent here is refused by the room itself (it never moves on its own).
        room.client(sid, id, command).await
    }

    /// Runs a command in `room` and returns the core's reply.
    pub async fn command(
        &self,
        by: &Principal,
        room: &str,
        command: Command,
    ) -> Result<Reply, Error> {
        let request = ServiceRequest::Command {
            room: room.to_string(),
            command,
        };
        match self.call(by, request).await? {
            ServiceReply::Command { reply } => Ok(reply),
            _ => Ok(Reply::done()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What crosses the seam survives a trip through JSON unchanged, so another node could run it.
    #[test]
    fn calls_are_plain_values() {
        let by = Principal::Session {
            room: "a".into(),
            sid: "PA_1".into(),
            claims: gavel_core::Claims {
                sub: "ann".into(),
                ..Default::default()
            },
        };
        let request = ServiceRequest::Command {
            room: "a".into(),
            command: Command::Kick {
                identity: Some("troll".into()),
                identities: None,
                ban_seconds: Some(60),
                revoke_tokens: true,
                revoke_before: None,
                require_present: false,
            },
        };
        let reply = ServiceReply::Command {
            reply: Reply::Kicked {
                removed: true,
                banned_until: Some(1),
                tokens_revoked_before: Some(0),
            },
        };
        let b = serde_json::to_value(&by).unwrap();
        assert_eq!(serde_json::from_value::<Principal>(b).unwrap(), by);
        let r = serde_json::to_value(&request).unwrap();
        assert_eq!(
            serde_json::from_value::<ServiceRequest>(r).unwrap(),
            request
        );
        let r = serde_json::to_value(&reply).unwrap();
        assert_eq!(serde_json::from_value::<ServiceReply>(r).unwrap(), reply);
    }
}
