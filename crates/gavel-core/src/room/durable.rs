//! Commands with durable effects run as a small transaction, so that nothing is announced,
//! applied or acknowledged before it would survive a restart:
//!
//! 1. [`Room::decide`] runs the command against a copy of the room and sets aside the durable
//!    writes it made (bans, token revocations, presets, stored settings);
//! 2. the shell commits those writes;
//! 3. [`Room::apply`] makes the copy the room and releases its events, or [`Room::abandon`]
//!    drops it (the room is as if the command never came) and leaves only the audit entry of
//!    the failed attempt.
//!
//! Running on a copy keeps one implementation of every command (no separate "plan" that could
//! drift from what the command does). Only commands that can write durably pay for the copy
//! ([`Command::may_write_durably`]): it is O(room size), and such commands are rare moderation
//! actions. Everything else runs in place, as [`Room::handle`] does.

use super::Room;
use crate::command::{Actor, Command, Reply};
use crate::error::{Error, Result};
use crate::event::{DurableWrite, Output};
use crate::Millis;

/// What [`Room::decide`] concluded.
#[derive(Debug)]
pub enum Decision {
    /// Nothing to commit: the command ran (or was refused) and its outputs are queued.
    Done(Result<Reply>),
    /// The command succeeded on a copy of the room. Commit [`Pending::writes`], then
    /// [`Room::apply`] it; if the commit fails, [`Room::abandon`] it.
    Commit(Pending),
}

/// A decided command waiting for its durable writes to be committed.
#[derive(Debug)]
pub struct Pending {
    after: Box<Room>,
    reply: Reply,
    /// What must be committed, in order.
    pub writes: Vec<DurableWrite>,
}

impl Room {
    /// Decides a command. Commands that cannot write durably run at once (`Done`). Those that
    /// can run on a copy: if they made no durable write after all, or were refused, the copy
    /// becomes the room at once (`Done`); otherwise the caller must commit first (`Commit`).
    ///
    /// Between `decide` and `apply`/`abandon` the room must receive no other input.
    pub fn decide(&mut self, now: Millis, actor: &Actor, command: Command) -> Decision {
        if !command.may_write_durably() {
            return Decision::Done(self.handle(now, actor, command));
        }
        let queued = self.outputs.len();
        let mut after = Box::new(self.clone());
        let result = after.handle(now, actor, command);
        let made: Vec<Output> = after.outputs.drain(queued..).collect();
        let (writes, rest): (Vec<_>, Vec<_>) = made.into_iter().partition(Output::is_durable);
        after.outputs.extend(rest);
        match result {
            Ok(reply) if !writes.is_empty() => Decision::Commit(Pending {
                after,
                reply,
                writes: writes
                    .into_iter()
                    .filter_map(|o| o.into_durable().ok())
                    .collect(),
            }),
            result => {
                *self = *after;
                Decision::Done(result)
            }
        }
    }

    /// The writes were committed: the command takes effect and its events go out.
    pub fn apply(&mut self, pending: Pending) -> Reply {
        *self = *pending.after;
        pending.reply
    }

    /// The writes could not be committed: the room stays as it was. Only the audit entry of
    /// the attempt is kept, with `error` as its outcome.
    pub fn abandon(&mut self, pending: Pending, error: Error) {
        let queued = self.outputs.len();
        let mut after = pending.after;
        for out in after.outputs.drain(queued..) {
            if let Output::HostAction {
                actor,
                action,
                targets,
                command,
                ..
            } = out
            {
                self.outputs.push_back(Output::HostAction {
                    actor,
                    action,
                    targets,
                    command,
                    outcome: Err(error.clone()),
                });
            }
        }
    }
}
