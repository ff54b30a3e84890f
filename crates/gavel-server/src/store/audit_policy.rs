//! What a host action may cost the audit log, so that nobody can fill the disk with it.
//!
//! Every host action is still recorded with who tried what on whom and how it ended; what is
//! bounded is the rest:
//!
//! - **Size.** The command's parameters are cut: strings longer than a bound end with a
//!   `…[+N bytes]` marker, and a document still over its cap is kept as
//!   `{"truncated": "<its first bytes>…[+N bytes]"}`. Refused actions keep little
//!   ([`REFUSED_STRING_MAX`], [`REFUSED_PARAMS_MAX`]); carried-out ones more
//!   ([`STRING_MAX`], [`PARAMS_MAX`]). Targets are listed up to [`TARGETS_MAX`].
//! - **Rate of refusals.** Per actor and room, refused actions are written at most
//!   [`REFUSED_BURST`] at once, then one per [`REFUSED_REFILL`] ([`RefusalLimiter`], run by the
//!   writer). Those over the rate are counted (`gavel_audit_suppressed_total`) and not written;
//!   the actor's next written entry carries `suppressed: N`. When the actor stops, the last
//!   suppressed attempt itself is written with the count of the others, once the rate allows
//!   (or at shutdown), so no count is lost. The INFO log line of a refusal is written with its
//!   entry, so it follows the same rate.
//!
//! Carried-out actions are not rate-limited: they need host controls, and each one changed the
//! room.
//!
//! Measured (the loop of tests/audit.rs run for 10 s: a participant sending refused
//! `batch_update`s with 15 KB of metadata, ~43/s, just under its connection's rate limit):
//! before, 411 attempts grew the database (with its write-ahead log) by 10.9 MB, a full row
//! each; with this policy, 431 attempts grew it by 24.7 KB — 10 entries, and at shutdown one
//! more carrying `suppressed: 420`.

use super::writer::Writer;
use super::AuditEntry;
use crate::clock::now_ms;
use crate::metrics::ActionLabels;
use gavel_core::{Command, Error};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::time::Duration;
use tokio::time::Instant;

/// A refused action's parameters, as JSON, at most this many bytes.
pub const REFUSED_PARAMS_MAX: usize = 1024;
/// Strings in a refused action's parameters (and its targets) are cut to this many bytes.
pub const REFUSED_STRING_MAX: usize = 64;
/// A carried-out action's parameters, as JSON, at most this many bytes (a full participant
/// metadata of 16 KiB is cut; everything else a host sends fits).
pub const PARAMS_MAX: usize = 8 * 1024;
/// Strings in a carried-out action's parameters are cut to this many bytes.
pub const STRING_MAX: usize = 2 * 1024;
/// Targets listed in one entry; more are summed up in a last `…+N more` target.
pub const TARGETS_MAX: usize = 32;
/// Error messages are cut to this many bytes.
pub const MESSAGE_MAX: usize = 256;
/// Refused actions one actor may have written in one room at once…
pub const REFUSED_BURST: u32 = 10;
/// …and then one more per this interval.
pub const REFUSED_REFILL: Duration = Duration::from_secs(10);
/// Actors with recent refusals tracked at once (an idle one is forgotten); past this, new ones'
/// refusals are only counted. A tracked actor costs at most one bounded entry (~2 KB).
pub const TRACKED_ACTORS_MAX: usize = 4096;

/// A host action as the room reports it (`Output::HostAction`).
pub struct Attempt<'a> {
    pub room: &'a str,
    pub actor: String,
    pub action: &'static str,
    pub targets: Vec<String>,
    pub command: Box<Command>,
    pub outcome: Result<(), Error>,
}

/// Called by the room actor for each host action: counts it, logs a carried-out one, and hands
/// its bounded entry to the writer (which rate-limits and logs refusals).
pub fn record(writer: &Writer, attempt: Attempt<'_>) {
    let Attempt {
        room,
        actor,
        action,
        targets,
        command,
        outcome,
    } = attempt;
    let outcome_label = match &outcome {
        Ok(()) => "ok",
        Err(e) => e.code.as_str(),
    };
    writer
        .metrics()
        .host_actions
        .get_or_create(&ActionLabels {
            action: action.to_string(),
            outcome: outcome_label.to_string(),
        })
        .inc();
    let (string_max, params_max) = match outcome {
        Ok(()) => (STRING_MAX, PARAMS_MAX),
        Err(_) => (REFUSED_STRING_MAX, REFUSED_PARAMS_MAX),
    };
    let entry = AuditEntry {
        id: 0,
        at: now_ms(),
        room: room.to_string(),
        actor,
        action: action.to_string(),
        targets: bound_targets(targets, string_max.min(STRING_MAX)),
        params: bound_params(
            serde_json::to_value(&command).unwrap_or_default(),
            string_max,
            params_max,
        ),
        outcome: outcome_label.to_string(),
        message: outcome.err().map(|e| cut(&e.message, MESSAGE_MAX)),
        suppressed: 0,
    };
    if entry.outcome == "ok" {
        tracing::info!(room, actor = %entry.actor, action, targets = ?entry.targets, "host action");
    }
    writer.audit(entry);
}

