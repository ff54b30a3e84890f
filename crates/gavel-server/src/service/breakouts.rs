//! Breakout rooms across rooms: what the main room decided (`gavel_core::room::breakouts`),
//! carried out here, beside the rooms, since rooms never wait on each other.
//!
//! Opening: the main room records the plan (a stored setting) and answers who goes where; the
//! service then creates each breakout room as a child of the main room (so it inherits the
//! main room's bans and its hosts are hosts there) and moves everyone assigned, authorized as
//! the caller in both rooms — the answer waits for both and says how each move went. A room
//! that cannot be created undoes the opening. Notices (a countdown, a broadcast) are relayed
//! into every breakout room; at the return time everyone in them is moved back (by the server,
//! so roles are kept and the main room's lock lets them through), the rooms are deleted, and
//! the main room is told it has no breakouts any more. Every call goes through
//! [`Service::call`], so in cluster mode it reaches whichever node serves the room.

use super::{Principal, Service, ServiceReply, ServiceRequest};
use gavel_core::command::{BreakoutNotice, TargetResult};
use gavel_core::{Command, Error, Reply};
use std::collections::BTreeMap;

/// Who the service acts as for what the main room decided.
fn server() -> Principal {
    Principal::server("breakouts")
}

impl Service {
    /// `open_breakouts` from `by` in `room`.
    pub(super) async fn open_breakouts(
        &self,
        by: &Principal,
        room: &str,
        command: Command,
    ) -> Result<ServiceReply, Error> {
        let actor = by.actor_in(&self.registry, room)?;
        let main = self.registry.get_or_not_found(room)?;
        let Reply::Breakouts {
            rooms,
            ends_at,
            moved: _,
        } = main.command(actor, command).await?
        else {
            return Err(Error::new(
                gavel_core::ErrorCode::Internal,
                "unexpected reply to open_breakouts",
            ));
        };
        let mut settings = self.registry.room_defaults.clone();
        settings.parent = Some(room.to_string());
        settings.breakouts = None;
        for (i, r) in rooms.iter().enumerate() {
            let create = ServiceRequest::CreateRoom {
                name: r.name.clone(),
                settings: settings.clone(),
            };
            // Boxed: `call` led here.
            if let Err(e) = Box::pin(self.call(&server(), create)).await {
                tracing::warn!(room, breakout = %r.name, error = %e, "cannot create a breakout room");
                // Undone: the rooms made so far, and the main room's plan.
                for made in &rooms[..i] {
                    let delete = ServiceRequest::DeleteRoom {
                        room: made.name.clone(),
                    };
                    let _ = Box::pin(self.call(&server(), delete)).await;
                }
                Box::pin(self.tell_returned(room)).await;
                return Err(e);
            }
        }
        let mut moved = BTreeMap::new();
        for r in &rooms {
            for identity in &r.identities {
                let result =
                    Box::pin(self.move_participant(by, room, identity.clone(), r.name.clone()))
                        .await
                        .map(|_| Vec::new());
                moved.insert(identity.clone(), TargetResult::from_result(result));
            }
        }
        Ok(ServiceReply::Command {
            reply: Reply::Breakouts {
                rooms,
                ends_at,
                moved,
            },
        })
    }

    /// A main room's notice, for everyone in each of its breakout rooms.
    pub async fn relay_to_breakouts(&self, rooms: Vec<String>, notice: BreakoutNotice) {
        for room in rooms {
            let request = ServiceRequest::Command {
                room: room.clone(),
                command: Command::BreakoutNotice {
                    notice: notice.clone(),
                },
            };
            if let Err(e) = self.call(&server(), request).await {
                tracing::info!(%room, error = %e, "breakout notice not delivered");
            }
        }
    }

    /// Everyone in `rooms` back to `main`; the rooms deleted; `main` told.
    pub async fn return_from_breakouts(&self, main: String, rooms: Vec<String>) {
        for room in &rooms {
            let listed = ServiceRequest::Participants { room: room.clone() };
            let people = match self.call(&server(), listed).await {
                Ok(ServiceReply::Participants { participants, .. }) => participants,
                _ => Vec::new(), // gone already (deleted by hand, or a second return)
            };
            for p in people {
                let back = ServiceRequest::Move {
                    room: room.clone(),
                    identity: p.identity.clone(),
                    destination: main.clone(),
                };
                if let Err(e) = self.call(&server(), back).await {
                    // Whoever cannot come back (banned meanwhile, the room full) leaves with
                    // the breakout room.
                    tracing::info!(%room, identity = %p.identity, error = %e, "could not bring back from a breakout room");
                }
            }
            let delete = ServiceRequest::DeleteRoom { room: room.clone() };
            let _ = self.call(&server(), delete).await;
        }
        self.tell_returned(&main).await;
    }

    /// The session ended in `main`: it ends in `rooms` too, and they are deleted.
    pub async fn end_breakouts(&self, main: String, rooms: Vec<String>) {
        for room in &rooms {
            let end = ServiceRequest::Command {
                room: room.clone(),
                command: Command::EndSession,
            };
            let _ = self.call(&server(), end).await;
            let delete = ServiceRequest::DeleteRoom { room: room.clone() };
            let _ = self.call(&server(), delete).await;
        }
        self.tell_returned(&main).await;
    }

    async fn tell_returned(&self, main: &str) {
        let request = ServiceRequest::Command {
            room: main.to_string(),
            command: Command::BreakoutsReturned,
        };
        if let Err(e) = self.call(&server(), request).await {
            tracing::warn!(room = main, error = %e, "could not clear the breakout rooms");
        }
    }
}
