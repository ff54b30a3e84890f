//! The waiting room: joiners a host must let in.
//!
//! With the room's `waiting_room.enabled`, a joiner who may not enter directly (its role is not
//! in `enter_directly`, its token lacks `bypassWaitingRoom`, it does not hold `admit`) gets a
//! session id but is not a participant: it is kept here, its first message is `waiting` (its
//! own status, nothing about the room), and holders of `admit` see it arrive
//! (`waiter_added`). It is never in the participant map, so no room event, snapshot, listing
//! or media rule can reach or name it — the shell likewise keeps its connection out of the
//! room's audience until [`Output::WaiterAdmitted`]. Admission runs the ordinary join path with
//! the request it arrived with (bans, capacity and duplicates checked again then); a denial,
//! a ban, a revoked token or the timeout ends its session with `room_left`.
//!
//! Everything that lets someone in or out is checked before the queue: the lock (a locked
//! room closes the queue to newcomers), bans, revocations, duplicates and capacity, and the
//! queue's own bound (`max_waiting`). An admit-all or deny-all is one `waiters_removed` to
//! each holder of `admit`, not one event per waiter.

use super::{ActorCtx, Room};
use crate::command::{Reply, TargetResult};
use crate::error::{Error, ErrorCode, Result};
use crate::event::{Audience, Event, LeaveReason, Output, WaitOutcome, WaiterInfo};
use crate::permissions::HostControl;
use crate::room::JoinRequest;
use crate::Millis;
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// Longest message a host may give with a denial.
pub const MAX_DENY_MESSAGE: usize = 500;

#[derive(Debug, Clone)]
struct Waiter {
    req: JoinRequest,
    info: WaiterInfo,
    order: u64,
}

#[derive(Debug, Clone, Default)]
pub(super) struct WaitingRoom {
    /// Identity → waiter.
    waiters: HashMap<String, Waiter>,
    /// Arrival order → identity.
    order: BTreeMap<u64, String>,
    /// Session id → identity.
    pub(super) by_sid: HashMap<String, String>,
    /// (deadline, order): the next to time out first.
    deadlines: BTreeSet<(Millis, u64)>,
    next: u64,
}

impl WaitingRoom {
    pub(super) fn len(&self) -> usize {
        self.waiters.len()
    }

    fn insert(&mut self, req: JoinRequest, info: WaiterInfo) {
        self.next += 1;
        self.order.insert(self.next, info.identity.clone());
        self.by_sid.insert(info.sid.clone(), info.identity.clone());
        self.deadlines.insert((info.until, self.next));
        self.waiters.insert(
            info.identity.clone(),
            Waiter {
                req,
                info,
                order: self.next,
            },
        );
    }

    fn take(&mut self, identity: &str) -> Option<Waiter> {
        let w = self.waiters.remove(identity)?;
        self.order.remove(&w.order);
        self.by_sid.remove(&w.info.sid);
        self.deadlines.remove(&(w.info.until, w.order));
        Some(w)
    }

    /// Identities oldest first.
    fn identities(&self) -> Vec<String> {
        self.order.values().cloned().collect()
    }

    pub(super) fn list(&self) -> Vec<WaiterInfo> {
        self.order
            .values()
            .filter_map(|id| self.waiters.get(id))
            .map(|w| w.info.clone())
            .collect()
    }

    pub(super) fn next_deadline(&self) -> Option<Millis> {
        self.deadlines.first().map(|(at, _)| *at)
    }
}

impl Room {
    /// Whether this joiner must wait to be admitted.
    pub(super) fn must_wait(&self, req: &JoinRequest) -> bool {
        let policy = &self.settings.waiting_room;
        policy.enabled
            && !req.bypass_waiting_room
            && !req.permissions.has(HostControl::Admit)
            && !policy.enter_directly.contains(&req.role)
    }

