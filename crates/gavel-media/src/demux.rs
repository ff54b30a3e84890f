//! Which session a datagram belongs to: by the ICE username of a STUN request first, then by
//! the remote address that request came from.
//!
//! Every participant shares one UDP port. A STUN binding request names the server-side ICE
//! ufrag (random per session) in its USERNAME (`server:client`); once a session has checked
//! an address that way, DTLS, SRTP and RTCP from that address belong to it. Anything else —
//! from an address no session has verified — is dropped before any other work.

use str0m::ice::StunMessage;

/// The server-side ufrag named by a STUN message, if `datagram` is one that carries USERNAME.
pub fn stun_ufrag(datagram: &[u8]) -> Option<&str> {
    // STUN: the two top bits of the first byte are zero, and the magic cookie follows.
    if datagram.len() < 20 || datagram[0] > 3 || datagram[4..8] != [0x21, 0x12, 0xa4, 0x42] {
        return None;
    }
    let msg = StunMessage::parse(datagram).ok()?;
    let username = msg.username()?;
    Some(username.split(':').next().unwrap_or(username))
}

/// Whether `datagram` is a handshake (STUN or DTLS) rather than media (RTP, RTCP), by its
/// first byte (RFC 7983: STUN 0–3, DTLS 20–63, RTP/RTCP 128–191).
pub fn is_handshake(datagram: &[u8]) -> bool {
    matches!(datagram.first(), Some(0..=3 | 20..=63))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn junk_is_not_stun() {
        assert_eq!(stun_ufrag(b""), None);
        assert_eq!(stun_ufrag(&[0u8; 19]), None);
        assert_eq!(stun_ufrag(&[0x80; 200]), None, "RTP");
        let mut fake = [0u8; 40];
        fake[4..8].copy_from_slice(&[0x21, 0x12, 0xa4, 0x42]);
        fake[2] = 0xff; // claims a length it does not have
        assert_eq!(stun_ufrag(&fake), None);
    }

    #[test]
    fn handshakes_are_told_from_media_by_the_first_byte() {
        assert!(is_handshake(&[0x00, 0x01]), "STUN binding request");
        assert!(is_handshake(&[22, 0xfe, 0xfd]), "DTLS handshake record");
        assert!(!is_handshake(&[0x80, 0x6f]), "RTP");
        assert!(!is_handshake(&[0x81, 0xc8]), "RTCP sender report");
        assert!(!is_handshake(&[]));
    }
}
