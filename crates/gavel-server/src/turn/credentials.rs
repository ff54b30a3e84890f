//! Short-lived TURN credentials, the TURN REST API convention every WebRTC stack knows: the
//! username is `<expiry>:<participant sid>` (Unix seconds), the password
//! `base64(HMAC-SHA1(secret, username))`. Gavel hands them out with the ICE servers when a
//! participant joins; the relay recomputes the password from the username alone, so nothing is
//! stored per credential until it is used, and a credential is worthless after its expiry.

use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha1::Sha1;

/// A credential: the username and password a client gives the relay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credential {
    pub username: String,
    pub password: String,
}

/// The credential for `sid`, valid until `now + ttl_seconds` (Unix seconds).
pub fn issue(secret: &[u8], sid: &str, now: u64, ttl_seconds: u64) -> Credential {
    let username = format!("{}:{sid}", now + ttl_seconds);
    Credential {
        password: password(secret, &username),
        username,
    }
}

/// The password that goes with `username`.
pub fn password(secret: &[u8], username: &str) -> String {
    let mut mac = Hmac::<Sha1>::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(username.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// When `username` expires (Unix seconds), if it is one of ours in form.
pub fn expiry(username: &str) -> Option<u64> {
    let (expiry, sid) = username.split_once(':')?;
    if sid.is_empty() || sid.len() > 64 {
        return None;
    }
    expiry.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_password_follows_from_the_username_and_secret() {
        let c = issue(b"s3cret", "PA_abc", 1000, 60);
        assert_eq!(c.username, "1060:PA_abc");
        assert_eq!(c.password, password(b"s3cret", "1060:PA_abc"));
        assert_ne!(c.password, password(b"other", "1060:PA_abc"));
        assert_eq!(expiry(&c.username), Some(1060));
        assert_eq!(expiry("soon:PA_abc"), None);
        assert_eq!(expiry("1060"), None);
        assert_eq!(expiry("1060:"), None);
    }
}