/// `s`, or its first `max` bytes (at a character boundary) and a marker of what was cut.
pub fn cut(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…[+{} bytes]", &s[..end], s.len() - end)
}

/// The parameters with every string cut to `string_max`, and the whole to `params_max` bytes.
pub fn bound_params(mut params: Value, string_max: usize, params_max: usize) -> Value {
    cut_strings(&mut params, string_max);
    let text = params.to_string();
    if text.len() <= params_max {
        return params;
    }
    // What the wrapper and the marker add: keep the result within `params_max` too.
    let room_left = params_max.saturating_sub(48);
    let kept = json!({ "truncated": cut(&text, room_left) });
    if kept.to_string().len() <= params_max {
        kept
    } else {
        // Escaping made it longer (quotes, backslashes): keep less.
        json!({ "truncated": cut(&text, room_left / 2) })
    }
}

fn cut_strings(v: &mut Value, max: usize) {
    match v {
        Value::String(s) if s.len() > max => *s = cut(s, max),
        Value::Array(items) => items.iter_mut().for_each(|i| cut_strings(i, max)),
        Value::Object(map) => map.values_mut().for_each(|i| cut_strings(i, max)),
        _ => {}
    }
}

/// At most [`TARGETS_MAX`] targets, each cut to `max` bytes.
pub fn bound_targets(mut targets: Vec<String>, max: usize) -> Vec<String> {
    let more = targets.len().saturating_sub(TARGETS_MAX);
    targets.truncate(TARGETS_MAX);
    let mut out: Vec<String> = targets.iter().map(|t| cut(t, max)).collect();
    if more > 0 {
        out.push(format!("…+{more} more"));
    }
    out
}

/// Per actor and room, a bucket of refusals that may still be written.
struct Bucket {
    tokens: u32,
    /// When the last token was added (or the bucket was last full).
    refilled_at: Instant,
    /// Refusals not written since the actor's last written entry.
    pending: u64,
    /// The newest of them, written as their summary once the rate allows.
    last: Option<AuditEntry>,
}

impl Bucket {
    fn refill(&mut self, now: Instant) {
        let intervals = (now.saturating_duration_since(self.refilled_at).as_millis()
            / REFUSED_REFILL.as_millis()) as u32;
        if intervals > 0 {
            self.tokens = self.tokens.saturating_add(intervals).min(REFUSED_BURST);
            self.refilled_at += REFUSED_REFILL * intervals;
        }
        if self.tokens == REFUSED_BURST {
            self.refilled_at = now;
        }
    }

    fn idle(&self) -> bool {
        self.tokens == REFUSED_BURST && self.pending == 0
    }
}

/// The refusal rate limit (see the module documentation). Owned by the writer task.
#[derive(Default)]
pub struct RefusalLimiter {
    buckets: HashMap<(String, String), Bucket>,
}

/// What [`RefusalLimiter::admit`] decided.
#[derive(Debug, PartialEq, Eq)]
pub enum Admission {
    /// Write this entry (its `suppressed` says how many before it were not written).
    Write(AuditEntry),
    /// Over the rate: counted, not written.
    Suppressed,
}

impl RefusalLimiter {
    /// Decides on a refused action's entry at `now`.
    pub fn admit(&mut self, mut entry: AuditEntry, now: Instant) -> Admission {
        let key = (entry.room.clone(), entry.actor.clone());
        if !self.buckets.contains_key(&key) && self.buckets.len() >= TRACKED_ACTORS_MAX {
            self.forget_idle(now);
            if self.buckets.len() >= TRACKED_ACTORS_MAX {
                return Admission::Suppressed;
            }
        }
        let bucket = self.buckets.entry(key).or_insert(Bucket {
            tokens: REFUSED_BURST,
            refilled_at: now,
            pending: 0,
            last: None,
        });
        bucket.refill(now);
        if bucket.tokens == 0 {
            bucket.pending += 1;
            bucket.last = Some(entry);
            return Admission::Suppressed;
        }
        bucket.tokens -= 1;
        entry.suppressed = std::mem::take(&mut bucket.pending);
        bucket.last = None;
        Admission::Write(entry)
    }

