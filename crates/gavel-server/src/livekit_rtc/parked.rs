//! LiveKit sessions whose socket broke, kept for their client's resume (`reconnect=1`).
//!
//! The room keeps a broken session for the grace period (`room_actor.rs`, "suspended"); what
//! only the socket's task knew — the participants this client was told about and their
//! versions, its publisher's track ids — waits here for the same span, under the session id.
//! A resume on this node takes it back; one on another node of a cluster finds nothing and
//! is told to join again (`docs/compat-livekit.md`). Bounded: one entry per suspended session,
//! each gone after the grace period.

use super::requests::Requests;
use super::translate::Translator;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What a broken LiveKit session's task knew, for its resume.
pub struct Parked {
    pub room: String,
    pub identity: String,
    pub translator: Translator,
    pub requests: Requests,
}

/// The parked sessions of this node, by session id.
#[derive(Default, Clone)]
pub struct ParkedSessions {
    inner: Arc<Mutex<Inner>>,
}

#[derive(Default)]
struct Inner {
    next: u64,
    /// Session id → (entry number, state); the number tells a later park of the same session
    /// from the one a timer was set for.
    parked: HashMap<String, (u64, Parked)>,
}

impl ParkedSessions {
    /// Keeps `parked` for `grace`, under `sid`.
    pub fn park(&self, sid: String, parked: Parked, grace: Duration) {
        let number = {
            let mut inner = self.inner.lock().expect("parked sessions");
            inner.next += 1;
            let number = inner.next;
            inner.parked.insert(sid.clone(), (number, parked));
            number
        };
        let inner = self.inner.clone();
        tokio::spawn(async move {
            tokio::time::sleep(grace).await;
            let mut inner = inner.lock().expect("parked sessions");
            if inner.parked.get(&sid).is_some_and(|(n, _)| *n == number) {
                inner.parked.remove(&sid);
            }
        });
    }

    /// Takes back session `sid`'s state, if it is parked here for `identity` in `room` (a
    /// token for another identity or room takes nothing).
    pub fn take(&self, sid: &str, identity: &str, room: &str) -> Option<Parked> {
        let mut inner = self.inner.lock().expect("parked sessions");
        match inner.parked.get(sid) {
            Some((_, p)) if p.identity == identity && p.room == room => {}
            _ => return None,
        }
        inner.parked.remove(sid).map(|(_, p)| p)
    }

    pub fn len(&self) -> usize {
        self.inner.lock().expect("parked sessions").parked.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parked(identity: &str) -> Parked {
        Parked {
            room: "r".into(),
            identity: identity.into(),
            translator: Translator::default(),
            requests: Requests::default(),
        }
    }

    const GRACE: Duration = Duration::from_millis(100);

    #[tokio::test]
    async fn only_its_identity_takes_it_and_only_within_the_grace_period() {
        let p = ParkedSessions::default();
        p.park("PA_a".into(), parked("ann"), GRACE);
        assert!(p.take("PA_a", "bob", "r").is_none(), "another identity");
        assert!(p.take("PA_a", "ann", "other").is_none(), "another room");
        assert!(p.take("PA_a", "ann", "r").is_some());
        assert!(p.take("PA_a", "ann", "r").is_none(), "taken once");

        p.park("PA_b".into(), parked("ben"), GRACE);
        tokio::time::sleep(GRACE * 4).await;
        assert!(p.is_empty(), "gone after the grace period");
        assert!(p.take("PA_b", "ben", "r").is_none());
    }

    #[tokio::test]
    async fn a_later_park_outlives_the_earlier_ones_timer() {
        let p = ParkedSessions::default();
        p.park("PA_a".into(), parked("ann"), GRACE);
        assert!(p.take("PA_a", "ann", "r").is_some());
        p.park("PA_a".into(), parked("ann"), GRACE * 20);
        tokio::time::sleep(GRACE * 4).await;
        assert_eq!(
            p.len(),
            1,
            "the first timer does not remove the second park"
        );
    }
}
