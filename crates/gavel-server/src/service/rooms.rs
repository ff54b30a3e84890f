//! Room-level requests: create (optionally as the child of another room), delete, list,
//! summaries.

use super::{Principal, Service, ServiceReply};
use crate::cluster::forward::Forwarded;
use crate::registry::RoomHandle;
use gavel_core::event::Speaker;
use gavel_core::{Counts, Error, LeaveReason, RoomSettings};
use serde::{Deserialize, Serialize};

/// A room as the server API shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RoomSummary {
    pub name: String,
    pub settings: RoomSettings,
    pub counts: Counts,
    pub pinned: Option<String>,
    pub active_speakers: Vec<Speaker>,
    /// Participants with at least one published track.
    #[serde(default)]
    pub publishers: u32,
}

pub(super) async fn summary(handle: &RoomHandle) -> Result<RoomSummary, Error> {
    handle
        .inspect(|room, _| RoomSummary {
            name: room.name().to_string(),
            settings: room.settings().clone(),
            counts: room.counts(),
            pinned: room.pinned().map(str::to_string),
            active_speakers: room.active_speakers().to_vec(),
            publishers: room.participants().filter(|p| !p.tracks.is_empty()).count() as u32,
        })
        .await
}

impl Service {
    /// Creates a room, or marks a join-created one as kept; acknowledged only once stored. A
    /// child room (`settings.parent`) needs `roomAdmin` for its parent, which must exist.
    pub(super) async fn create_room(
        &self,
        by: &Principal,
        name: String,
        settings: RoomSettings,
    ) -> Result<ServiceReply, Error> {
        require_grant(by.claims().video.room_create, "roomCreate")?;
        // Bad input is `invalid_argument` before any look-up (a parent that is no room name).
        gavel_core::ids::validate_room_name(&name)?;
        settings.validate_with(&self.registry.roles)?;
        if let Some(parent) = &settings.parent {
            by.require_admin(&self.registry, parent)?;
            self.registry.get_or_not_found(parent)?;
        }
        let (handle, created) = self.registry.get_or_create(&name, Some(settings), true)?;
        // Acknowledged only once durable: the room exists again after a restart.
        let current = handle.inspect(|r, _| r.settings().clone()).await?;
        self.registry.persist_room(&name, current).await?;
        Ok(ServiceReply::Created {
            room: summary(&handle).await?,
            created,
        })
    }

    pub(super) async fn delete_room(
        &self,
        by: &Principal,
        room: &str,
    ) -> Result<ServiceReply, Error> {
        // LiveKit's rule: `roomCreate` alone deletes rooms.
        require_grant(by.claims().video.room_create, "roomCreate")?;
        self.registry.delete(room, LeaveReason::RoomDeleted).await?;
        Ok(ServiceReply::Done)
    }

    pub(super) async fn list_rooms(&self, by: &Principal) -> Result<ServiceReply, Error> {
        require_grant(by.claims().video.room_list, "roomList")?;
        let mut rooms = Vec::new();
        for h in self.registry.handles() {
            // A room that closed meanwhile is simply not listed.
            if let Ok(s) = summary(&h).await {
                rooms.push(s);
            }
        }
        Ok(ServiceReply::Rooms { rooms })
    }

    /// The rooms of every node, sorted by name. A node that does not answer makes the list
    /// `unavailable` rather than silently short.
    pub(super) async fn list_rooms_everywhere(
        &self,
        node: &crate::cluster::node::Node,
        by: &Principal,
    ) -> Result<ServiceReply, Error> {
        let ServiceReply::Rooms { mut rooms } = self.list_rooms(by).await? else {
            unreachable!("list_rooms answers rooms")
        };
        let others = node
            .other_nodes()
            .await
            .map_err(|e| Error::new(gavel_core::ErrorCode::Unavailable, e.message))?;
        let asked = others
            .iter()
            .map(|other| node.forward(other, by, super::ServiceRequest::Rooms));
        for answer in futures_util::future::join_all(asked).await {
            let Forwarded::Reply(result) = answer else {
                continue; // a node that stopped meanwhile serves no rooms
            };
            match *result {
                Ok(ServiceReply::Rooms { rooms: theirs }) => rooms.extend(theirs),
                Err(e) => return Err(e),
                Ok(_) => {}
            }
        }
        rooms.sort_by(|a, b| a.name.cmp(&b.name));
        // A room changing hands while the list is gathered may be reported twice.
        rooms.dedup_by(|a, b| a.name == b.name);
        Ok(ServiceReply::Rooms { rooms })
    }
}

fn require_grant(granted: Option<bool>, grant: &str) -> Result<(), Error> {
    if granted == Some(true) {
        Ok(())
    } else {
        Err(Error::denied(format!("token lacks the {grant} grant")))
    }
}
