//! AWS Signature Version 4, verified: the request is canonicalized exactly as the signer did
//! (botocore, the AWS SDKs), signed again with the secret of its access key, and the two
//! signatures are compared in constant time.
//!
//! Only the `Authorization` header form is accepted (not presigned query strings), with the date
//! in `X-Amz-Date`. The credential scope may name any region but must name the service `chime`.

use super::error::ChimeError;
use axum::http::HeaderMap;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

const ALGORITHM: &str = "AWS4-HMAC-SHA256";
pub const SERVICE: &str = "chime";
/// How far the request's time may be from ours, either way (AWS's limit).
pub const MAX_SKEW_SECONDS: i64 = 15 * 60;

/// What is signed, as received.
pub struct Signed<'a> {
    pub method: &'a str,
    /// The path as sent (still percent-encoded).
    pub raw_path: &'a str,
    pub raw_query: Option<&'a str>,
    pub headers: &'a HeaderMap,
    pub body: &'a [u8],
}

/// The parts of `Authorization: AWS4-HMAC-SHA256 Credential=…, SignedHeaders=…, Signature=…`.
struct Authorization<'a> {
    access_key: &'a str,
    date: &'a str,
    region: &'a str,
    service: &'a str,
    terminator: &'a str,
    signed_headers: Vec<&'a str>,
    signature: &'a str,
}

fn parse_authorization(value: &str) -> Result<Authorization<'_>, ChimeError> {
    let bad =
        |why: &str| ChimeError::unauthorized(format!("malformed Authorization header: {why}"));
    let rest = value
        .strip_prefix(ALGORITHM)
        .ok_or_else(|| bad("only AWS4-HMAC-SHA256 is supported"))?;
    let (mut credential, mut signed, mut signature) = (None, None, None);
    for part in rest.split(',') {
        let (k, v) = part
            .trim()
            .split_once('=')
            .ok_or_else(|| bad("expected key=value pairs"))?;
        match k {
            "Credential" => credential = Some(v),
            "SignedHeaders" => signed = Some(v),
            "Signature" => signature = Some(v),
            _ => return Err(bad(&format!("unknown part {k}"))),
        }
    }
    let credential = credential.ok_or_else(|| bad("no Credential"))?;
    let scope: Vec<&str> = credential.split('/').collect();
    let [access_key, date, region, service, terminator] = scope[..] else {
        return Err(bad(
            "Credential must be <key>/<date>/<region>/<service>/aws4_request",
        ));
    };
    let signed_headers: Vec<&str> = signed
        .ok_or_else(|| bad("no SignedHeaders"))?
        .split(';')
        .collect();
    Ok(Authorization {
        access_key,
        date,
        region,
        service,
        terminator,
        signed_headers,
        signature: signature.ok_or_else(|| bad("no Signature"))?,
    })
}

