//! The `Authorization` header of a delivery, as LiveKit signs its webhooks: a JWT (HS256) issued
//! by the API key, signed with its secret, whose `sha256` claim is the base64 SHA-256 of the
//! body. Signed at each attempt, so a retry hours later still carries a token in date.

use base64::Engine;
use sha2::{Digest, Sha256};

/// How long a delivery's token is valid (a receiver's clock may be a little off).
const VALID_SECONDS: u64 = 10 * 60;

#[derive(serde::Serialize)]
struct Claims<'a> {
    iss: &'a str,
    nbf: u64,
    exp: u64,
    sha256: String,
}

pub fn authorization(api_key: &str, secret: &str, body: &[u8], now_seconds: u64) -> String {
    let digest = Sha256::digest(body);
    let claims = Claims {
        iss: api_key,
        nbf: now_seconds.saturating_sub(60),
        exp: now_seconds + VALID_SECONDS,
        sha256: base64::engine::general_purpose::STANDARD.encode(digest),
    };
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
    )
    .expect("HS256 signing cannot fail")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_carries_the_bodys_hash_and_verifies_with_the_secret() {
        let token = authorization("key", "secret", b"{\"event\":\"test\"}", 1_700_000_000);
        let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
        v.validate_exp = false;
        v.required_spec_claims.clear();
        let data = jsonwebtoken::decode::<serde_json::Value>(
            &token,
            &jsonwebtoken::DecodingKey::from_secret(b"secret"),
            &v,
        )
        .unwrap();
        let hash = base64::engine::general_purpose::STANDARD
            .encode(Sha256::digest(b"{\"event\":\"test\"}"));
        assert_eq!(data.claims["sha256"], hash.as_str());
        assert_eq!(data.claims["iss"], "key");
        assert_eq!(data.claims["exp"], 1_700_000_000u64 + VALID_SECONDS);
    }
}
