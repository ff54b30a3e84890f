//! Active-speaker detection from client-reported audio levels.
//!
//! Clients report RFC 6464 levels (-dBov: 0 loudest, 127 silence) while they have a live
//! microphone. Every `window_ms` the detector looks at each participant's samples:
//!
//! 1. A sample is *active* when its level is at most `active_level` (35, i.e. louder than -35 dBov).
//! 2. A window is *active* when at least `min_active_fraction` (40 %) of its samples are active.
//! 3. `score = score·(1−s) + [window active]·s` with smoothing `s` = 0.5. A participant starts
//!    speaking when its score reaches 0.5 (one active window) and stops below 0.3 (two quiet
//!    windows after sustained speech): a hangover that stops the highlight from flickering
//!    between words.
//! 4. Speakers are ordered by smoothed loudness (mean linear amplitude of the active samples,
//!    smoothed the same way), loudest first; ties by identity.
//!
//! `active_speakers` is emitted only when the ordered list of identities changes. Each window a
//! participant spends speaking adds `window_ms` to its speaking time.

use crate::event::Speaker;
use crate::Millis;
use std::collections::BTreeMap;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SpeakerConfig {
    pub window_ms: u64,
    pub active_level: u8,
    pub min_active_fraction: f32,
    pub smoothing: f32,
    pub start_score: f32,
    pub stop_score: f32,
}

impl Default for SpeakerConfig {
    fn default() -> Self {
        SpeakerConfig {
            window_ms: 400,
            active_level: 35,
            min_active_fraction: 0.4,
            smoothing: 0.5,
            start_score: 0.5,
            stop_score: 0.3,
        }
    }
}

#[derive(Debug, Clone, Default)]
struct LevelState {
    samples: u32,
    active: u32,
    loud_sum: f32,
    score: f32,
    loudness: f32,
    speaking: bool,
}

/// RFC 6464 -dBov to linear amplitude (0 dBov = 1.0).
pub fn linear(level: u8) -> f32 {
    10f32.powf(-(level.min(127) as f32) / 20.0)
}

/// What one window produced.
#[derive(Debug, Default, PartialEq)]
pub struct Tick {
    /// The new ordered speaker list, when it changed.
    pub changed: Option<Vec<Speaker>>,
    /// Everyone who spoke during this window (for speaking time).
    pub speaking: Vec<String>,
}

#[derive(Debug, Clone, Default)]
pub struct SpeakerDetector {
    config: SpeakerConfig,
    states: BTreeMap<String, LevelState>,
    active: Vec<Speaker>,
    next_tick: Option<Millis>,
}

impl SpeakerDetector {
    pub fn new(config: SpeakerConfig) -> Self {
        SpeakerDetector {
            config,
            ..Default::default()
        }
    }

    pub fn config(&self) -> &SpeakerConfig {
        &self.config
    }

    pub fn active(&self) -> &[Speaker] {
        &self.active
    }

    pub fn next_tick(&self) -> Option<Millis> {
        self.next_tick
    }

    pub fn observe(&mut self, identity: &str, level: u8, now: Millis) {
        let s = self.states.entry(identity.to_string()).or_default();
        s.samples += 1;
        if level <= self.config.active_level {
            s.active += 1;
            s.loud_sum += linear(level);
        }
        if self.next_tick.is_none() {
            self.next_tick = Some(now + self.config.window_ms);
        }
    }

    /// Forgets a participant. Returns the new list if it was among the active speakers.
    pub fn remove(&mut self, identity: &str) -> Option<Vec<Speaker>> {
        self.states.remove(identity);
        let before = self.active.len();
        self.active.retain(|s| s.identity != identity);
        (self.active.len() != before).then(|| self.active.clone())
    }

    pub fn clear(&mut self) {
        self.states.clear();
        self.active.clear();
        self.next_tick = None;
    }

