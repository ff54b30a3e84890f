//! A room's recent messages, for sessions that resume after a network blip (docs/protocol.md,
//! "Resuming a session").
//!
//! Every frame the room actor queues for connections — events, responses, media signalling —
//! gets the room's next message number (`ev`, spliced into the shared bytes, the same for every
//! recipient) and is kept here with its audience. A participant whose socket broke stays in
//! the room, suspended, for the grace period; when its client reconnects with the last `ev` it
//! received, the room sends it exactly the kept messages after that one that were addressed to
//! it, in order — or, when they are no longer all kept, a fresh snapshot.
//!
//! One buffer per room, not one per connection: a message is one `Arc` shared with the
//! fan-out, whatever the number of its recipients, so idle participants cost nothing here. It
//! keeps at most [`Limits::resume_events`] messages and [`Limits::resume_bytes`] bytes, the
//! oldest going first, and nothing older than twice the grace period (a session can resume only
//! within it), so a server's many quiet rooms keep next to nothing.
//!
//! [`Limits::resume_events`]: crate::config::Limits::resume_events
//! [`Limits::resume_bytes`]: crate::config::Limits::resume_bytes

use crate::fanout::Frame;
use gavel_core::Audience;
use std::collections::VecDeque;
use std::time::{Duration, Instant};

pub struct Journal {
    /// (number, when, audience, frame), oldest first.
    kept: VecDeque<(u64, Instant, Audience, Frame)>,
    /// The number the next message gets (the first is 1).
    next: u64,
    bytes: usize,
    max_events: usize,
    max_bytes: usize,
    max_age: Duration,
}

/// What a resuming session gets.
pub enum Replay {
    /// Every message after its last, in order.
    Missed(Vec<Frame>),
    /// Some are no longer kept: a fresh snapshot instead.
    TooOld,
}

impl Journal {
    /// Keeps at most `max_events` messages, `max_bytes` bytes, none older than `max_age`.
    pub fn new(max_events: usize, max_bytes: usize, max_age: Duration) -> Journal {
        Journal {
            kept: VecDeque::new(),
            next: 1,
            bytes: 0,
            max_events,
            max_bytes,
            max_age,
        }
    }

    /// Whether messages are kept at all.
    pub fn enabled(&self) -> bool {
        self.max_events > 0 && self.max_bytes > 0 && !self.max_age.is_zero()
    }

    /// The number the next message will get.
    pub fn next_number(&self) -> u64 {
        self.next
    }

    /// `frame` with the next number, kept for `to`; unchanged when nothing is kept (no
    /// session can resume).
    pub fn stamp(&mut self, to: &Audience, frame: Frame) -> Frame {
        if !self.enabled() {
            return frame;
        }
        let numbered = frame.numbered(self.next);
        self.keep(to, &numbered);
        numbered
    }

    /// Keeps `frame` (already numbered with [`Journal::next_number`]) for `to`.
    pub fn keep(&mut self, to: &Audience, frame: &Frame) {
        let n = self.next;
        self.next += 1;
        if !self.enabled() {
            return;
        }
        let now = Instant::now();
        self.bytes += frame.size() + audience_bytes(to);
        self.kept.push_back((n, now, to.clone(), frame.clone()));
        while let Some((_, at, to, f)) = self.kept.front() {
            let over = self.kept.len() > self.max_events || self.bytes > self.max_bytes;
            if !over && now.duration_since(*at) <= self.max_age {
                break;
            }
            self.bytes -= f.size() + audience_bytes(to);
            self.kept.pop_front();
        }
    }

    /// The messages after `last` addressed to `sid`.
    pub fn since(&self, last: u64, sid: &str) -> Replay {
        // Saturating: `last` is what a client claims.
        if last.saturating_add(1) >= self.next {
            return Replay::Missed(Vec::new());
        }
        match self.kept.front() {
            Some((oldest, ..)) if *oldest <= last.saturating_add(1) => {}
            _ => return Replay::TooOld,
        }
        let frames = self
            .kept
            .iter()
            .filter(|(n, _, to, _)| *n > last && reaches(to, sid))
            .map(|(_, _, _, f)| f.clone())
            .collect();
        Replay::Missed(frames)
    }
}

fn reaches(to: &Audience, sid: &str) -> bool {
    match to {
        Audience::Everyone => true,
        Audience::EveryoneExcept(x) => x != sid,
        Audience::Only(s) => s == sid,
        Audience::Sessions(sids) => sids.iter().any(|s| s == sid),
    }
}

fn audience_bytes(to: &Audience) -> usize {
    match to {
        Audience::Everyone => 0,
        Audience::EveryoneExcept(s) | Audience::Only(s) => s.len(),
        Audience::Sessions(sids) => sids.iter().map(String::len).sum(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gavel_core::Event;

    fn frame(j: &Journal, present: u32) -> Frame {
        Frame::event(&Event::CountsUpdated {
            present,
            hidden: 0,
            waiting: 0,
        })
        .numbered(j.next_number())
    }

    fn presents(r: Replay) -> Vec<u64> {
        match r {
            Replay::Missed(frames) => frames
                .iter()
                .map(|f| {
                    let v: serde_json::Value = serde_json::from_str(&f.json()).unwrap();
                    v["present"].as_u64().unwrap()
                })
                .collect(),
            Replay::TooOld => panic!("too old"),
        }
    }

    #[test]
    fn a_session_gets_what_was_addressed_to_it_after_its_last_message() {
        let mut j = Journal::new(100, 1 << 20, Duration::from_secs(60));
        let everyone = Audience::Everyone;
        for (i, to) in [
            everyone.clone(),
            Audience::Only("a".into()),
            Audience::Only("b".into()),
            Audience::EveryoneExcept("a".into()),
            Audience::Sessions(vec!["a".into(), "c".into()]),
            everyone,
        ]
        .iter()
        .enumerate()
        {
            let f = frame(&j, i as u32 + 1);
            j.keep(to, &f);
        }
        assert_eq!(presents(j.since(1, "a")), [2, 5, 6]);
        assert_eq!(presents(j.since(2, "b")), [3, 4, 6]);
        assert_eq!(presents(j.since(6, "a")), Vec::<u64>::new());
        assert!(matches!(j.since(0, "a"), Replay::Missed(_)));
    }

    #[test]
    fn past_its_bounds_the_oldest_go_and_a_resume_from_before_them_gets_a_snapshot() {
        let mut j = Journal::new(3, 1 << 20, Duration::from_secs(60));
        for i in 1..=5 {
            let f = frame(&j, i);
            j.keep(&Audience::Everyone, &f);
        }
        assert!(matches!(j.since(1, "a"), Replay::TooOld));
        assert_eq!(presents(j.since(2, "a")), [3, 4, 5]);
        let mut small = Journal::new(100, 200, Duration::from_secs(60));
        for i in 1..=10 {
            let f = frame(&small, i);
            small.keep(&Audience::Everyone, &f);
        }
        assert!(small.bytes <= 200);
        assert!(matches!(small.since(1, "a"), Replay::TooOld));
        // Nothing older than its age bound.
        let mut brief = Journal::new(100, 1 << 20, Duration::from_millis(20));
        let f = frame(&brief, 1);
        brief.keep(&Audience::Everyone, &f);
        std::thread::sleep(Duration::from_millis(40));
        let f = frame(&brief, 2);
        brief.keep(&Audience::Everyone, &f);
        assert!(matches!(brief.since(0, "a"), Replay::TooOld));
        assert_eq!(presents(brief.since(1, "a")), [2]);
    }
}
