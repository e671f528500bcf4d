//! Per-message sequence numbers (RFC 4121 §4.2.3): the counter for tokens
//! we send, and the window that checks the SND_SEQ of tokens we receive for
//! replay and sequence detection (RFC 2743 §1.2.3).
//!
//! The receive window reports the same supplementary status as MIT krb5
//! 1.20 (`g_seqstate_check`). It remembers the highest sequence number
//! received and the 63 below it. A token older than that window is
//! reported as `OLD_TOKEN`, or as `UNSEQ_TOKEN` when sequence detection is on.

use super::checksum::flags;
use super::status::major;

/// The number of sequence numbers, ending with the highest one received,
/// that the window remembers.
pub const WINDOW: u64 = 64;

/// The sequence state of one context: what we send next and what we have
/// received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SequenceState {
    /// The SND_SEQ of the next token we make.
    pub next_send: u64,
    /// The checks on the peer's tokens.
    pub receive: ReceiveWindow,
}

impl SequenceState {
    /// Starts the state from the two initial sequence numbers of the AP
    /// exchange and the context flags, whose REPLAY and SEQUENCE bits choose
    /// the receive checks.
    pub fn new(seq_send: u64, seq_recv: u64, context_flags: u32) -> Self {
        Self {
            next_send: seq_send,
            receive: ReceiveWindow::new(seq_recv, context_flags),
        }
    }

    /// Returns the SND_SEQ for the next token and advances the counter.
    pub fn take_send(&mut self) -> u64 {
        let seq = self.next_send;
        self.next_send = seq.wrapping_add(1);
        seq
    }
}

/// Replay and sequence detection over received SND_SEQ values.
///
/// Sequence numbers are taken relative to the peer's initial one, so that
/// wrapping around 2^64 needs no special case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceiveWindow {
    replay: bool,
    sequence: bool,
    base: u64,
    /// One more than the highest relative sequence number received.
    next: u64,
    /// Bit `i` is set when relative number `next - 1 - i` was received.
    received: u64,
}

impl ReceiveWindow {
    /// Starts a window expecting `initial` first. `context_flags` are the
    /// `checksum::flags` bits; without REPLAY and SEQUENCE every token passes.
    pub fn new(initial: u64, context_flags: u32) -> Self {
        Self {
            replay: context_flags & flags::REPLAY != 0,
            sequence: context_flags & flags::SEQUENCE != 0,
            base: initial,
            next: 0,
            received: 0,
        }
    }

    /// Records the SND_SEQ of a token whose checksum verified, and returns
    /// the supplementary status bits (`major::DUPLICATE_TOKEN` and the others)
    /// that apply to it, or 0.
    pub fn check(&mut self, seq: u64) -> u32 {
        if !self.replay && !self.sequence {
            return 0;
        }
        let relative = seq.wrapping_sub(self.base);

        if relative >= self.next {
            // The expected number, or one after a gap.
            let skipped = relative - self.next;
            // A shift of 64 or more forgets every earlier number.
            let shift = u32::try_from(skipped.saturating_add(1)).unwrap_or(u32::MAX);
            self.received = self.received.checked_shl(shift).unwrap_or(0) | 1;
            self.next = relative.wrapping_add(1);
            return if skipped > 0 && self.sequence {
                major::GAP_TOKEN
            } else {
                0
            };
        }

        let age = self.next - relative;
        if age > WINDOW {
            return if self.sequence {
                major::UNSEQ_TOKEN
            } else {
                major::OLD_TOKEN
            };
        }
        let bit = 1u64 << (age - 1);
        if self.replay && self.received & bit != 0 {
            return major::DUPLICATE_TOKEN;
        }
        self.received |= bit;
        if self.sequence {
            major::UNSEQ_TOKEN
        } else {
            0
        }
    }