/// Verifies the request's signature; returns the access key that signed it. `secret_of` finds
/// an access key's secret; `now` is seconds since the Unix epoch.
pub fn verify(
    req: &Signed<'_>,
    secret_of: impl Fn(&str) -> Option<String>,
    now: i64,
) -> Result<String, ChimeError> {
    let header = req
        .headers
        .get(axum::http::header::AUTHORIZATION)
        .ok_or_else(|| {
            ChimeError::unauthorized("missing Authorization header (AWS Signature Version 4)")
        })?
        .to_str()
        .map_err(|_| ChimeError::unauthorized("the Authorization header is not text"))?;
    let auth = parse_authorization(header)?;
    let secret = secret_of(auth.access_key).ok_or_else(|| {
        ChimeError::unauthorized(format!(
            "the access key '{}' is not known to this server",
            auth.access_key
        ))
    })?;
    if auth.service != SERVICE || auth.terminator != "aws4_request" || auth.region.is_empty() {
        return Err(ChimeError::forbidden(format!(
            "the credential scope must be <date>/<region>/{SERVICE}/aws4_request"
        )));
    }
    let amz_date = header_str(req.headers, "x-amz-date")
        .ok_or_else(|| ChimeError::forbidden("missing X-Amz-Date header"))?;
    let signed_at = parse_amz_date(amz_date)
        .ok_or_else(|| ChimeError::forbidden("X-Amz-Date must be YYYYMMDDTHHMMSSZ"))?;
    if !amz_date.starts_with(auth.date) || auth.date.len() != 8 {
        return Err(ChimeError::forbidden(
            "the credential scope's date is not the date of X-Amz-Date",
        ));
    }
    if (now - signed_at).abs() > MAX_SKEW_SECONDS {
        return Err(ChimeError::forbidden(format!(
            "signature expired: X-Amz-Date {amz_date} is more than {} minutes from the server's time",
            MAX_SKEW_SECONDS / 60
        )));
    }
    for required in ["host", "x-amz-date"] {
        if !auth.signed_headers.contains(&required) {
            return Err(ChimeError::forbidden(format!(
                "'{required}' must be among the signed headers"
            )));
        }
    }
    let payload_hash = hex::encode(Sha256::digest(req.body));
    if let Some(claimed) = header_str(req.headers, "x-amz-content-sha256") {
        if claimed != payload_hash {
            return Err(ChimeError::forbidden(
                "X-Amz-Content-Sha256 does not match the body",
            ));
        }
    }
    let canonical = canonical_request(req, &auth.signed_headers, &payload_hash)?;
    let scope = format!(
        "{}/{}/{}/{}",
        auth.date, auth.region, auth.service, auth.terminator
    );
    let string_to_sign = format!(
        "{ALGORITHM}\n{amz_date}\n{scope}\n{}",
        hex::encode(Sha256::digest(canonical.as_bytes()))
    );
    let key = signing_key(&secret, auth.date, auth.region, auth.service);
    let given = hex::decode(auth.signature)
        .map_err(|_| ChimeError::forbidden("the signature is not hexadecimal"))?;
    let mut mac = hmac(&key);
    mac.update(string_to_sign.as_bytes());
    mac.verify_slice(&given).map_err(|_| {
        ChimeError::forbidden(
            "the request signature does not match: check the secret access key and the signing method",
        )
    })?;
    Ok(auth.access_key.to_string())
}

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

fn hmac(key: &[u8]) -> Hmac<Sha256> {
    Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes keys of any length")
}

fn hmac_bytes(key: &[u8], data: &str) -> Vec<u8> {
    let mut mac = hmac(key);
    mac.update(data.as_bytes());
    mac.finalize().into_bytes().to_vec()
}

/// kSigning = HMAC(HMAC(HMAC(HMAC("AWS4" + secret, date), region), service), "aws4_request").
pub fn signing_key(secret: &str, date: &str, region: &str, service: &str) -> Vec<u8> {
    let k = hmac_bytes(format!("AWS4{secret}").as_bytes(), date);
    let k = hmac_bytes(&k, region);
    let k = hmac_bytes(&k, service);
    hmac_bytes(&k, "aws4_request")
}

fn canonical_request(
    req: &Signed<'_>,
    signed_headers: &[&str],
    payload_hash: &str,
) -> Result<String, ChimeError> {
    let mut headers = String::new();
    for name in signed_headers {
        let values: Vec<String> = req
            .headers
            .get_all(*name)
            .iter()
            .map(|v| collapse_spaces(&String::from_utf8_lossy(v.as_bytes())))
            .collect();
        if values.is_empty() {
            return Err(ChimeError::forbidden(format!(
                "the signed header '{name}' is not in the request"
            )));
        }
        headers.push_str(&format!("{name}:{}\n", values.join(",")));
    }
    Ok(format!(
        "{}\n{}\n{}\n{headers}\n{}\n{payload_hash}",
        req.method,
        canonical_uri(req.raw_path),
        canonical_query(req.raw_query.unwrap_or("")),
        signed_headers.join(";"),
    ))
}

