//! A Chime SDK Meetings client for tests: a small AWS Signature Version 4 signer, written from
//! AWS's specification apart from the server's verifier, so tests can sign, re-sign and tamper
//! with requests, and see the raw status, headers and body.
#![allow(dead_code)]

use serde_json::Value;

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Chime's signing name; the region may be anything.
pub const SERVICE: &str = "chime";

pub struct Signer {
    pub key: String,
    pub secret: String,
    pub region: String,
    pub service: String,
}

/// A signed request's headers: `(name, value)` pairs to send.
pub type SignedHeaders = Vec<(String, String)>;

impl Signer {
    pub fn new(key: &str, secret: &str) -> Signer {
        Signer {
            key: key.into(),
            secret: secret.into(),
            region: "us-east-1".into(),
            service: SERVICE.into(),
        }
    }

    /// Headers signing `method host path?query` with `body` at time `at`. `path` and `query`
    /// must need no percent-encoding (the tests' ids and parameters do not).
    pub fn sign(
        &self,
        method: &str,
        host: &str,
        path: &str,
        query: &str,
        body: &[u8],
        at: SystemTime,
    ) -> SignedHeaders {
        let amz_date = amz_date(at);
        let date = &amz_date[..8];
        let mut pairs: Vec<&str> = query.split('&').filter(|p| !p.is_empty()).collect();
        pairs.sort();
        let canonical_query = pairs
            .iter()
            .map(|p| {
                if p.contains('=') {
                    p.to_string()
                } else {
                    format!("{p}=")
                }
            })
            .collect::<Vec<_>>()
            .join("&");
        let payload = hex::encode(Sha256::digest(body));
        let canonical = format!(
            "{method}\n{path}\n{canonical_query}\nhost:{host}\nx-amz-date:{amz_date}\n\nhost;x-amz-date\n{payload}"
        );
        let scope = format!("{date}/{}/{}/aws4_request", self.region, self.service);
        let to_sign = format!(
            "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
            hex::encode(Sha256::digest(canonical.as_bytes()))
        );
        let mut key = mac(format!("AWS4{}", self.secret).as_bytes(), date);
        for part in [self.region.as_str(), self.service.as_str(), "aws4_request"] {
            key = mac(&key, part);
        }
        let signature = hex::encode(mac(&key, &to_sign));
        vec![
            ("x-amz-date".into(), amz_date),
            (
                "authorization".into(),
                format!(
                    "AWS4-HMAC-SHA256 Credential={}/{scope}, SignedHeaders=host;x-amz-date, Signature={signature}",
                    self.key
                ),
            ),
        ]
    }
}

fn mac(key: &[u8], data: &str) -> Vec<u8> {
    let mut m = Hmac::<Sha256>::new_from_slice(key).unwrap();
    m.update(data.as_bytes());
    m.finalize().into_bytes().to_vec()
}

/// `YYYYMMDDTHHMMSSZ` in UTC.
pub fn amz_date(at: SystemTime) -> String {
    let secs = at.duration_since(UNIX_EPOCH).unwrap().as_secs() as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil date from days since the epoch (H. Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}{m:02}{d:02}T{:02}{:02}{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

pub fn minutes_ago(m: u64) -> SystemTime {
    SystemTime::now() - Duration::from_secs(m * 60)
}

pub fn minutes_ahead(m: u64) -> SystemTime {
    SystemTime::now() + Duration::from_secs(m * 60)
}

/// A response as the wire had it.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    /// `x-amzn-ErrorType`: the modeled exception.
    pub error_type: Option<String>,
    pub request_id: Option<String>,
    pub body: Value,
}

impl Reply {
    /// Asserts a modeled error: status, exception, and a body `{Code, Message, RequestId}`.
    pub fn expect_error(&self, status: u16, exception: &str) -> &Reply {
        assert_eq!(
            (self.status, self.error_type.as_deref()),
            (status, Some(exception)),
            "{self:?}"
        );
        let code = exception.trim_end_matches("Exception");
        let code = if code == "LimitExceeded" {
            "ResourceLimitExceeded"
        } else {
            code
        };
        assert_eq!(self.body["Code"], code, "{self:?}");
        assert!(self.body["Message"].as_str().is_some_and(|m| !m.is_empty()));
        assert_eq!(self.body["RequestId"].as_str(), self.request_id.as_deref());
        self
    }

    pub fn expect_ok(&self) -> &Value {
        assert!((200..300).contains(&self.status), "{self:?}");
        &self.body
    }
}

pub struct ChimeHttp {
    base: String,
    pub host: String,
    pub signer: Signer,
    client: reqwest::Client,
}

impl ChimeHttp {
    /// `http` is `http://host:port`.
    pub fn new(http: &str, key: &str, secret: &str) -> ChimeHttp {
        ChimeHttp {
            base: http.to_string(),
            host: http.trim_start_matches("http://").to_string(),
            signer: Signer::new(key, secret),
            client: reqwest::Client::new(),
        }
    }

    /// A signed call, now.
    pub async fn call(&self, method: &str, path: &str, query: &str, body: Value) -> Reply {
        let body = if body.is_null() {
            Vec::new()
        } else {
            body.to_string().into_bytes()
        };
        self.signed(method, path, query, body, SystemTime::now())
            .await
    }

    pub async fn signed(
        &self,
        method: &str,
        path: &str,
        query: &str,
        body: Vec<u8>,
        at: SystemTime,
    ) -> Reply {
        let headers = self.signer.sign(method, &self.host, path, query, &body, at);
        self.send(method, path, query, headers, body).await
    }

    /// Sends exactly these headers and body (for tampering).
    pub async fn send(
        &self,
        method: &str,
        path: &str,
        query: &str,
        headers: SignedHeaders,
        body: Vec<u8>,
    ) -> Reply {
        let url = if query.is_empty() {
            format!("{}{path}", self.base)
        } else {
            format!("{}{path}?{query}", self.base)
        };
        let mut req = self.client.request(method.parse().unwrap(), url).body(body);
        for (k, v) in headers {
            req = req.header(k, v);
        }
        let r = req.send().await.expect("the server answers");
        let header = |name: &str| {
            r.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let (status, error_type, request_id) = (
            r.status().as_u16(),
            header("x-amzn-errortype"),
            header("x-amzn-requestid"),
        );
        let text = r.text().await.unwrap_or_default();
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Reply {
            status,
            error_type,
            request_id,
            body,
        }
    }

    /// CreateMeeting with these features; returns the meeting.
    pub async fn create_meeting(&self, features: Value) -> Value {
        let body = serde_json::json!({
            "ClientRequestToken": format!("t{}", rand_suffix()),
            "MediaRegion": "us-east-1",
            "ExternalMeetingId": "test meeting",
            "MeetingFeatures": features,
        });
        self.call("POST", "/meetings", "", body).await.expect_ok()["Meeting"].clone()
    }
}

/// A suffix unique within this process.
pub fn rand_suffix() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    format!(
        "{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}
