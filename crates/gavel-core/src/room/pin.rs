//! One pinned participant per room, seen by everyone (RealtimeKit's pin).

use super::{ActorCtx, Room};
use crate::command::Reply;
use crate::error::{Error, Result};
use crate::event::{Audience, Event};
use crate::permissions::HostControl;

impl Room {
    pub(super) fn pin(&mut self, ctx: &ActorCtx, identity: &str) -> Result<Reply> {
        ctx.require(HostControl::Pin)?;
        if self.target(ctx, identity)?.hidden() {
            return Err(Error::precondition("a hidden participant cannot be pinned"));
        }
        if self.pinned.as_deref() == Some(identity) {
            return Ok(Reply::done());
        }
        // Everyone is about to spotlight this participant, so everyone must know it.
        self.list(identity);
        let by = Some(ctx.label.clone());
        if let Some(previous) = self.pinned.replace(identity.to_string()) {
            self.emit(
                Audience::Everyone,
                Event::Unpinned {
                    identity: previous,
                    by: by.clone(),
                },
            );
        }
        self.emit(
            Audience::Everyone,
            Event::Pinned {
                identity: identity.to_string(),
                by,
            },
        );
        Ok(Reply::done())
    }

    /// Unpins whoever is pinned; with `identity`, only if that participant is the pinned one.
    pub(super) fn unpin(&mut self, ctx: &ActorCtx, identity: Option<&str>) -> Result<Reply> {
        ctx.require(HostControl::Pin)?;
        if let Some(id) = identity {
            if self.pinned.as_deref() != Some(id) {
                return Err(Error::precondition(format!("'{id}' is not pinned")));
            }
        }
        if let Some(previous) = self.pinned.take() {
            self.emit(
                Audience::Everyone,
                Event::Unpinned {
                    identity: previous,
                    by: Some(ctx.label.clone()),
                },
            );
        }
        Ok(Reply::done())
    }
}
