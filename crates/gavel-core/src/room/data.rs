//! Application data messages and the room's own metadata (LiveKit's SendData and
//! UpdateRoomMetadata).

use super::{ActorCtx, Room};
use crate::command::Reply;
use crate::error::{Error, Result};
use crate::event::{Audience, Event, Output};
use crate::ids::{validate_identity, validate_payload, MAX_DESTINATIONS, MAX_TOPIC};
use crate::permissions::HostControl;

impl Room {
    pub(super) fn send_data(
        &mut self,
        ctx: &ActorCtx,
        payload: String,
        topic: Option<String>,
        destinations: Vec<String>,
        reliable: bool,
    ) -> Result<Reply> {
        validate_payload(&payload)?;
        if topic.as_ref().is_some_and(|t| t.len() > MAX_TOPIC) {
            return Err(Error::invalid(format!(
                "topic must be at most {MAX_TOPIC} bytes"
            )));
        }
        if destinations.len() > MAX_DESTINATIONS {
            return Err(Error::invalid(format!(
                "at most {MAX_DESTINATIONS} destination identities"
            )));
        }
        for identity in &destinations {
            validate_identity(identity)?;
        }
        let from = match &ctx.permissions {
            None => None,
            Some(p) if !p.can_publish_data => {
                return Err(Error::denied(format!(
                    "'{}' may not publish data",
                    ctx.label
                )))
            }
            // Data from a hidden participant would reveal it to everyone it reaches.
            Some(p) if p.hidden => {
                return Err(Error::precondition("a hidden participant cannot send data"))
            }
            Some(_) => Some(ctx.label.clone()),
        };
        // Recipients must know who speaks to them: an unlisted audience member is listed first.
        if let Some(identity) = &from {
            self.list(identity);
        }
        let to = if destinations.is_empty() {
            match &ctx.sid {
                Some(sid) => Audience::EveryoneExcept(sid.clone()),
                None => Audience::Everyone,
            }
        } else {
            // Destinations that are absent (or hidden from a participant sender) are skipped,
            // as LiveKit does: a sender cannot learn who is hidden from what is delivered.
            let sessions = destinations
                .iter()
                .filter_map(|identity| self.target(ctx, identity).ok())
                .map(|p| p.sid().to_string())
                .collect();
            Audience::Sessions(sessions)
        };
        self.emit(
            to,
            Event::DataReceived {
                from,
                payload,
                topic,
                reliable,
            },
        );
        Ok(Reply::done())
    }

    pub(super) fn update_room_metadata(
        &mut self,
        ctx: &ActorCtx,
        metadata: String,
    ) -> Result<Reply> {
        ctx.require(HostControl::ManageParticipants)?;
        crate::ids::validate_metadata(&metadata)?;
        if self.settings.metadata == metadata {
            return Ok(Reply::done());
        }
        self.settings.metadata = metadata;
        self.settings_changed(ctx);
        Ok(Reply::done())
    }

    /// A host changed a stored setting (the metadata, the lock): it is made durable before the
    /// command is answered, and everyone gets `room_updated`.
    pub(super) fn settings_changed(&mut self, ctx: &ActorCtx) {
        self.outputs.push_back(Output::SettingsChanged {
            settings: Box::new(self.settings.clone()),
        });
        self.emit(
            Audience::Everyone,
            Event::RoomUpdated {
                room: self.info(),
                by: Some(ctx.label.clone()),
            },
        );
    }
}
