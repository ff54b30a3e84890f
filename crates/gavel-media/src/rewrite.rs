//! One receive slot as an outgoing RTP stream.
//!
//! The engine forwards RTP packets as they arrive (str0m's RTP mode): no depacketizing and
//! repacketizing, and one shared payload for every receiver. A slot, though, is one stream
//! towards its receiver (one SSRC, one sequence-number and timestamp space) whose *source*
//! changes: another publisher takes the slot, or the same publisher's other simulcast layer.
//! A receiver's jitter buffer and decoder expect one continuous stream, so each slot keeps
//! its own numbering and maps every source onto it:
//!
//! - sequence numbers continue from the last one sent (a receiver would otherwise see a jump
//!   of thousands and ask for all of them again);
//! - RTP time continues from the last one sent plus the wall-clock time since;
//! - VP8 picture ids, TL0PICIDX and KEYIDX continue too (a receiver's frame-reference
//!   tracking reads them across the switch);
//! - video starts only on a keyframe: a delta frame of a new source references pictures the
//!   receiver never had.
//!
//! Pure and deterministic (time comes in as an argument); the engine owns one per slot.

use std::time::Instant;
use str0m::format::Codec;
use str0m::media::Pt;
use str0m::rtp::{SeqNo, Vp8Descriptor, Vp8Patch};

/// One incoming packet, as every slot it goes to sees it (parsed once per packet).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Incoming<'a> {
    pub ssrc: u32,
    /// Extended (rollover-free) sequence number.
    pub seq: u64,
    pub time: u32,
    /// Ticks per second of `time` (48,000 for Opus, 90,000 for video).
    pub clock_rate: u32,
    /// Whether a receiver may start this source here: audio anywhere, video on the first
    /// packet of a keyframe.
    pub starts: bool,
    pub vp8: Option<&'a Vp8Descriptor>,
}

/// Where a forwarded packet goes in the slot's stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Outgoing {
    pub seq: SeqNo,
    pub time: u32,
    pub vp8: Option<Vp8Patch>,
}

/// The numbering of one slot's outgoing stream.
#[derive(Debug, Clone, Default)]
pub(crate) struct SlotStream {
    source: Option<Source>,
    /// One past the highest sequence number sent. Starts below 65,536: the SRTP rollover
    /// counter is not signalled, so a receiver starts at zero.
    next_seq: u64,
    /// The newest packet's RTP time and when it was sent, to continue the clock.
    last: Option<(u32, Instant)>,
    /// The VP8 fields the next source starts from.
    vp8_next: Vp8Numbers,
    /// The receiver's payload type for the source's, cached: (incoming, outgoing).
    pt: Option<(Pt, Pt)>,
}

#[derive(Debug, Clone, Copy, Default)]
struct Vp8Numbers {
    picture_id: u16,
    tl0: u8,
    key_idx: u8,
}

#[derive(Debug, Clone)]
struct Source {
    ssrc: u32,
    /// The first packet forwarded from it. Older packets (reordered from before the switch)
    /// are not forwarded: their numbers belong to the previous source.
    first_seq: u64,
    /// Outgoing = incoming + offset (wrapping).
    seq_offset: u64,
    time_offset: u32,
    vp8: Vp8Numbers,
}

const PICTURE_ID_MASK: u16 = 0x7fff;
const KEY_IDX_MASK: u8 = 0x1f;

impl SlotStream {
    /// The slot will carry something else (another track or layer): the next packet that
    /// may start a source becomes its source.
    pub(crate) fn switch(&mut self) {
        self.source = None;
        self.pt = None;
    }

    /// The receiver's payload type for `incoming`, from the cache or from `lookup`.
    pub(crate) fn payload_type(
        &mut self,
        incoming: Pt,
        lookup: impl FnOnce() -> Option<Pt>,
    ) -> Option<Pt> {
        match self.pt {
            Some((i, o)) if i == incoming => Some(o),
            _ => {
                let out = lookup()?;
                self.pt = Some((incoming, out));
                Some(out)
            }
        }
    }

