//! Breakout rooms, as the main room sees them: the plan (who goes where), the time limit and
//! the countdown, and broadcasts — kept in the stored setting `breakouts`, so a restart keeps
//! them and their deadlines.
//!
//! The main room decides; the service layer carries out what spans rooms: it creates the child
//! rooms and moves people in after `open_breakouts` (`service/breakouts.rs`), relays notices
//! ([`Output::ToBreakouts`]) and, at the return time, moves everyone back and deletes the
//! rooms ([`Output::ReturnFromBreakouts`]), then says so with `breakouts_returned`, which
//! clears the setting. Breakout rooms are child rooms: they inherit the main room's bans,
//! its hosts are hosts there, and people coming back pass its lock.

use super::{ActorCtx, Room};
use crate::command::{BreakoutNotice, BreakoutRoom, Reply};
use crate::error::{Error, ErrorCode, Result};
use crate::event::{Audience, Event, Output};
use crate::permissions::HostControl;
use crate::settings::{Breakouts, MAX_BREAKOUTS, MAX_BREAKOUT_SECONDS, MAX_COUNTDOWN_SECONDS};
use crate::Millis;
use std::collections::BTreeSet;

/// How long everyone is warned before being brought back, unless the host says otherwise.
pub const DEFAULT_COUNTDOWN_SECONDS: u32 = 30;
/// Longest broadcast message.
pub const MAX_BROADCAST: usize = 1000;

/// What the main room already told about its breakouts' deadlines (not stored: after a restart
/// a warning may be given again, which is harmless).
#[derive(Debug, Clone, Default)]
pub(super) struct BreakoutClock {
    warned: bool,
    returning: bool,
}

impl Room {
    pub(super) fn open_breakouts(
        &mut self,
        now: Millis,
        ctx: &ActorCtx,
        count: Option<u32>,
        rooms: Vec<BreakoutRoom>,
        duration_seconds: Option<u32>,
        countdown_seconds: Option<u32>,
    ) -> Result<Reply> {
        ctx.require(HostControl::ManageParticipants)?;
        if self.settings.parent.is_some() {
            return Err(Error::invalid(
                "breakout rooms open from a main room, not from a breakout room",
            ));
        }
        if self.settings.breakouts.is_some() {
            return Err(Error::new(
                ErrorCode::FailedPrecondition,
                "breakout rooms are already open here: close them first",
            ));
        }
        if let Some(d) = duration_seconds {
            if d == 0 || d > MAX_BREAKOUT_SECONDS {
                return Err(Error::invalid(format!(
                    "duration_seconds must be 1 to {MAX_BREAKOUT_SECONDS}"
                )));
            }
        }
        let countdown = countdown_seconds.unwrap_or(DEFAULT_COUNTDOWN_SECONDS);
        if countdown > MAX_COUNTDOWN_SECONDS {
            return Err(Error::invalid(format!(
                "countdown_seconds must be at most {MAX_COUNTDOWN_SECONDS}"
            )));
        }
        let plan = match (count, rooms.is_empty()) {
            (Some(n), true) => self.round_robin(n)?,
            (None, false) => self.listed_plan(ctx, rooms)?,
            _ => {
                return Err(Error::invalid(
                    "open_breakouts needs exactly one of 'count' or a non-empty 'rooms'",
                ))
            }
        };
        let ends_at = duration_seconds.map(|d| now + Millis::from(d) * 1000);
        self.settings.breakouts = Some(Box::new(Breakouts {
            rooms: plan.iter().map(|r| r.name.clone()).collect(),
            ends_at,
            countdown_seconds: countdown,
            closes_at: None,
        }));
        self.breakout_clock = BreakoutClock::default();
        self.settings_changed(ctx);
        self.emit(
            Audience::Everyone,
            Event::BreakoutsOpened {
                rooms: plan.clone(),
                ends_at,
                by: Some(ctx.label.clone()),
            },
        );
        Ok(Reply::Breakouts {
            rooms: plan,
            ends_at,
            moved: Default::default(),
        })
    }

