//! The order check on one connection's `seq`: the server numbers each connection's messages
//! 1, 2, 3, … with no gaps (docs/protocol.md), so checking it needs the last number and the
//! first break only — constant memory however long the session runs.

/// Where a connection's numbering first broke: the `seq` that should have come, and the one
/// that did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SeqBreak {
    pub expected: u64,
    pub received: u64,
}

/// The `seq` numbers seen so far on one connection, reduced to what the order check needs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SeqOrder {
    last: u64,
    first_break: Option<SeqBreak>,
}

impl SeqOrder {
    /// Records the next message's `seq`.
    pub fn observe(&mut self, seq: u64) {
        let expected = self.last + 1;
        if seq != expected && self.first_break.is_none() {
            self.first_break = Some(SeqBreak {
                expected,
                received: seq,
            });
        }
        self.last = seq;
    }

    /// The last `seq` received (0 before any message).
    pub fn last(&self) -> u64 {
        self.last
    }

    /// The first gap, repeat or reordering, if there was one.
    pub fn first_break(&self) -> Option<SeqBreak> {
        self.first_break
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unbroken_run_has_no_break() {
        let mut order = SeqOrder::default();
        for seq in 1..=100_000 {
            order.observe(seq);
        }
        assert_eq!(order.last(), 100_000);
        assert_eq!(order.first_break(), None);
        // However many messages came, the check is these few bytes.
        assert!(std::mem::size_of::<SeqOrder>() <= 32);
    }

    #[test]
    fn gaps_repeats_and_reorderings_are_breaks_and_the_first_one_is_kept() {
        let broken = |seqs: &[u64]| {
            let mut order = SeqOrder::default();
            seqs.iter().for_each(|&s| order.observe(s));
            order.first_break().map(|b| (b.expected, b.received))
        };
        assert_eq!(broken(&[1, 2, 4, 5]), Some((3, 4)));
        assert_eq!(broken(&[1, 2, 2, 3]), Some((3, 2)));
        assert_eq!(broken(&[1, 3, 2, 9]), Some((2, 3)));
        assert_eq!(broken(&[2]), Some((1, 2)));
        assert_eq!(broken(&[]), None);
    }
}