/// Trimmed, with runs of spaces collapsed to one (SigV4's header value rule).
fn collapse_spaces(v: &str) -> String {
    v.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The path with dot segments removed, then percent-encoded again: AWS services other than S3
/// sign the already-encoded path encoded once more.
fn canonical_uri(raw_path: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    for seg in raw_path.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            s => out.push(s),
        }
    }
    let mut path = format!("/{}", out.join("/"));
    if raw_path.ends_with('/') && path != "/" {
        path.push('/');
    }
    encode(path.as_bytes(), true)
}

/// Query parameters decoded, encoded strictly, sorted by name then value.
fn canonical_query(raw: &str) -> String {
    let mut pairs: Vec<(String, String)> = raw
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (
                encode(&percent_decode(k), false),
                encode(&percent_decode(v), false),
            )
        })
        .collect();
    pairs.sort();
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

/// RFC 3986 encoding of everything but the unreserved characters (and `/` when `keep_slash`).
fn encode(bytes: &[u8], keep_slash: bool) -> String {
    let mut out = String::with_capacity(bytes.len());
    for &b in bytes {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) || (keep_slash && b == b'/') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Decodes `%XX` escapes; anything malformed is kept as it is.
pub fn percent_decode(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        if b[i] == b'%' && i + 2 < b.len() {
            if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    out
}

/// `YYYYMMDDTHHMMSSZ` → seconds since the Unix epoch.
fn parse_amz_date(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() != 16 || b[8] != b'T' || b[15] != b'Z' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let part = s.get(r)?;
        part.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| part.parse().ok())?
    };
    let (y, mo, d) = (num(0..4)?, num(4..6)?, num(6..8)?);
    let (h, mi, se) = (num(9..11)?, num(11..13)?, num(13..15)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || se > 60 {
        return None;
    }
    Some(days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + se)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(parse_amz_date("19700101T000000Z"), Some(0));
        assert_eq!(parse_amz_date("20150830T123600Z"), Some(1_440_938_160));
        for bad in [
            "2015083T123600Z",
            "20151330T123600Z",
            "2015-8-30T12360Z",
            "20150830T12360aZ",
        ] {
            assert_eq!(parse_amz_date(bad), None, "{bad}");
        }
    }

    #[test]
    fn canonical_forms() {
        assert_eq!(
            canonical_uri("/meetings/a%20b/./x/../y/"),
            "/meetings/a%2520b/y/"
        );
        assert_eq!(canonical_uri("/"), "/");
        assert_eq!(
            canonical_query("next-token=a%2Fb&max-results=10&operation"),
            "max-results=10&next-token=a%2Fb&operation="
        );
        assert_eq!(percent_decode("%zz%4"), b"%zz%4");
        assert_eq!(collapse_spaces("  a   b "), "a b");
    }

    /// The example of AWS's Signature Version 4 documentation (the IAM ListUsers GET request).
    #[test]
    fn aws_documented_example() {
        let key = signing_key(
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            "20150830",
            "us-east-1",
            "iam",
        );
        assert_eq!(
            hex::encode(&key),
            "c4afb1cc5771d871763a393e44b703571b55cc28424d1a5e86da6ed3c154a4b9"
        );
        let mut headers = HeaderMap::new();
        headers.insert("host", "iam.amazonaws.com".parse().unwrap());
        headers.insert(
            "content-type",
            "application/x-www-form-urlencoded; charset=utf-8"
                .parse()
                .unwrap(),
        );
        headers.insert("x-amz-date", "20150830T123600Z".parse().unwrap());
        let req = Signed {
            method: "GET",
            raw_path: "/",
            raw_query: Some("Action=ListUsers&Version=2010-05-08"),
            headers: &headers,
            body: b"",
        };
        let hash = hex::encode(Sha256::digest(b""));
        let canonical =
            canonical_request(&req, &["content-type", "host", "x-amz-date"], &hash).unwrap();
        assert_eq!(
            hex::encode(Sha256::digest(canonical.as_bytes())),
            "f536975d06c0309214f805bb90ccff089219ecd68b2577efef23edd43b7e1a59"
        );
    }
}
