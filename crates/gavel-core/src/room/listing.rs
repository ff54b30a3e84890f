//! Paging through the room's participants: how a client of a large room finds audience members
//! it was not told about one by one.

use super::{ActorCtx, Room};
use crate::command::Reply;
use crate::error::{Error, Result};
use std::ops::Bound;

pub const DEFAULT_PAGE: u32 = 100;
pub const MAX_PAGE: u32 = 1000;

impl Room {
    pub(super) fn list_participants(
        &self,
        ctx: &ActorCtx,
        after: Option<&str>,
        limit: Option<u32>,
    ) -> Result<Reply> {
        let limit = limit.unwrap_or(DEFAULT_PAGE);
        if limit == 0 || limit > MAX_PAGE {
            return Err(Error::invalid(format!("limit must be 1 to {MAX_PAGE}")));
        }
        let start = match after {
            Some(a) => Bound::Excluded(a),
            None => Bound::Unbounded,
        };
        let participants = self
            .participants
            .range::<str, _>((start, Bound::Unbounded))
            .map(|(_, p)| p)
            .filter(|p| ctx.is_server() || !p.hidden() || ctx.identity() == Some(p.identity()))
            .take(limit as usize)
            .map(|p| p.info.clone())
            .collect();
        Ok(Reply::Participants {
            participants,
            counts: self.counts,
        })
    }
}
