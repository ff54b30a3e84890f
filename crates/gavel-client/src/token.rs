//! Minting access tokens (HS256), with LiveKit-compatible claims plus Gavel's `role`.

use gavel_core::{Claims, VideoGrant};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use std::time::{SystemTime, UNIX_EPOCH};

#[derive(Debug, Clone)]
pub struct AccessToken {
    secret: String,
    claims: Claims,
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl AccessToken {
    /// A token issued by `api_key`, valid for one hour unless [`AccessToken::ttl`] says otherwise.
    pub fn new(api_key: &str, secret: &str) -> Self {
        AccessToken {
            secret: secret.to_string(),
            claims: Claims {
                iss: api_key.to_string(),
                exp: now_secs() + 3600,
                iat: Some(now_secs()),
                ..Default::default()
            },
        }
    }

    /// Identity and room to join.
    pub fn join(mut self, room: &str, identity: &str) -> Self {
        self.claims.sub = identity.to_string();
        self.claims.video.room_join = Some(true);
        self.claims.video.room = Some(room.to_string());
        self
    }

    pub fn identity(mut self, identity: &str) -> Self {
        self.claims.sub = identity.to_string();
        self
    }

    pub fn role(mut self, role: &str) -> Self {
        self.claims.role = Some(role.to_string());
        self
    }

    pub fn name(mut self, name: &str) -> Self {
        self.claims.name = Some(name.to_string());
        self
    }

    pub fn metadata(mut self, metadata: &str) -> Self {
        self.claims.metadata = Some(metadata.to_string());
        self
    }

    /// Seconds from now until expiry (negative values make expired tokens, for tests).
    pub fn ttl(mut self, seconds: i64) -> Self {
        self.claims.exp = now_secs().saturating_add_signed(seconds);
        self
    }

    /// Not valid before `seconds` from now.
    pub fn not_before(mut self, seconds: i64) -> Self {
        self.claims.nbf = Some(now_secs().saturating_add_signed(seconds));
        self
    }

    /// Server-API grants: create, list and administer rooms (`room: None` = every room).
    pub fn admin(mut self, room: Option<&str>) -> Self {
        self.claims.video.room_admin = Some(true);
        self.claims.video.room_create = Some(true);
        self.claims.video.room_list = Some(true);
        if let Some(r) = room {
            self.claims.video.room = Some(r.to_string());
        }
        if self.claims.sub.is_empty() {
            self.claims.sub = "admin".into();
        }
        self
    }

    /// Direct access to the LiveKit-style grant.
    pub fn grant(mut self, f: impl FnOnce(&mut VideoGrant)) -> Self {
        f(&mut self.claims.video);
        self
    }

    pub fn claims(&self) -> &Claims {
        &self.claims
    }

    pub fn to_jwt(&self) -> String {
        jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &self.claims,
            &EncodingKey::from_secret(self.secret.as_bytes()),
        )
        .expect("HS256 signing cannot fail")
    }
}