    /// Numbers `p` for this slot, or `None` if it must not be forwarded here (a video source
    /// that has not sent a keyframe since the switch, or a packet older than the switch).
    pub(crate) fn map(&mut self, now: Instant, p: &Incoming) -> Option<Outgoing> {
        if self.source.as_ref().is_none_or(|s| s.ssrc != p.ssrc) {
            if !p.starts {
                return None;
            }
            self.source = Some(self.start(now, p));
        }
        let source = self.source.as_ref().expect("set above");
        if p.seq < source.first_seq {
            return None;
        }
        let seq = p.seq.wrapping_add(source.seq_offset);
        let time = p.time.wrapping_add(source.time_offset);
        let newest = seq >= self.next_seq;
        let vp8 = p.vp8.and_then(|d| {
            let picture_id = d
                .picture_id()
                .map(|id| id.wrapping_add(source.vp8.picture_id) & PICTURE_ID_MASK);
            let tl0 = d.tl0_pic_idx().map(|x| x.wrapping_add(source.vp8.tl0));
            let key_idx = d
                .key_idx()
                .map(|x| x.wrapping_add(source.vp8.key_idx) & KEY_IDX_MASK);
            if newest {
                // The next source continues after these.
                if let Some(id) = picture_id {
                    self.vp8_next.picture_id = id.wrapping_add(1) & PICTURE_ID_MASK;
                }
                if let Some(x) = tl0 {
                    self.vp8_next.tl0 = x.wrapping_add(1);
                }
                if let Some(x) = key_idx {
                    self.vp8_next.key_idx = x.wrapping_add(1) & KEY_IDX_MASK;
                }
            }
            vp8_patch(d, picture_id, tl0, key_idx)
        });
        if newest {
            self.next_seq = seq + 1;
            self.last = Some((time, now));
        }
        Some(Outgoing {
            seq: SeqNo::from(seq),
            time,
            vp8,
        })
    }

    /// Offsets that make `p` follow what the slot sent last.
    fn start(&self, now: Instant, p: &Incoming) -> Source {
        let time_offset = match self.last {
            None => 0,
            Some((time, at)) => {
                // At least one tick: a new source's first packet is later than the last sent.
                let elapsed = now.saturating_duration_since(at).as_micros() as u64;
                let ticks = (elapsed * u64::from(p.clock_rate) / 1_000_000).max(1);
                time.wrapping_add(ticks as u32).wrapping_sub(p.time)
            }
        };
        let vp8 = p.vp8.map_or(Vp8Numbers::default(), |d| Vp8Numbers {
            picture_id: d
                .picture_id()
                .map_or(0, |id| self.vp8_next.picture_id.wrapping_sub(id)),
            tl0: d
                .tl0_pic_idx()
                .map_or(0, |x| self.vp8_next.tl0.wrapping_sub(x)),
            key_idx: d
                .key_idx()
                .map_or(0, |x| self.vp8_next.key_idx.wrapping_sub(x)),
        });
        Source {
            ssrc: p.ssrc,
            first_seq: p.seq,
            seq_offset: self.next_seq.wrapping_sub(p.seq),
            time_offset,
            vp8,
        }
    }
}

/// The descriptor patch for the rewritten fields. A 7-bit picture id keeps its width.
fn vp8_patch(
    d: &Vp8Descriptor,
    picture_id: Option<u16>,
    tl0: Option<u8>,
    key_idx: Option<u8>,
) -> Option<Vp8Patch> {
    let build = |id: Option<u16>| {
        let mut b = d.patch();
        if let Some(id) = id {
            b = b.picture_id(id);
        }
        if let Some(x) = tl0 {
            b = b.tl0_pic_idx(x);
        }
        if let Some(x) = key_idx {
            b = b.key_idx(x);
        }
        b.build()
    };
    build(picture_id)
        .or_else(|_| build(picture_id.map(|id| id & 0x7f)))
        .ok()
}