    /// `n` rooms named after this one; everyone present but hosts (holders of
    /// `manage_participants`) and hidden participants spread over them in turn, by arrival.
    fn round_robin(&self, n: u32) -> Result<Vec<BreakoutRoom>> {
        if n == 0 || n as usize > MAX_BREAKOUTS {
            return Err(Error::invalid(format!(
                "count must be 1 to {MAX_BREAKOUTS}"
            )));
        }
        let mut plan: Vec<BreakoutRoom> = (1..=n)
            .map(|i| BreakoutRoom {
                name: self.breakout_name(i as usize),
                identities: Vec::new(),
            })
            .collect();
        for r in &plan {
            crate::ids::validate_room_name(&r.name)?;
        }
        let mut people: Vec<_> = self
            .participants
            .values()
            .filter(|p| !p.hidden() && !p.permissions().has(HostControl::ManageParticipants))
            .collect();
        people.sort_by(|a, b| {
            (a.info.joined_at, a.identity()).cmp(&(b.info.joined_at, b.identity()))
        });
        for (i, p) in people.into_iter().enumerate() {
            plan[i % n as usize]
                .identities
                .push(p.identity().to_string());
        }
        Ok(plan)
    }

    fn breakout_name(&self, i: usize) -> String {
        format!("{}-breakout-{i}", self.name)
    }

    /// The rooms as listed: names default to `<room>-breakout-<n>`; everyone named must be here
    /// (as the host may see them) and in one room only.
    fn listed_plan(&self, ctx: &ActorCtx, rooms: Vec<BreakoutRoom>) -> Result<Vec<BreakoutRoom>> {
        if rooms.len() > MAX_BREAKOUTS {
            return Err(Error::invalid(format!(
                "at most {MAX_BREAKOUTS} breakout rooms"
            )));
        }
        let mut names = BTreeSet::new();
        let mut placed = BTreeSet::new();
        let mut plan = Vec::with_capacity(rooms.len());
        for (i, mut r) in rooms.into_iter().enumerate() {
            if r.name.is_empty() {
                r.name = self.breakout_name(i + 1);
            }
            crate::ids::validate_room_name(&r.name)?;
            if r.name == self.name || !names.insert(r.name.clone()) {
                return Err(Error::invalid(format!(
                    "breakout room '{}' is named twice (or after this room)",
                    r.name
                )));
            }
            for identity in &r.identities {
                self.target(ctx, identity)?;
                if !placed.insert(identity.clone()) {
                    return Err(Error::invalid(format!(
                        "'{identity}' is assigned to more than one breakout room"
                    )));
                }
            }
            plan.push(r);
        }
        Ok(plan)
    }

    pub(super) fn close_breakouts(
        &mut self,
        now: Millis,
        ctx: &ActorCtx,
        countdown_seconds: Option<u32>,
    ) -> Result<Reply> {
        ctx.require(HostControl::ManageParticipants)?;
        let Some(b) = self.settings.breakouts.as_mut() else {
            return Err(no_breakouts());
        };
        if b.closes_at.is_some() {
            return Ok(Reply::done()); // already closing
        }
        let countdown = countdown_seconds.unwrap_or(b.countdown_seconds);
        if countdown > MAX_COUNTDOWN_SECONDS {
            return Err(Error::invalid(format!(
                "countdown_seconds must be at most {MAX_COUNTDOWN_SECONDS}"
            )));
        }
        let at = now + Millis::from(countdown) * 1000;
        b.closes_at = Some(at);
        self.breakout_clock.warned = true;
        self.settings_changed(ctx);
        self.warn_breakouts(at, Some(ctx.label.clone()));
        // A countdown of zero brings everyone back at once.
        self.breakouts_due(now);
        Ok(Reply::done())
    }

