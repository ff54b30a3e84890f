//! Locking a room: once everyone expected is there, a host stops anyone else from coming in.
//!
//! The lock is a room setting (`locked`), so it is stored with the room and survives a
//! restart, is in every snapshot (`room.settings.locked`), and changes with `room_updated`
//! like the metadata. While locked, joins are refused with `room_locked` unless the token
//! holds `bypassLock` (the backend's own participants) or grants the `lock` control itself (a
//! host is never locked out of a room it could unlock), and so are moves in, except from this
//! room's own child rooms (people returning from breakouts).

use super::{ActorCtx, Room};
use crate::command::Reply;
use crate::error::{Error, ErrorCode, Result};
use crate::permissions::HostControl;

impl Room {
    pub(super) fn lock_room(&mut self, ctx: &ActorCtx, locked: bool) -> Result<Reply> {
        ctx.require(HostControl::Lock)?;
        if self.settings.locked == locked {
            return Ok(Reply::done());
        }
        self.settings.locked = locked;
        self.settings_changed(ctx);
        Ok(Reply::done())
    }

    /// Refuses a newcomer while the room is locked.
    pub(super) fn check_unlocked(&self) -> Result<()> {
        match self.settings.locked {
            true => Err(Error::new(
                ErrorCode::RoomLocked,
                format!(
                    "room '{}' is locked: nobody new may come in until a host unlocks it",
                    self.name
                ),
            )),
            false => Ok(()),
        }
    }

    pub fn is_locked(&self) -> bool {
        self.settings.locked
    }
}
