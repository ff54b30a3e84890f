//! TURN over a stream (TLS): where one message ends and the next begins, both ways.
//!
//! A stream carries STUN messages (a 20-byte header whose bytes 2..4 give the length of what
//! follows) and ChannelData messages (a 4-byte header: channel number 0x4000–0x7FFF, then the
//! length). Over TCP and TLS a ChannelData message is padded to a multiple of four bytes
//! (RFC 8656 §12.5) — WebRTC stacks send and expect that padding. `turn-types`' TCP buffer
//! neither skips it on the way in nor `turn-server-proto` adds it on the way out, so both are
//! done here; without them a browser's stream falls out of step at the first odd-sized packet.

/// Splits a client's stream into whole messages (padding removed).
#[derive(Default)]
pub struct Framer {
    buf: Vec<u8>,
}

/// The stream cannot be TURN (a header neither STUN nor ChannelData).
#[derive(Debug, PartialEq, Eq)]
pub struct NotTurn;

impl Framer {
    pub fn push(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// Bytes waiting for the rest of their message.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// The next whole message, if it has arrived.
    pub fn next_message(&mut self) -> Option<Result<Vec<u8>, NotTurn>> {
        if self.buf.len() < 4 {
            return None;
        }
        let len = usize::from(u16::from_be_bytes([self.buf[2], self.buf[3]]));
        let (message, consumed) = match self.buf[0] >> 6 {
            0 => (20 + len, 20 + len),
            1 => (4 + len, padded(4 + len)),
            _ => return Some(Err(NotTurn)),
        };
        if self.buf.len() < consumed {
            return None;
        }
        let out = self.buf[..message].to_vec();
        self.buf.drain(..consumed);
        Some(Ok(out))
    }
}

/// `message` as it goes on a stream: a ChannelData message padded to four bytes.
pub fn for_stream(mut message: Vec<u8>) -> Vec<u8> {
    if message.first().is_some_and(|b| b >> 6 == 1) {
        message.resize(padded(message.len()), 0);
    }
    message
}

fn padded(n: usize) -> usize {
    n.next_multiple_of(4)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channel_data_is_padded_on_streams_and_the_padding_skipped() {
        let channel = vec![0x40, 0x00, 0x00, 0x05, 1, 2, 3, 4, 5];
        let sent = for_stream(channel.clone());
        assert_eq!(sent.len(), 12);
        let mut stun = vec![0x00, 0x01, 0x00, 0x04, 0x21, 0x12, 0xa4, 0x42];
        stun.extend([0; 12]);
        stun.extend([9, 9, 9, 9]);
        assert_eq!(for_stream(stun.clone()), stun, "STUN is never padded");
        let mut f = Framer::default();
        let mut stream = sent.clone();
        stream.extend(&stun);
        // Byte by byte: nothing comes out until a message is whole, padding included.
        let mut out = Vec::new();
        for b in stream {
            f.push(&[b]);
            while let Some(m) = f.next_message() {
                out.push(m.unwrap());
            }
        }
        assert_eq!(out, vec![channel, stun]);
        assert_eq!(f.buffered(), 0);
        f.push(&[0xc0, 0, 0, 0]);
        assert_eq!(f.next_message(), Some(Err(NotTurn)));
    }
}
