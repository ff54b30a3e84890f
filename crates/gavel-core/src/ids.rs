//! Names, identities and generated ids: validation rules and a deterministic id generator.
//!
//! The core has no randomness of its own: the shell seeds [`IdGen`], so a room replayed with the
//! same seed and inputs produces the same ids.

use crate::error::{Error, Result};

/// Upper bounds on client-supplied strings (bytes). Documented in docs/protocol.md.
pub const MAX_ROOM_NAME: usize = 128;
pub const MAX_IDENTITY: usize = 128;
pub const MAX_NAME: usize = 128;
pub const MAX_METADATA: usize = 16 * 1024;
pub const MAX_ATTRIBUTES: usize = 64;
pub const MAX_ATTRIBUTE_KEY: usize = 128;
pub const MAX_ATTRIBUTE_VALUE: usize = 4 * 1024;
/// A data message's payload, in base64 characters (48 KiB of data; fits the 64 KiB message cap).
pub const MAX_DATA_PAYLOAD: usize = 64 * 1024;
pub const MAX_TOPIC: usize = 256;
pub const MAX_DESTINATIONS: usize = 1024;

/// Room names travel in URL paths, so they are restricted to URL-safe characters.
pub fn validate_room_name(name: &str) -> Result<()> {
    if name.is_empty() || name.len() > MAX_ROOM_NAME {
        return Err(Error::invalid(format!(
            "room name must be 1 to {MAX_ROOM_NAME} bytes"
        )));
    }
    let ok = name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "-_.~:@+=".contains(c));
    if !ok {
        return Err(Error::invalid(
            "room name may only contain letters, digits and - _ . ~ : @ + =",
        ));
    }
    Ok(())
}

/// Identities come from tokens and external systems (emails, GUIDs), so they are free-form text,
/// minus control characters and the batch wildcard `*`.
pub fn validate_identity(identity: &str) -> Result<()> {
    if identity.is_empty() || identity.len() > MAX_IDENTITY {
        return Err(Error::invalid(format!(
            "identity must be 1 to {MAX_IDENTITY} bytes"
        )));
    }
    if identity == "*" {
        return Err(Error::invalid("identity '*' is reserved"));
    }
    if identity.chars().any(char::is_control) {
        return Err(Error::invalid(
            "identity must not contain control characters",
        ));
    }
    Ok(())
}

pub fn validate_name(name: &str) -> Result<()> {
    if name.len() > MAX_NAME {
        return Err(Error::invalid(format!(
            "name must be at most {MAX_NAME} bytes"
        )));
    }
    if name.chars().any(char::is_control) {
        return Err(Error::invalid("name must not contain control characters"));
    }
    Ok(())
}

pub fn validate_metadata(metadata: &str) -> Result<()> {
    if metadata.len() > MAX_METADATA {
        return Err(Error::invalid(format!(
            "metadata must be at most {MAX_METADATA} bytes"
        )));
    }
    Ok(())
}

/// Standard base64 (with padding), at most [`MAX_DATA_PAYLOAD`] characters, not empty.
pub fn validate_payload(payload: &str) -> Result<()> {
    let bytes = payload.as_bytes();
    let body = bytes
        .strip_suffix(b"==")
        .or_else(|| bytes.strip_suffix(b"="))
        .unwrap_or(bytes);
    let alphabet = |b: &u8| b.is_ascii_alphanumeric() || *b == b'+' || *b == b'/';
    if payload.is_empty() || !payload.len().is_multiple_of(4) || !body.iter().all(alphabet) {
        return Err(Error::invalid("payload must be non-empty standard base64"));
    }
    if payload.len() > MAX_DATA_PAYLOAD {
        return Err(Error::invalid(format!(
            "payload must be at most {MAX_DATA_PAYLOAD} base64 characters"
        )));
    }
    Ok(())
}

pub fn validate_attribute(key: &str, value: &str) -> Result<()> {
    if key.is_empty() || key.len() > MAX_ATTRIBUTE_KEY {
        return Err(Error::invalid(format!(
            "attribute keys must be 1 to {MAX_ATTRIBUTE_KEY} bytes"
        )));
    }
    if value.len() > MAX_ATTRIBUTE_VALUE {
        return Err(Error::invalid(format!(
            "attribute values must be at most {MAX_ATTRIBUTE_VALUE} bytes"
        )));
    }
    Ok(())
}

/// Deterministic id source (splitmix64), seeded by the shell.
#[derive(Debug, Clone)]
pub struct IdGen {
    state: u64,
}

impl IdGen {
    pub fn new(seed: u64) -> Self {
        IdGen { state: seed }
    }

    fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// `PREFIX_` followed by 12 base-62 characters, LiveKit-style (`PA_…`, `TR_…`).
    pub fn next(&mut self, prefix: &str) -> String {
        const ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
        let mut n = self.next_u64();
        let mut out = String::with_capacity(prefix.len() + 13);
        out.push_str(prefix);
        out.push('_');
        for _ in 0..12 {
            out.push(ALPHABET[(n % 62) as usize] as char);
            n /= 62;
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn room_names() {
        assert!(validate_room_name("demo-1.a:b").is_ok());
        assert!(validate_room_name("").is_err());
        assert!(validate_room_name("a/b").is_err());
        assert!(validate_room_name("a b").is_err());
        assert!(validate_room_name(&"x".repeat(129)).is_err());
    }

    #[test]
    fn identities() {
        assert!(validate_identity("alice@example.com").is_ok());
        assert!(validate_identity("Zoë Ω").is_ok());
        assert!(validate_identity("*").is_err());
        assert!(validate_identity("a\nb").is_err());
        assert!(validate_identity("").is_err());
    }

    #[test]
    fn ids_are_deterministic_and_distinct() {
        let mut a = IdGen::new(7);
        let mut b = IdGen::new(7);
        let x = a.next("PA");
        assert_eq!(x, b.next("PA"));
        assert!(x.starts_with("PA_") && x.len() == 15);
        assert_ne!(a.next("PA"), x);
    }
}
