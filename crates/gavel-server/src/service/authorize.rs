//! Who is calling, and what each caller may touch.
//!
//! A server-API credential administers the rooms its token is `roomAdmin` for: every room when
//! it names none; else its `room`, LiveKit's `destinationRoom` and Gavel's `rooms`; and the
//! children of any of those (hosts of a parent are hosts in its children). A participant's
//! session acts only in the room it is in, with the permissions it holds there (the core
//! checks those).

use crate::registry::Registry;
use gavel_core::{Actor, Claims, Error};
use serde::{Deserialize, Serialize};

/// The caller of a service request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Principal {
    /// A verified server-API token (HTTP, Twirp) or a front-end acting for its own API
    /// (Chime, with a signature-verified request).
    Api { claims: Claims },
    /// A participant's WebSocket session in `room`, with the token it joined with.
    Session {
        room: String,
        sid: String,
        claims: Claims,
    },
}

impl Principal {
    /// A front-end's own authority over every room (its requests were verified its own way).
    pub fn server(name: &str) -> Principal {
        Principal::Api {
            claims: Claims {
                sub: name.to_string(),
                video: gavel_core::VideoGrant {
                    room_admin: Some(true),
                    room_create: Some(true),
                    room_list: Some(true),
                    ..Default::default()
                },
                ..Default::default()
            },
        }
    }

    pub fn claims(&self) -> &Claims {
        match self {
            Principal::Api { claims } | Principal::Session { claims, .. } => claims,
        }
    }

    /// What events and audit entries show as `by` for a server-API caller.
    fn api_name(claims: &Claims) -> String {
        if claims.sub.is_empty() {
            "server".to_string()
        } else {
            claims.sub.clone()
        }
    }

    /// The core actor for a command in `room`, once the caller may act there.
    pub fn actor_in(&self, registry: &Registry, room: &str) -> Result<Actor, Error> {
        match self {
            Principal::Api { claims } => {
                self.require_admin(registry, room)?;
                Ok(Actor::server(Self::api_name(claims)))
            }
            Principal::Session {
                room: mine, sid, ..
            } if mine == room => Ok(Actor::Participant { sid: sid.clone() }),
            Principal::Session { room: mine, .. } => Err(Error::denied(format!(
                "this session is in room '{mine}', not '{room}'"
            ))),
        }
    }

    /// Server-API access to `room`: `roomAdmin` for it or for one of its ancestors.
    pub fn require_admin(&self, registry: &Registry, room: &str) -> Result<(), Error> {
        match self {
            Principal::Api { claims } if administers(claims, registry, room) => Ok(()),
            Principal::Api { .. } => Err(Error::denied(format!(
                "token lacks roomAdmin for room '{room}'"
            ))),
            Principal::Session { .. } => Err(Error::denied(
                "a participant's session cannot use the server API",
            )),
        }
    }

    /// Server-wide administration (webhooks): `roomAdmin` with no room named.
    pub fn require_server_admin(&self) -> Result<(), Error> {
        match self {
            Principal::Api { claims }
                if claims.video.room_admin == Some(true) && claims.is_unscoped() =>
            {
                Ok(())
            }
            Principal::Api { .. } => Err(Error::denied(
                "this needs a token with roomAdmin for every room (no room named)",
            )),
            Principal::Session { .. } => Err(Error::denied(
                "a participant's session cannot use the server API",
            )),
        }
    }

    /// Whether the caller, acting in `source`, may bring a participant into `destination`;
    /// `Ok(true)` when it may also grant more there than the destination's defaults (so the
    /// participant keeps its role and permissions).
    pub fn may_move_into(
        &self,
        registry: &Registry,
        source: &str,
        destination: &str,
    ) -> Result<bool, Error> {
        let child_of_source = is_descendant(registry, destination, source);
        // (may move there, may grant more than the defaults there)
        let (allowed, may_grant) = match self {
            Principal::Api { claims } => {
                let admin = administers(claims, registry, destination);
                (admin, admin)
            }
            // The session holds a move-capable host control in `source` (the core checks it):
            // a host of a parent is a host in its children. In a room its token merely names,
            // it is an administrator only if the token says `roomAdmin`.
            Principal::Session { claims, .. } => {
                let named = claims.names_room(destination);
                let admin = claims.video.room_admin == Some(true) && named;
                // Back from a breakout (a child) into the room its token is for: what it holds
                // there came from that token, so it keeps it (a host visiting a breakout
                // returns a host).
                let home = claims.video.room.as_deref() == Some(destination)
                    && is_descendant(registry, source, destination);
                (child_of_source || named, child_of_source || admin || home)
            }
        };
        if allowed {
            Ok(may_grant)
        } else {
            Err(Error::denied(format!(
                "'{}' may not move participants into room '{destination}': its token does not name that room and it is not a child of '{source}'",
                self.label()
            )))
        }
    }

    fn label(&self) -> String {
        match self {
            Principal::Api { claims } | Principal::Session { claims, .. } => Self::api_name(claims),
        }
    }
}

/// `roomAdmin` for `room` or one of its ancestors.
fn administers(claims: &Claims, registry: &Registry, room: &str) -> bool {
    registry.ancestry(room).any(|r| claims.is_admin_of(&r))
}

/// Whether `room` is a child (or grandchild, …) of `ancestor`.
pub fn is_descendant(registry: &Registry, room: &str, ancestor: &str) -> bool {
    registry.ancestry(room).skip(1).any(|r| r == ancestor)
}
