//! Access tokens: HS256 JWTs signed with an API secret, LiveKit-compatible claims.

use gavel_core::{Claims, Error, ErrorCode};
use jsonwebtoken::{errors::ErrorKind, Algorithm, DecodingKey, EncodingKey, Header, Validation};
use std::collections::HashMap;

/// Clock skew tolerated on `exp` and `nbf`.
pub const LEEWAY_SECONDS: u64 = 60;

fn unauthenticated(msg: impl Into<String>) -> Error {
    Error::new(ErrorCode::Unauthenticated, msg)
}

#[derive(Clone)]
pub struct Verifier {
    keys: HashMap<String, String>,
}

impl Verifier {
    pub fn new(keys: HashMap<String, String>) -> Self {
        Verifier { keys }
    }

    /// The secret of an API key (also the secret access key of AWS-signed requests).
    pub fn secret(&self, key: &str) -> Option<&str> {
        self.keys.get(key).map(String::as_str)
    }

    /// Verifies signature, algorithm, issuer, `exp` and `nbf`; returns the claims.
    pub fn verify(&self, token: &str) -> Result<Claims, Error> {
        let header = jsonwebtoken::decode_header(token)
            .map_err(|_| unauthenticated("malformed token (or an algorithm other than HS256)"))?;
        if header.alg != Algorithm::HS256 {
            return Err(unauthenticated("token must be signed with HS256"));
        }
        let mut last = unauthenticated("unknown API key (iss)");
        for (key, secret) in &self.keys {
            let mut v = Validation::new(Algorithm::HS256);
            v.leeway = LEEWAY_SECONDS;
            v.validate_nbf = true;
            v.validate_aud = false;
            v.set_issuer(&[key]);
            v.set_required_spec_claims(&["exp", "iss"]);
            match jsonwebtoken::decode::<Claims>(
                token,
                &DecodingKey::from_secret(secret.as_bytes()),
                &v,
            ) {
                Ok(data) => return Ok(data.claims),
                Err(e) => match e.kind() {
                    ErrorKind::InvalidIssuer => continue,
                    ErrorKind::ExpiredSignature => return Err(unauthenticated("token expired")),
                    ErrorKind::ImmatureSignature => {
                        return Err(unauthenticated("token not yet valid (nbf)"))
                    }
                    ErrorKind::InvalidSignature => {
                        last = unauthenticated("invalid token signature");
                        continue;
                    }
                    ErrorKind::MissingRequiredClaim(c) => {
                        return Err(unauthenticated(format!("token lacks the '{c}' claim")))
                    }
                    _ => return Err(unauthenticated(format!("invalid token: {e}"))),
                },
            }
        }
        Err(last)
    }
}

/// Signs claims with a secret (dev tokens; tests and the client SDK have their own minting).
pub fn sign(claims: &Claims, secret: &str) -> String {
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .expect("HS256 signing cannot fail")
}