    /// Closes the window if it is due.
    pub fn tick(&mut self, now: Millis) -> Tick {
        match self.next_tick {
            Some(t) if t <= now => {}
            _ => return Tick::default(),
        }
        let c = self.config;
        let mut speaking = Vec::new();
        let mut list = Vec::new();
        for (identity, s) in self.states.iter_mut() {
            let fraction = if s.samples > 0 {
                s.active as f32 / s.samples as f32
            } else {
                0.0
            };
            let window_active = fraction >= c.min_active_fraction;
            let loud = if s.active > 0 {
                s.loud_sum / s.active as f32
            } else {
                0.0
            };
            s.score = s.score * (1.0 - c.smoothing) + if window_active { c.smoothing } else { 0.0 };
            s.loudness = s.loudness * (1.0 - c.smoothing) + loud * c.smoothing;
            s.speaking = if s.speaking {
                s.score >= c.stop_score
            } else {
                s.score >= c.start_score
            };
            s.samples = 0;
            s.active = 0;
            s.loud_sum = 0.0;
            if s.speaking {
                speaking.push(identity.clone());
                list.push(Speaker {
                    identity: identity.clone(),
                    level: s.loudness,
                });
            }
        }
        // Forget participants who went quiet, so an idle room stops ticking.
        self.states
            .retain(|_, s| s.speaking || s.score > 0.01 || s.loudness > 1e-4);
        list.sort_by(|a, b| {
            b.level
                .partial_cmp(&a.level)
                .unwrap_or(std::cmp::Ordering::Equal)
                .then_with(|| a.identity.cmp(&b.identity))
        });
        let same = list.len() == self.active.len()
            && list
                .iter()
                .zip(&self.active)
                .all(|(a, b)| a.identity == b.identity);
        self.next_tick =
            (!self.states.is_empty()).then(|| now.max(self.next_tick.unwrap_or(now)) + c.window_ms);
        let changed = if same {
            self.active = list;
            None
        } else {
            self.active = list.clone();
            Some(list)
        };
        Tick { changed, speaking }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed(d: &mut SpeakerDetector, who: &str, level: u8, from: Millis, to: Millis) {
        let mut t = from;
        while t < to {
            d.observe(who, level, t);
            t += 50;
        }
    }

    #[test]
    fn starts_after_one_active_window_and_stops_after_two_quiet_ones() {
        let mut d = SpeakerDetector::default();
        feed(&mut d, "a", 20, 0, 400);
        let t = d.tick(400);
        assert_eq!(t.changed.unwrap()[0].identity, "a");
        assert_eq!(t.speaking, vec!["a"]);
        feed(&mut d, "a", 20, 400, 800);
        assert_eq!(d.tick(800).changed, None, "still the same speaker");
        feed(&mut d, "a", 120, 800, 1200);
        assert_eq!(d.tick(1200).changed, None, "hangover keeps the speaker");
        feed(&mut d, "a", 120, 1200, 1600);
        assert_eq!(d.tick(1600).changed, Some(vec![]));
    }

    #[test]
    fn below_min_fraction_is_not_speech() {
        let mut d = SpeakerDetector::default();
        // 3 of 8 samples active: 37.5 % < 40 %.
        for i in 0..8 {
            d.observe("a", if i < 3 { 10 } else { 100 }, i * 50);
        }
        assert_eq!(d.tick(400).changed, None);
        assert!(d.active().is_empty());
    }

    #[test]
    fn ordered_by_loudness() {
        let mut d = SpeakerDetector::default();
        feed(&mut d, "quiet", 30, 0, 400);
        feed(&mut d, "loud", 5, 0, 400);
        let list = d.tick(400).changed.unwrap();
        assert_eq!(
            list.iter().map(|s| s.identity.as_str()).collect::<Vec<_>>(),
            ["loud", "quiet"]
        );
    }

    #[test]
    fn idle_detector_stops_ticking() {
        let mut d = SpeakerDetector::default();
        feed(&mut d, "a", 127, 0, 400);
        d.tick(400);
        assert_eq!(d.next_tick(), None);
    }

    #[test]
    fn remove_reports_change_only_for_speakers() {
        let mut d = SpeakerDetector::default();
        feed(&mut d, "a", 10, 0, 400);
        d.tick(400);
        assert_eq!(d.remove("b"), None);
        assert_eq!(d.remove("a"), Some(vec![]));
    }
}
