//! Raised hands: an ordered queue anyone joins by raising a hand and leaves by lowering it (or
//! a host with `stage` lowers it, or leaving the room does).
//!
//! Who sees the queue is a room setting (`hands_visible_to`): everyone, or only holders of
//! `stage` plus each raiser (their own hand). One hand change is one event per recipient: in a
//! large room an unlisted audience member who raises a hand is announced first (one
//! `participant_joined`), so everyone who sees the hand knows whose it is. Raising and lowering
//! is rate-limited per participant ([`MAX_CHANGES`] per [`WINDOW`]): a client cannot make the
//! room send a stream of events to thousands.

use super::{ActorCtx, Room};
use crate::command::Reply;
use crate::error::{Error, ErrorCode, Result};
use crate::event::{Audience, Event};
use crate::permissions::HostControl;
use crate::settings::HandsVisibleTo;
use crate::Millis;
use std::collections::{BTreeMap, HashMap};

/// Hand changes one participant may make per [`WINDOW`].
pub const MAX_CHANGES: u32 = 6;
pub const WINDOW: Millis = 10_000;

#[derive(Debug, Clone, Default)]
pub(super) struct Hands {
    /// Order → identity.
    queue: BTreeMap<u64, String>,
    /// Identity → its place in `queue`.
    place: HashMap<String, u64>,
    next: u64,
    /// Identity → (start of its window, changes in it).
    budget: HashMap<String, (Millis, u32)>,
}

impl Hands {
    /// The raised hands, oldest first.
    pub(super) fn raised(&self) -> impl Iterator<Item = &String> {
        self.queue.values()
    }

    fn is_raised(&self, identity: &str) -> bool {
        self.place.contains_key(identity)
    }

    fn raise(&mut self, identity: &str) {
        self.next += 1;
        self.queue.insert(self.next, identity.to_string());
        self.place.insert(identity.to_string(), self.next);
    }

    fn lower(&mut self, identity: &str) -> bool {
        match self.place.remove(identity) {
            Some(at) => {
                self.queue.remove(&at);
                true
            }
            None => false,
        }
    }

    fn spend(&mut self, identity: &str, now: Millis) -> bool {
        let (start, used) = self.budget.entry(identity.to_string()).or_insert((now, 0));
        if now.saturating_sub(*start) >= WINDOW {
            *start = now;
            *used = 0;
        }
        *used += 1;
        *used <= MAX_CHANGES
    }

    /// A participant left: its hand goes down with it (others learn it from its leaving).
    pub(super) fn forget(&mut self, identity: &str) {
        self.lower(identity);
        self.budget.remove(identity);
    }

    pub(super) fn clear(&mut self) {
        *self = Hands::default();
    }
}

impl Room {
    pub(super) fn raise_hand(
        &mut self,
        now: Millis,
        ctx: &ActorCtx,
        raised: bool,
    ) -> Result<Reply> {
        let identity = self.own_identity(ctx)?.to_string();
        if self.hands.is_raised(&identity) == raised {
            return Ok(Reply::done());
        }
        if !self.hands.spend(&identity, now) {
            return Err(Error::new(
                ErrorCode::RateLimited,
                format!("at most {MAX_CHANGES} hand changes per {} s", WINDOW / 1000),
            ));
        }
        if raised {
            self.hands.raise(&identity);
            // Everyone who sees the hand must know whose it is.
            if self.settings.hands_visible_to == HandsVisibleTo::Everyone {
                self.list(&identity);
            }
        } else {
            self.hands.lower(&identity);
        }
        self.emit_hand(&identity, raised, None);
        Ok(Reply::done())
    }

    pub(super) fn lower_hand(&mut self, ctx: &ActorCtx, identity: &str) -> Result<Reply> {
        ctx.require(HostControl::Stage)?;
        self.target(ctx, identity)?;
        if self.hands.lower(identity) {
            self.emit_hand(identity, false, Some(ctx.label.clone()));
        }
        Ok(Reply::done())
    }

    fn emit_hand(&mut self, identity: &str, raised: bool, by: Option<String>) {
        let Some(p) = self.participants.get(identity) else {
            return;
        };
        let event = Event::HandChanged {
            identity: identity.to_string(),
            raised,
            by,
        };
        let to = match self.settings.hands_visible_to {
            // A hidden participant's hand is its own business (nobody may know it is there).
            _ if p.hidden() => Audience::Only(p.sid().to_string()),
            HandsVisibleTo::Everyone => Audience::Everyone,
            HandsVisibleTo::Hosts => {
                let own = p.sid().to_string();
                let mut sids: Vec<String> = self
                    .participants
                    .values()
                    .filter(|q| q.permissions().has(HostControl::Stage) && q.sid() != own)
                    .map(|q| q.sid().to_string())
                    .collect();
                sids.push(own);
                Audience::Sessions(sids)
            }
        };
        self.emit(to, event);
    }

    /// The raised hands `identity` (holding the `stage` control or not) may see, oldest first
    /// (for its snapshot).
    pub(super) fn hands_for(&self, identity: &str, stage: bool) -> Vec<String> {
        let sees_all = stage || self.settings.hands_visible_to == HandsVisibleTo::Everyone;
        self.hands
            .raised()
            .filter(|h| {
                *h == identity
                    || (sees_all && self.participants.get(*h).is_some_and(|p| !p.hidden()))
            })
            .cloned()
            .collect()
    }
}