    pub(super) fn broadcast_to_breakouts(
        &mut self,
        ctx: &ActorCtx,
        message: String,
    ) -> Result<Reply> {
        ctx.require(HostControl::ManageParticipants)?;
        if message.is_empty() || message.len() > MAX_BROADCAST {
            return Err(Error::invalid(format!(
                "message must be 1 to {MAX_BROADCAST} bytes"
            )));
        }
        let Some(b) = &self.settings.breakouts else {
            return Err(no_breakouts());
        };
        let rooms = b.rooms.clone();
        let notice = BreakoutNotice::Broadcast {
            message,
            by: Some(ctx.label.clone()),
        };
        self.emit(Audience::Everyone, notice.clone().event());
        self.outputs
            .push_back(Output::ToBreakouts { rooms, notice });
        Ok(Reply::done())
    }

    /// A notice from this room's parent (a breakout room): for everyone here.
    pub(super) fn breakout_notice(
        &mut self,
        ctx: &ActorCtx,
        notice: BreakoutNotice,
    ) -> Result<Reply> {
        if !ctx.is_server() {
            return Err(Error::denied("only the server relays breakout notices"));
        }
        self.emit(Audience::Everyone, notice.event());
        Ok(Reply::done())
    }

    /// Everyone is back (the service layer moved them and deleted the rooms): forgotten.
    pub(super) fn breakouts_returned(&mut self, ctx: &ActorCtx) -> Result<Reply> {
        if !ctx.is_server() {
            return Err(Error::denied(
                "only the server says breakout rooms are gone",
            ));
        }
        if self.settings.breakouts.take().is_some() {
            self.breakout_clock = BreakoutClock::default();
            self.settings_changed(ctx);
        }
        Ok(Reply::done())
    }

    /// The session ends here (a host ended it, or the last host left): it ends in the
    /// breakout rooms too.
    pub(super) fn end_breakouts(&mut self) {
        if let Some(b) = &self.settings.breakouts {
            if !self.breakout_clock.returning {
                self.breakout_clock.returning = true;
                let rooms = b.rooms.clone();
                self.outputs.push_back(Output::EndBreakouts { rooms });
            }
        }
    }

    /// Everyone here and in the breakout rooms: at `at` everyone comes back.
    fn warn_breakouts(&mut self, at: Millis, by: Option<String>) {
        let Some(b) = &self.settings.breakouts else {
            return;
        };
        let rooms = b.rooms.clone();
        let notice = BreakoutNotice::Closing { at, by };
        self.emit(Audience::Everyone, notice.clone().event());
        self.outputs
            .push_back(Output::ToBreakouts { rooms, notice });
    }

    /// The next breakout deadline: the time limit's warning, or the return.
    pub(super) fn next_breakout_deadline(&self) -> Option<Millis> {
        let b = self.settings.breakouts.as_ref()?;
        if self.breakout_clock.returning {
            return None;
        }
        match (b.closes_at, b.ends_at) {
            (None, Some(ends)) if !self.breakout_clock.warned => Some(ends),
            _ => b.return_at(),
        }
    }

    /// The time limit ran out (everyone is warned), or the return is due (the shell brings
    /// everyone back).
    pub(super) fn breakouts_due(&mut self, now: Millis) {
        let Some(b) = self.settings.breakouts.as_deref().cloned() else {
            return;
        };
        if let (None, Some(ends)) = (b.closes_at, b.ends_at) {
            if ends <= now && !self.breakout_clock.warned {
                self.breakout_clock.warned = true;
                if let Some(at) = b.return_at() {
                    self.warn_breakouts(at, None);
                }
            }
        }
        if b.return_at().is_some_and(|at| at <= now) && !self.breakout_clock.returning {
            self.breakout_clock.returning = true;
            self.emit(Audience::Everyone, Event::BreakoutsClosed);
            self.outputs
                .push_back(Output::ReturnFromBreakouts { rooms: b.rooms });
        }
    }
}

fn no_breakouts() -> Error {
    Error::new(
        ErrorCode::FailedPrecondition,
        "no breakout rooms are open here",
    )
}
