//! Connection quality: each participant's level, from the loss and round trip time its media
//! sessions report, announced when it changes.
//!
//! Readings arrive every couple of seconds per session, so a room of N people could otherwise
//! cost N² messages per interval. A change is announced only when the level changes; changes of
//! announced participants are batched into one `connection_quality` to everyone at most every
//! [`QUALITY_INTERVAL`] (the batch goes out with the first reading after the interval: readings
//! keep coming while anyone has media). An unannounced participant (hidden, or unlisted
//! audience) hears of its own level alone, at once.

use super::Room;
use crate::event::{Audience, ConnectionQuality, Event, QualityUpdate};
use crate::Millis;

/// At most one `connection_quality` to everyone this often (ms).
pub const QUALITY_INTERVAL: Millis = 5000;

impl Room {
    /// A reading of `sid`'s media: round trip time and the worse direction's loss (0–1).
    pub fn media_quality(
        &mut self,
        now: Millis,
        sid: &str,
        rtt_ms: Option<u32>,
        loss: Option<f32>,
    ) {
        self.set_quality(now, sid, ConnectionQuality::of(rtt_ms, loss));
    }

    pub(super) fn set_quality(&mut self, now: Millis, sid: &str, quality: ConnectionQuality) {
        let Some(identity) = self.by_sid.get(sid).cloned() else {
            return;
        };
        let p = self.participants.get_mut(&identity).expect("indexed");
        if p.quality != Some(quality) {
            p.quality = Some(quality);
            if p.announced() {
                self.quality_pending.insert(identity.clone(), quality);
            } else {
                let to = Audience::Only(sid.to_string());
                let updates = vec![QualityUpdate { identity, quality }];
                self.emit(to, Event::ConnectionQuality { updates });
            }
        }
        if !self.quality_pending.is_empty()
            && now.saturating_sub(self.quality_sent_at) >= QUALITY_INTERVAL
        {
            self.quality_sent_at = now;
            let updates = std::mem::take(&mut self.quality_pending)
                .into_iter()
                // Someone who left or stopped being announced since is not named.
                .filter(|(id, _)| self.participants.get(id).is_some_and(|p| p.announced()))
                .map(|(identity, quality)| QualityUpdate { identity, quality })
                .collect::<Vec<_>>();
            if !updates.is_empty() {
                self.emit(Audience::Everyone, Event::ConnectionQuality { updates });
            }
        }
    }
}