    /// Puts a joiner (already checked against revocations and the lock) in the waiting room.
    pub(super) fn enqueue(&mut self, now: Millis, req: JoinRequest) -> Result<String> {
        // A banned identity never reaches the queue; nor does one that could not get in.
        self.can_admit(now, &req.identity)?;
        let max = self.settings.waiting_room.max_waiting as usize;
        let replacing = self.waiting.waiters.contains_key(&req.identity);
        if !replacing && self.waiting.len() >= max {
            return Err(Error::new(
                ErrorCode::RoomFull,
                format!(
                    "the waiting room of '{}' is full ({max} waiting); try again later",
                    self.name
                ),
            ));
        }
        if replacing {
            self.turn_away(&req.identity, WaitOutcome::Replaced, None, None);
        }
        let sid = self.ids.next("PA");
        let timeout = Millis::from(self.settings.waiting_room.timeout_seconds) * 1000;
        let info = WaiterInfo {
            sid: sid.clone(),
            identity: req.identity.clone(),
            name: req.name.clone(),
            metadata: req.metadata.clone(),
            role: req.role.clone(),
            since: now,
            until: now + timeout,
        };
        self.emit(
            Audience::Only(sid.clone()),
            Event::Waiting {
                room: self.name.clone(),
                me: info.clone(),
            },
        );
        self.emit(
            self.admitters(),
            Event::WaiterAdded {
                waiter: info.clone(),
            },
        );
        self.waiting.insert(req, info);
        self.counts.waiting += 1;
        self.emit_counts(None);
        Ok(sid)
    }

    pub fn is_waiting(&self, sid: &str) -> bool {
        self.waiting.by_sid.contains_key(sid)
    }

    /// Who waits, oldest first.
    pub fn waiting(&self) -> Vec<WaiterInfo> {
        self.waiting.list()
    }

    /// The sessions of holders of `admit` (who see the waiting room).
    fn admitters(&self) -> Audience {
        Audience::Sessions(
            self.participants
                .values()
                .filter(|p| p.permissions().has(HostControl::Admit))
                .map(|p| p.sid().to_string())
                .collect(),
        )
    }

    /// The waiting room as `admit` holders' snapshots carry it.
    pub(super) fn waiters_for(&self, admit: bool) -> Vec<WaiterInfo> {
        match admit {
            true => self.waiting.list(),
            false => Vec::new(),
        }
    }

    /// A command from a session still waiting: it may only leave or ping.
    pub(super) fn waiter_command(
        &mut self,
        sid: &str,
        command: &crate::command::Command,
    ) -> Result<Reply> {
        use crate::command::Command;
        let identity = self.waiting.by_sid.get(sid).cloned().unwrap_or_default();
        match command {
            Command::Ping => Ok(Reply::Pong { pong: true }),
            Command::Leave => {
                self.turn_away(&identity, WaitOutcome::Left, None, None);
                Ok(Reply::done())
            }
            _ => Err(Error::new(
                ErrorCode::FailedPrecondition,
                "you are in the waiting room: wait until a host admits you",
            )),
        }
    }

    /// A waiter's connection closed.
    pub(super) fn waiter_disconnected(&mut self, sid: &str) {
        let Some(identity) = self.waiting.by_sid.get(sid).cloned() else {
            return;
        };
        if self.waiting.take(&identity).is_some() {
            self.counts.waiting = self.counts.waiting.saturating_sub(1);
            self.emit_removed(vec![identity], WaitOutcome::Left, None);
            self.emit_counts(None);
        }
    }

    pub(super) fn admit_waiting(
        &mut self,
        now: Millis,
        ctx: &ActorCtx,
        identities: Vec<String>,
        all: bool,
    ) -> Result<Reply> {
        ctx.require(HostControl::Admit)?;
        let targets = self.chosen(identities, all)?;
        let mut results = BTreeMap::new();
        let mut admitted = Vec::new();
        for identity in targets {
            if results.contains_key(&identity) {
                continue;
            }
            let r = self.admit_one(now, &identity);
            if r.is_ok() {
                admitted.push(identity.clone());
            }
            results.insert(identity, TargetResult::from_result(r.map(|_| Vec::new())));
        }
        self.emit_removed(admitted, WaitOutcome::Admitted, Some(ctx.label.clone()));
        Ok(Reply::Results { results })
    }