    /// Summaries to write now: for each actor with suppressed refusals whose rate allows one
    /// more entry (every one when `all`, at shutdown), its newest suppressed attempt carrying
    /// the count of the others. Idle actors are forgotten.
    pub fn due(&mut self, now: Instant, all: bool) -> Vec<AuditEntry> {
        let mut out = Vec::new();
        for bucket in self.buckets.values_mut() {
            bucket.refill(now);
            if bucket.pending == 0 || (bucket.tokens == 0 && !all) {
                continue;
            }
            bucket.tokens = bucket.tokens.saturating_sub(1);
            if let Some(mut last) = bucket.last.take() {
                last.suppressed = bucket.pending - 1;
                out.push(last);
            }
            bucket.pending = 0;
        }
        self.forget_idle(now);
        out
    }

    /// Actors tracked now (for tests and the bound).
    pub fn tracked(&self) -> usize {
        self.buckets.len()
    }

    fn forget_idle(&mut self, now: Instant) {
        self.buckets.retain(|_, b| {
            b.refill(now);
            !b.idle()
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(actor: &str, n: u64) -> AuditEntry {
        AuditEntry {
            id: 0,
            at: n,
            room: "r".into(),
            actor: actor.into(),
            action: "kick".into(),
            targets: vec!["host".into()],
            params: json!({}),
            outcome: "permission_denied".into(),
            message: None,
            suppressed: 0,
        }
    }

    #[test]
    fn long_strings_are_cut_with_a_marker_and_the_whole_is_capped() {
        let p = bound_params(json!({"metadata": "é".repeat(100)}), 9, 1024);
        assert_eq!(p["metadata"], "éééé…[+192 bytes]");
        let many: Vec<String> = (0..500).map(|i| format!("identity-{i}")).collect();
        let p = bound_params(json!({ "identities": many }), 64, 1024);
        assert!(p.to_string().len() <= 1024, "{}", p.to_string().len());
        assert!(p["truncated"]
            .as_str()
            .unwrap()
            .starts_with("{\"identities\""));
        let quotes = bound_params(json!({ "k": vec!["\"\\"; 2000] }), 64, 1024);
        assert!(quotes.to_string().len() <= 1024);
        let t = bound_targets((0..40).map(|i| format!("p{i}")).collect(), 64);
        assert_eq!(t.len(), TARGETS_MAX + 1);
        assert_eq!(t[TARGETS_MAX], "…+8 more");
    }

    #[test]
    fn refusals_over_the_rate_are_counted_and_summed_up_later() {
        let mut l = RefusalLimiter::default();
        let t0 = Instant::now();
        let mut written = Vec::new();
        for i in 0..50 {
            if let Admission::Write(e) = l.admit(refused("guest", i), t0) {
                written.push(e);
            }
        }
        assert_eq!(written.len(), REFUSED_BURST as usize);
        assert!(written.iter().all(|e| e.suppressed == 0));
        // Another actor has its own bucket.
        assert!(matches!(
            l.admit(refused("other", 0), t0),
            Admission::Write(_)
        ));
        assert!(l.due(t0, false).is_empty(), "no token yet");
        // One interval later the next attempt is written, carrying the 40 before it.
        let later = t0 + REFUSED_REFILL;
        match l.admit(refused("guest", 99), later) {
            Admission::Write(e) => assert_eq!((e.at, e.suppressed), (99, 40)),
            other => panic!("{other:?}"),
        }
        // Suppressed again, then the actor stops: its last attempt becomes the summary.
        for i in 100..103 {
            assert_eq!(l.admit(refused("guest", i), later), Admission::Suppressed);
        }
        let summary = l.due(later + REFUSED_REFILL, false);
        assert_eq!(summary.len(), 1);
        assert_eq!((summary[0].at, summary[0].suppressed), (102, 2));
        // At shutdown every pending count is written, rate or not.
        l.admit(refused("guest", 200), later + REFUSED_REFILL);
        assert_eq!(l.due(later + REFUSED_REFILL, true).len(), 1);
        // Once their buckets are full again, quiet actors are forgotten.
        l.due(later + REFUSED_REFILL * (REFUSED_BURST + 1), false);
        assert_eq!(l.tracked(), 0);
    }
}
