//! Counters the engine keeps; the shell exports them as metrics.

/// Why a packet (or frame) was not forwarded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DropReason {
    /// Its track is muted.
    Muted,
    /// The room does not allow the track to flow (not published, revoked, hidden publisher).
    NotAllowed,
    /// Over the track's bitrate limit.
    OverLimit,
    /// From an address or session the engine does not know.
    Unknown,
}

impl DropReason {
    pub const ALL: [DropReason; 4] = [
        DropReason::Muted,
        DropReason::NotAllowed,
        DropReason::OverLimit,
        DropReason::Unknown,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            DropReason::Muted => "muted",
            DropReason::NotAllowed => "not_allowed",
            DropReason::OverLimit => "over_limit",
            DropReason::Unknown => "unknown",
        }
    }
}

/// Totals since the engine started; the shell reports differences.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    pub datagrams_in: u64,
    pub bytes_in: u64,
    pub datagrams_out: u64,
    pub bytes_out: u64,
    /// RTP media packets written to a receiver.
    pub packets_forwarded: u64,
    /// str0m timer passes run (each sends whatever a session has queued; a batch of datagrams
    /// shares one per receiver among the frames it wrote there).
    pub timer_passes: u64,
    pub dropped: [u64; 4],
}

impl Stats {
    pub fn drop(&mut self, reason: DropReason) {
        self.dropped[reason as usize] += 1;
    }
    pub fn dropped(&self, reason: DropReason) -> u64 {
        self.dropped[reason as usize]
    }
}