    /// Records a 32-bit SND_SEQ of an RFC 1964 token, as [`Self::check`]
    /// does. The number is taken relative to the initial one modulo 2^32,
    /// because it wraps to 0 after 2^32 - 1.
    pub fn check_32bit(&mut self, seq: u32) -> u32 {
        let relative = seq.wrapping_sub(self.base as u32);
        self.check(self.base.wrapping_add(u64::from(relative)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BOTH: u32 = flags::REPLAY | flags::SEQUENCE;

    #[test]
    fn in_order_tokens_pass() {
        let mut window = ReceiveWindow::new(1000, BOTH);
        for seq in 1000..1200 {
            assert_eq!(window.check(seq), 0, "seq {seq}");
        }
    }

    #[test]
    fn no_flags_means_no_checks() {
        let mut window = ReceiveWindow::new(5, 0);
        assert_eq!(window.check(5), 0);
        assert_eq!(window.check(5), 0);
        assert_eq!(window.check(1), 0);
        assert_eq!(window.check(900), 0);
    }

    #[test]
    fn replay_only() {
        let mut window = ReceiveWindow::new(0, flags::REPLAY);
        assert_eq!(window.check(0), 0);
        assert_eq!(window.check(0), major::DUPLICATE_TOKEN);
        // A gap and a late token are fine without sequence detection.
        assert_eq!(window.check(10), 0);
        assert_eq!(window.check(5), 0);
        assert_eq!(window.check(5), major::DUPLICATE_TOKEN);
        assert_eq!(window.check(100), 0);
        assert_eq!(window.check(100 - (WINDOW - 1)), 0);
        assert_eq!(window.check(100 - WINDOW), major::OLD_TOKEN);
    }

    #[test]
    fn sequence_only() {
        let mut window = ReceiveWindow::new(0, flags::SEQUENCE);
        assert_eq!(window.check(0), 0);
        assert_eq!(window.check(2), major::GAP_TOKEN);
        assert_eq!(window.check(1), major::UNSEQ_TOKEN);
        // Without replay detection a repeat is only out of sequence.
        assert_eq!(window.check(1), major::UNSEQ_TOKEN);
        assert_eq!(window.check(3), 0);
        assert_eq!(window.check(200), major::GAP_TOKEN);
        assert_eq!(window.check(3), major::UNSEQ_TOKEN);
    }

    #[test]
    fn replay_and_sequence() {
        let mut window = ReceiveWindow::new(7, BOTH);
        assert_eq!(window.check(7), 0);
        assert_eq!(window.check(7), major::DUPLICATE_TOKEN);
        assert_eq!(window.check(9), major::GAP_TOKEN);
        assert_eq!(window.check(8), major::UNSEQ_TOKEN);
        assert_eq!(window.check(8), major::DUPLICATE_TOKEN);
        assert_eq!(window.check(10), 0);
    }

    #[test]
    fn wraps_around_u64() {
        let mut window = ReceiveWindow::new(u64::MAX - 1, BOTH);
        assert_eq!(window.check(u64::MAX - 1), 0);
        assert_eq!(window.check(u64::MAX), 0);
        assert_eq!(window.check(0), 0);
        assert_eq!(window.check(1), 0);
        assert_eq!(window.check(u64::MAX), major::DUPLICATE_TOKEN);
    }

    #[test]
    fn huge_gap_keeps_only_the_newest() {
        let mut window = ReceiveWindow::new(0, BOTH);
        assert_eq!(window.check(0), 0);
        assert_eq!(window.check(1 << 40), major::GAP_TOKEN);
        assert_eq!(window.check(1 << 40), major::DUPLICATE_TOKEN);
        assert_eq!(window.check((1 << 40) - 1), major::UNSEQ_TOKEN);
        assert_eq!(window.check(0), major::UNSEQ_TOKEN);
    }

    /// A first token numbered one below the initial number is 2^64 - 1
    /// ahead of it, which once overflowed the shift count. The expected
    /// next number then wraps to the initial one.
    #[test]
    fn largest_gap_does_not_overflow() {
        let mut window = ReceiveWindow::new(0, BOTH);
        assert_eq!(window.check(u64::MAX), major::GAP_TOKEN);
        assert_eq!(window.check(0), 0);
        assert_eq!(window.check(0), major::DUPLICATE_TOKEN);
    }

    #[test]
    fn send_counter_advances() {
        let mut state = SequenceState::new(u64::MAX, 0, 0);
        assert_eq!(state.take_send(), u64::MAX);
        assert_eq!(state.take_send(), 0);
        assert_eq!(state.next_send, 1);
    }
}
