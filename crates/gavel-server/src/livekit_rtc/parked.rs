//! What a LiveKit session keeps for its resume (`reconnect=1`) when its socket breaks.
//!
//! The room keeps a broken session for the grace period (`room_actor.rs`, "suspended"). What
//! only the socket's task knew — the participants this client was told about and their
//! versions, and the ids its publisher gave its tracks — goes with it, serialized, and comes
//! back with the resume through whichever node of a cluster it arrives at. Bounded: one per
//! suspended session, gone with it, and at most [`MAX_KEPT_BYTES`] (larger, nothing is kept
//! and the client joins afresh).

use super::requests::Requests;
use super::translate::Translator;
use gavel_core::Source;
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;

/// The largest state kept for one broken session (a client in a room of ~30,000 people).
pub const MAX_KEPT_BYTES: usize = 8 << 20;

/// A broken LiveKit session's state, for its resume.
#[derive(Serialize, Deserialize)]
pub struct Parked {
    translator: Translator,
    /// `cid` → source of the tracks its publisher announced (its offers name them).
    announced: VecDeque<(String, Source)>,
}

impl Parked {
    /// The state to keep, serialized; `None` if it is larger than [`MAX_KEPT_BYTES`].
    pub fn keep(translator: Translator, requests: &Requests) -> Option<String> {
        let parked = Parked {
            translator,
            announced: requests.announced().clone(),
        };
        let text = serde_json::to_string(&parked).ok()?;
        (text.len() <= MAX_KEPT_BYTES).then_some(text)
    }

    /// The translator and requests to go on with (requests in flight when the socket broke are
    /// not carried: their answers went to the old socket).
    pub fn restore(kept: &str) -> Option<(Translator, Requests)> {
        let parked: Parked = serde_json::from_str(kept).ok()?;
        Some((parked.translator, Requests::announcing(parked.announced)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_kept_state_comes_back_whole() {
        let mut requests = Requests::default();
        requests.announce("cid-mic".into(), Source::Microphone);
        let kept = Parked::keep(Translator::default(), &requests).unwrap();
        let (_, back) = Parked::restore(&kept).unwrap();
        assert_eq!(back.announced(), requests.announced());
        assert!(Parked::restore("{not json").is_none());
    }
}