/// Whether a receiver can start decoding `codec` at this payload: audio anywhere, video on
/// the first packet of a keyframe.
pub(crate) fn starts_stream(codec: Codec, payload: &[u8], vp8: Option<&Vp8Descriptor>) -> bool {
    match codec {
        Codec::Vp8 => vp8.is_some_and(|d| d.starts_keyframe(payload)),
        Codec::H264 => str0m::format::detect_h264_keyframe(payload),
        c => c.is_audio(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn audio(ssrc: u32, seq: u64, time: u32) -> Incoming<'static> {
        Incoming {
            ssrc,
            seq,
            time,
            clock_rate: 48_000,
            starts: true,
            vp8: None,
        }
    }

    #[test]
    fn one_source_is_renumbered_from_zero_and_keeps_its_gaps() {
        let t0 = Instant::now();
        let mut s = SlotStream::default();
        let a = s.map(t0, &audio(7, 40_000, 1_000)).unwrap();
        assert_eq!((*a.seq, a.time), (0, 1_000));
        // A loss stays a loss (the receiver conceals it or asks for it).
        let b = s.map(t0, &audio(7, 40_002, 1_960)).unwrap();
        assert_eq!((*b.seq, b.time), (2, 1_960));
        // A late packet is still forwarded in its place.
        let c = s.map(t0, &audio(7, 40_001, 1_000)).unwrap();
        assert_eq!(*c.seq, 1);
        assert_eq!(s.next_seq, 3);
    }

    #[test]
    fn a_new_source_continues_the_numbering_and_the_clock() {
        let t0 = Instant::now();
        let mut s = SlotStream::default();
        for i in 0..10u64 {
            s.map(t0, &audio(1, 500 + i, 960 * i as u32)).unwrap();
        }
        s.switch();
        let t1 = t0 + Duration::from_millis(100);
        let a = s.map(t1, &audio(2, 9_000, 4_000_000)).unwrap();
        assert_eq!(*a.seq, 10);
        // 100 ms at 48 kHz after the last time sent (960 · 9).
        assert_eq!(a.time, 960 * 9 + 4_800);
        let b = s.map(t1, &audio(2, 9_001, 4_000_960)).unwrap();
        assert_eq!((*b.seq, b.time), (11, 960 * 9 + 4_800 + 960));
        // A packet of the new source from before its first one is not forwarded.
        assert!(s.map(t1, &audio(2, 8_999, 3_999_040)).is_none());
    }

    #[test]
    fn a_different_ssrc_is_a_new_source_even_without_a_switch() {
        let t0 = Instant::now();
        let mut s = SlotStream::default();
        s.map(t0, &audio(1, 100, 0)).unwrap();
        let a = s.map(t0, &audio(2, 60_000, 0)).unwrap();
        assert_eq!(*a.seq, 1);
    }

    #[test]
    fn video_waits_for_a_keyframe_after_a_switch() {
        let t0 = Instant::now();
        let mut s = SlotStream::default();
        let mut p = Incoming {
            ssrc: 3,
            seq: 10,
            time: 0,
            clock_rate: 90_000,
            starts: false,
            vp8: None,
        };
        assert!(s.map(t0, &p).is_none());
        p.seq = 11;
        p.starts = true;
        assert_eq!(*s.map(t0, &p).unwrap().seq, 0);
        p.seq = 12;
        p.starts = false;
        assert_eq!(*s.map(t0, &p).unwrap().seq, 1);
    }

    /// A VP8 payload descriptor with a 15-bit picture id, TL0PICIDX and KEYIDX, then a VP8
    /// payload header byte (P clear: a keyframe).
    fn vp8_payload(picture_id: u16, tl0: u8, key_idx: u8) -> Vec<u8> {
        vec![
            0x90, // X, S, partition 0
            0xF0, // I, L, T, K
            0x80 | (picture_id >> 8) as u8,
            picture_id as u8,
            tl0,
            key_idx & 0x1f,
            0x00,
            0xAA,
        ]
    }

    #[test]
    fn vp8_fields_continue_across_a_switch() {
        let t0 = Instant::now();
        let mut s = SlotStream::default();
        let first = vp8_payload(1_000, 50, 3);
        let d = Vp8Descriptor::parse(&first).unwrap();
        assert!(starts_stream(Codec::Vp8, &first, Some(&d)));
        let p = Incoming {
            ssrc: 1,
            seq: 5,
            time: 0,
            clock_rate: 90_000,
            starts: true,
            vp8: Some(&d),
        };
        let out = s.map(t0, &p).unwrap();
        assert!(out.vp8.is_some());
        assert_eq!(s.vp8_next.picture_id, 1);
        assert_eq!(s.vp8_next.tl0, 1);
        assert_eq!(s.vp8_next.key_idx, 1);
        // Another layer, far away in every field, continues where the first left off.
        s.switch();
        let other = vp8_payload(20_000, 200, 30);
        let d2 = Vp8Descriptor::parse(&other).unwrap();
        let q = Incoming {
            ssrc: 2,
            seq: 7_000,
            time: 1234,
            clock_rate: 90_000,
            starts: true,
            vp8: Some(&d2),
        };
        let out = s.map(t0, &q).unwrap();
        assert_eq!(*out.seq, 1);
        let expected = d2
            .patch()
            .picture_id(1)
            .tl0_pic_idx(1)
            .key_idx(1)
            .build()
            .unwrap();
        assert_eq!(out.vp8, Some(expected));
    }

    #[test]
    fn the_payload_type_is_looked_up_once_per_source() {
        let mut s = SlotStream::default();
        let mut lookups = 0;
        for _ in 0..3 {
            let pt = s.payload_type(Pt::from(111), || {
                lookups += 1;
                Some(Pt::from(109))
            });
            assert_eq!(pt, Some(Pt::from(109)));
        }
        assert_eq!(lookups, 1);
        s.switch();
        s.payload_type(Pt::from(111), || {
            lookups += 1;
            Some(Pt::from(109))
        });
        assert_eq!(lookups, 2);
    }
}