    /// Lets one waiter in through the ordinary join path (bans, duplicates, capacity checked
    /// again: they may have changed while it waited).
    fn admit_one(&mut self, now: Millis, identity: &str) -> Result<()> {
        let Some(w) = self.waiting.waiters.get(identity) else {
            return Err(not_waiting(identity));
        };
        self.check_revocation(identity, w.req.issued_at)?;
        self.can_admit(now, identity)?;
        let w = self.waiting.take(identity).expect("present");
        self.counts.waiting = self.counts.waiting.saturating_sub(1);
        // Its connection joins the room's audience before its snapshot is queued.
        self.outputs.push_back(Output::WaiterAdmitted {
            sid: w.info.sid.clone(),
        });
        let issued_at = w.req.issued_at;
        self.admit(
            now,
            w.req.into_info(w.info.sid, now),
            issued_at,
            None,
            false,
        )
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn deny_waiting(
        &mut self,
        now: Millis,
        ctx: &ActorCtx,
        identities: Vec<String>,
        all: bool,
        message: Option<String>,
        ban_seconds: Option<u64>,
    ) -> Result<Reply> {
        ctx.require(HostControl::Admit)?;
        super::membership::validate_ban(ban_seconds)?;
        if let Some(m) = &message {
            if m.len() > MAX_DENY_MESSAGE {
                return Err(Error::invalid(format!(
                    "message must be at most {MAX_DENY_MESSAGE} bytes"
                )));
            }
        }
        let targets = self.chosen(identities, all)?;
        let mut results = BTreeMap::new();
        let mut denied = Vec::new();
        for identity in targets {
            if results.contains_key(&identity) {
                continue;
            }
            let r = match self.waiting.take(&identity) {
                Some(w) => {
                    if ban_seconds.is_some() {
                        self.eject(now, ctx, &identity, false, ban_seconds);
                    }
                    let by = Some(ctx.label.clone());
                    self.waiter_gone(&w, LeaveReason::Denied, by, message.clone());
                    denied.push(identity.clone());
                    Ok(Vec::new())
                }
                None => Err(not_waiting(&identity)),
            };
            results.insert(identity, TargetResult::from_result(r));
        }
        self.emit_removed(denied, WaitOutcome::Denied, Some(ctx.label.clone()));
        self.emit_counts(None);
        Ok(Reply::Results { results })
    }

    /// The waiters a command names: `identities`, or everyone with `all`.
    fn chosen(&self, identities: Vec<String>, all: bool) -> Result<Vec<String>> {
        match (all, identities.is_empty()) {
            (true, true) => Ok(self.waiting.identities()),
            (false, false) if identities.len() <= crate::settings::MAX_WAITING as usize => {
                Ok(identities)
            }
            (false, false) => Err(Error::invalid(format!(
                "at most {} identities at once; use all",
                crate::settings::MAX_WAITING as usize
            ))),
            _ => Err(Error::invalid(
                "name the waiters in 'identities', or set 'all' (not both)",
            )),
        }
    }

    pub(super) fn list_waiting(&self, ctx: &ActorCtx) -> Result<Reply> {
        ctx.require(HostControl::Admit)?;
        Ok(Reply::Waiting {
            waiting: self.waiting.list(),
        })
    }

    pub(super) fn set_waiting_room(
        &mut self,
        now: Millis,
        ctx: &ActorCtx,
        enabled: bool,
    ) -> Result<Reply> {
        ctx.require(HostControl::Admit)?;
        if self.settings.waiting_room.enabled == enabled {
            return Ok(Reply::done());
        }
        self.settings.waiting_room.enabled = enabled;
        self.settings_changed(ctx);
        if !enabled && self.waiting.len() > 0 {
            // Nobody is kept out by a waiting room that is off: those waiting come in.
            return self.admit_waiting(now, ctx, Vec::new(), true);
        }
        Ok(Reply::done())
    }

    /// Turns a waiter away (a ban or revocation of its identity, a replacement): `room_left`
    /// and its connection closed.
    pub(super) fn turn_away(
        &mut self,
        identity: &str,
        outcome: WaitOutcome,
        by: Option<String>,
        message: Option<String>,
    ) {
        let Some(w) = self.waiting.take(identity) else {
            return;
        };
        let reason = match outcome {
            WaitOutcome::Replaced => LeaveReason::Replaced,
            WaitOutcome::TimedOut => LeaveReason::WaitingTimeout,
            WaitOutcome::Banned => LeaveReason::Kicked,
            WaitOutcome::Left => LeaveReason::Left,
            WaitOutcome::Admitted | WaitOutcome::Denied => LeaveReason::Denied,
        };
        self.waiter_gone(&w, reason, by.clone(), message);
        self.emit_removed(vec![identity.to_string()], outcome, by);
        self.emit_counts(None);
    }

    /// The end of a wait, to the waiter: `room_left`, then its connection closes.
    fn waiter_gone(
        &mut self,
        w: &Waiter,
        reason: LeaveReason,
        by: Option<String>,
        message: Option<String>,
    ) {
        self.counts.waiting = self.counts.waiting.saturating_sub(1);
        let sid = w.info.sid.clone();
        if reason != LeaveReason::Left {
            self.emit(
                Audience::Only(sid.clone()),
                Event::RoomLeft {
                    reason,
                    by,
                    message,
                },
            );
        }
        self.outputs.push_back(Output::Disconnect { sid, reason });
    }

    fn emit_removed(&mut self, identities: Vec<String>, outcome: WaitOutcome, by: Option<String>) {
        if identities.is_empty() {
            return;
        }
        let event = Event::WaitersRemoved {
            identities,
            outcome,
            by,
        };
        self.emit(self.admitters(), event);
    }

    /// Waiters nobody admitted in time are turned away.
    pub(super) fn expire_waiting(&mut self, now: Millis) {
        let mut expired = Vec::new();
        while let Some(&(at, order)) = self.waiting.deadlines.first() {
            if at > now {
                break;
            }
            let Some(identity) = self.waiting.order.get(&order).cloned() else {
                self.waiting.deadlines.pop_first();
                continue;
            };
            if let Some(w) = self.waiting.take(&identity) {
                let secs = self.settings.waiting_room.timeout_seconds;
                let message = format!("no host admitted you within {secs} s");
                self.waiter_gone(&w, LeaveReason::WaitingTimeout, None, Some(message));
                expired.push(identity);
            }
        }
        if !expired.is_empty() {
            self.emit_removed(expired, WaitOutcome::TimedOut, None);
            self.emit_counts(None);
        }
    }

    /// Everyone waiting leaves with the room (end of session, shutdown, deletion).
    pub(super) fn close_waiting(&mut self, reason: LeaveReason, by: Option<String>) {
        for identity in self.waiting.identities() {
            if let Some(w) = self.waiting.take(&identity) {
                self.waiter_gone(&w, reason, by.clone(), None);
            }
        }
        self.counts.waiting = 0;
    }

    /// A waiter whose tokens were just revoked is turned away.
    pub(super) fn revoked_while_waiting(&mut self, identity: &str, before: Millis, by: &str) {
        let issued = self.waiting.waiters.get(identity).map(|w| w.req.issued_at);
        if let Some(issued_at) = issued {
            if issued_at.unwrap_or(0) < before {
                self.turn_away(identity, WaitOutcome::Banned, Some(by.to_string()), None);
            }
        }
    }
}

fn not_waiting(identity: &str) -> Error {
    Error::new(
        ErrorCode::NotFound,
        format!("'{identity}' is not in the waiting room"),
    )
}
